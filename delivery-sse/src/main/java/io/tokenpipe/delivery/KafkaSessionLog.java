package io.tokenpipe.delivery;

import io.tokenpipe.common.event.EventChain;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.privacy.SessionCipher;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionKeys;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SessionLog;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The stream topic as a {@link SessionLog}: live events and recent ones from the node's single
 * {@link StreamTail} and its rings, the past from the shared {@link HistoryReader}s. A subscription
 * attaches its session's partition to the tail for as long as it lasts, so the node reads only the
 * partitions its clients follow.
 */
final class KafkaSessionLog implements SessionLog, AutoCloseable {

    private final int partitions;
    private final SessionCodec codec;
    private final Subscriptions subscriptions = new Subscriptions();
    private final StreamTail tail;
    private final HistoryReader history;

    /**
     * @param partitions the stream topic's partition count (sessions are placed by hash over it)
     * @param onTailFailure run if the live tail stops on an error (see {@link StreamTail})
     */
    KafkaSessionLog(KafkaSettings kafka, String topic, int partitions, DeliverySettings settings, Runnable onTailFailure) {
        this(kafka, topic, partitions, settings, onTailFailure, SessionCodec.plain());
    }

    /** @param codec opens the events of encrypted sessions */
    KafkaSessionLog(KafkaSettings kafka, String topic, int partitions, DeliverySettings settings, Runnable onTailFailure,
                    SessionCodec codec) {
        this.partitions = partitions;
        this.codec = codec;
        this.history = new HistoryReader(kafka, topic, settings.historyReaders(), settings.historyWait(), this::event);
        this.tail = new StreamTail(kafka, topic, partitions, subscriptions, settings.recentEvents(),
                settings.recentEventsBytesPerPartition(partitions), settings.partitionDetachGrace(), onTailFailure,
                this::event);
    }

    /** How the tail and the history readers turn a record into an event (see {@link #event}). */
    @FunctionalInterface
    interface RecordReader {
        LogEvent event(ConsumerRecord<String, byte[]> record, long readAtNanos, String reader);
    }

    KafkaSessionLog start() {
        tail.start();
        return this;
    }

    boolean healthy() {
        return tail.healthy();
    }

    /** The live tail: which partitions it reads, and how much it has read. */
    StreamTail tail() {
        return tail;
    }

    /**
     * A stream record as a log event: the session id is the key, the type travels as a header. Null for
     * a record no client could use, counted as skipped by {@code reader}: one without a value, or whose
     * value is not a JSON object (opened, for a sealed one). Events are passed on unparsed, so that is all
     * that is checked here; an unknown type or version reaches clients, which ignore what they do not know.
     *
     * <p>The one place where readers open sealed events. With the session's key in memory the event is
     * opened here (a value that does not open is skipped like any unreadable record); a key this node
     * has not read yet is waited for later, by whoever first uses the event, never on the live tail's
     * thread. A deleted session's events are dropped unopened.
     */
    LogEvent event(ConsumerRecord<String, byte[]> record, long readAtNanos, String reader) {
        return read(codec, record, readAtNanos, reader);
    }

    private static LogEvent read(SessionCodec codec, ConsumerRecord<String, byte[]> record, long readAtNanos, String reader) {
        byte[] value = record.value();
        byte[] json = value;
        LogEvent.Opener opener = null;
        if (SessionCipher.sealed(value) && record.key() != null) {
            opener = codec::openEvent;
            SessionKeys.State state = codec.keys().known(record.key());
            if (state instanceof SessionKeys.Deleted) {
                return null;
            }
            if (state instanceof SessionKeys.Present present) {
                try {
                    json = SessionCipher.open(present.key(), record.key(), value);
                } catch (IllegalArgumentException e) {
                    SkippedRecords.skip(reader, record.topic(), record.partition(), record.offset(), e);
                    return null;
                }
            } else {
                json = null; // opened on first use
            }
        }
        if (json != null && (json.length < 2 || json[0] != '{' || json[json.length - 1] != '}')) {
            SkippedRecords.skip(reader, record.topic(), record.partition(), record.offset(), "not a JSON object");
            return null;
        }
        if (value == null) {
            SkippedRecords.skip(reader, record.topic(), record.partition(), record.offset(), "no value");
            return null;
        }
        return new LogEvent(record.partition(), record.offset(), record.key(), EventHeaders.type(record.headers()),
                value, json, opener, EventChain.link(record.headers()), readAtNanos, record.timestamp());
    }

    /** How a node that keeps no session keys reads records (plain JSON only). */
    static RecordReader plain() {
        SessionCodec codec = SessionCodec.plain();
        return (record, readAtNanos, reader) -> read(codec, record, readAtNanos, reader);
    }

    /** Drops from memory what this node opened of a deleted session's events. */
    void forget(String sessionId) {
        tail.forget(sessionId);
    }

    @Override
    public int partitionOf(String sessionId) {
        return Partitioning.partitionOf(sessionId, partitions);
    }

    @Override
    public Batch read(int partition, String sessionId, long from, long to, int max) throws InterruptedException {
        return history.read(partition, sessionId, from, to, max);
    }

    @Override
    public long end(int partition) throws InterruptedException {
        return history.end(partition);
    }

    @Override
    public long start(int partition) throws InterruptedException {
        return history.start(partition);
    }

    @Override
    public List<LogEvent> recent(int partition, String sessionId, long from) {
        RecentEvents ring = tail.recent(partition);
        return ring == null ? null : ring.since(from, sessionId);
    }

    @Override
    public boolean holdsRecent(int partition, long offset) {
        RecentEvents ring = tail.recent(partition);
        return ring != null && ring.covers(offset);
    }

    /**
     * Listens first, then attaches the partition: whatever the tail reads from the attach position on
     * reaches the listener, and the stream reads anything before it from the log (up to an end it
     * looks up after this returns, so no later than the attach position).
     */
    @Override
    public Subscription subscribe(String sessionId, Consumer<LogEvent> listener) throws InterruptedException {
        int partition = partitionOf(sessionId);
        Subscription listening = subscriptions.add(sessionId, listener);
        try {
            tail.attach(partition, history::end);
        } catch (InterruptedException | RuntimeException e) {
            listening.close();
            throw e;
        }
        AtomicBoolean closed = new AtomicBoolean();
        return () -> {
            if (closed.compareAndSet(false, true)) {
                listening.close();
                tail.detach(partition);
            }
        };
    }

    @Override
    public void close() {
        tail.close();
        history.close();
    }
}
