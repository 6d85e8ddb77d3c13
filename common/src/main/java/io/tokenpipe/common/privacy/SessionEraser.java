package io.tokenpipe.common.privacy;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.kafka.Topics;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Deletes a session, for {@code DELETE /v1/sessions/{id}} and for retention: first its key is
 * shredded (from then on its prompts and answers in Kafka no longer open, on every node once it reads
 * the key topic, on this one at once), then its record in the sessions topic gets a tombstone, which
 * removes it from the session index and, at compaction, from the topic.
 */
public final class SessionEraser {

    private static final Logger log = LoggerFactory.getLogger(SessionEraser.class);
    public static final String TOMBSTONE_TYPE = "session.deleted";

    private final SessionKeys keys;
    private final Producer<String, byte[]> producer;
    private final Topics topics;
    private final Duration timeout;

    /** @param producer an idempotent producer with acks=all (ingest's) */
    public SessionEraser(SessionKeys keys, Producer<String, byte[]> producer, Topics topics, Duration timeout) {
        this.keys = keys;
        this.producer = producer;
        this.topics = topics;
        this.timeout = timeout;
    }

    public SessionKeys keys() {
        return keys;
    }

    /** Deletes the session; durable when it returns. Deleting a deleted session again does no harm. */
    public void erase(String sessionId) {
        keys.shred(sessionId);
        try {
            producer.send(new ProducerRecord<>(topics.sessions(), null, sessionId, null, EventHeaders.withType(TOMBSTONE_TYPE)))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            // The key is gone already, and with it the content: retrying the delete writes the tombstone.
            throw ApiException.unavailable("kafka_unavailable", "the session's key is destroyed, but its record "
                    + "could not be removed (" + e + "); retry the delete");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("shutting_down", "the server is shutting down");
        }
        log.info("deleted session {}", sessionId);
    }
}
