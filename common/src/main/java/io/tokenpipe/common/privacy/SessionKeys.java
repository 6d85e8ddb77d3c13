package io.tokenpipe.common.privacy;

import javax.crypto.SecretKey;
import java.util.function.Consumer;

/**
 * The sessions' data keys (crypto-shredding): a session's prompts and answers are sealed with its
 * own key, and deleting the session destroys the key. Kafka keeps them in a compacted topic
 * ({@link KafkaSessionKeys}); every node holds them in memory and forgets one the moment the topic
 * says it was shredded.
 */
public interface SessionKeys extends AutoCloseable {

    /** What is known of a session's key. */
    sealed interface State permits Present, Absent, Deleted {
    }

    /** The session's data key. */
    record Present(SecretKey key) implements State {
    }

    /** No key: the session was created with encryption off (its events are stored as plain JSON). */
    record Absent() implements State {
    }

    /** The session was deleted: its key is gone for good. */
    record Deleted() implements State {
    }

    State ABSENT = new Absent();
    State DELETED = new Deleted();

    /**
     * The session's key as far as this node knows now, from memory only. A caller that finds it
     * {@link Absent} where a key is needed (a sealed value) asks {@link #fresh}.
     */
    State known(String sessionId);

    /**
     * The session's key after this node has read everything written to the key topic's partition
     * of the session before the call (a key created a moment ago on another node is found).
     */
    State fresh(String sessionId);

    /** Creates the key of a new session (durable before it returns); {@code null} when encryption is off. */
    SecretKey create(String sessionId);

    /** Whether new sessions get a key. */
    boolean encrypting();

    /** Destroys the session's key, durably; every node forgets it once it reads the topic. */
    void shred(String sessionId);

    /** Runs {@code listener} with each session id this node learns was deleted (on the reader's thread: never block). */
    void onDeleted(Consumer<String> listener);

    default boolean deleted(String sessionId) {
        return known(sessionId) instanceof Deleted;
    }

    /** Throws 410 {@code session_deleted} when the session was deleted. */
    default void checkNotDeleted(String sessionId) {
        if (deleted(sessionId)) {
            throw new SessionDeletedException(sessionId);
        }
    }

    @Override
    default void close() {
    }

    /** Nothing sealed, nothing deleted: for components and tests that read and write plain JSON only. */
    static SessionKeys none() {
        return new SessionKeys() {
            @Override
            public State known(String sessionId) {
                return ABSENT;
            }

            @Override
            public State fresh(String sessionId) {
                return ABSENT;
            }

            @Override
            public SecretKey create(String sessionId) {
                return null;
            }

            @Override
            public boolean encrypting() {
                return false;
            }

            @Override
            public void shred(String sessionId) {
                throw new UnsupportedOperationException("this node keeps no session keys");
            }

            @Override
            public void onDeleted(Consumer<String> listener) {
            }
        };
    }
}
