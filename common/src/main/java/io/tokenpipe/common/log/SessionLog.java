package io.tokenpipe.common.log;

import java.util.List;
import java.util.function.Consumer;

/**
 * The read side of the log of stream events, as a session's stream needs it: a range of the past,
 * where the log ends and begins, what is still in memory, and live events as they arrive. Kafka
 * implements it in delivery-sse (the stream topic, a live tail and history readers); an
 * {@link InMemoryLog} implements it for the benchmark's Kafka-less control and for fast tests.
 *
 * <p>Sessions are spread over partitions; a session's events all lie in one partition, at strictly
 * increasing offsets, interleaved with other sessions' events.
 */
public interface SessionLog {

    /** A read's events (of one session, in offset order) and the offset the next read starts from. */
    record Batch(List<LogEvent> events, long next) {
    }

    /** Live delivery of one session's events to one listener; closing stops it. */
    interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    /** The partition that holds the session's events. */
    int partitionOf(String sessionId);

    /**
     * The session's events with offsets in [{@code from}, {@code to}), at most {@code max} of them.
     * {@link Batch#next()} is past every offset the read covered, so a caller loops until it reaches {@code to}.
     */
    Batch read(int partition, String sessionId, long from, long to, int max) throws InterruptedException;

    /** The first offset not yet readable: one past the last event. */
    long end(int partition) throws InterruptedException;

    /** The first offset still held (older ones were removed by retention). */
    long start(int partition) throws InterruptedException;

    /**
     * The session's events from {@code from} up to the live position, from memory; {@code null} when
     * memory no longer reaches back to {@code from} (then {@link #read} it). Every event after what this
     * returns arrives through a subscription made before the call.
     */
    List<LogEvent> recent(int partition, String sessionId, long from);

    /** Whether memory holds every event from {@code offset} on (so {@code offset} is certainly in the log). */
    boolean holdsRecent(int partition, long offset);

    /**
     * Hands each new event of the session to {@code listener}, in offset order, on the log's own
     * thread: the listener must never block. An event becomes recent before it is handed out. May wait
     * for the log to start reading the session's partition (Kafka's live tail reads only the partitions
     * its node's clients follow).
     */
    Subscription subscribe(String sessionId, Consumer<LogEvent> listener) throws InterruptedException;
}
