package io.tokenpipe.delivery;

import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SessionLog;
import io.tokenpipe.common.http.ApiException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads a session's past from the stream topic: a seek to an exact offset of the session's
 * partition, then forward. A pool of consumers is shared by every resume and replay on the node;
 * reads come back in bounded batches so that a slow client never holds a consumer for long.
 */
final class HistoryReader implements AutoCloseable {

    private static final Duration STALL_LIMIT = Duration.ofSeconds(15);

    private final KafkaSettings kafka;
    private final KafkaSessionLog.RecordReader records;
    private final String topic;
    private final int size;
    private final Duration wait;
    private final BlockingQueue<Consumer<String, byte[]>> idle;
    private final AtomicInteger created = new AtomicInteger();
    private volatile boolean closed;

    /** @param wait how long a read waits for a free consumer before it is refused (503) */
    HistoryReader(KafkaSettings kafka, String topic, int size, Duration wait) {
        this(kafka, topic, size, wait, KafkaSessionLog.plain());
    }

    /** @param records turns a record into an event (opening it when sealed) */
    HistoryReader(KafkaSettings kafka, String topic, int size, Duration wait, KafkaSessionLog.RecordReader records) {
        this.records = records;
        this.kafka = kafka;
        this.topic = topic;
        this.size = size;
        this.wait = wait;
        this.idle = new ArrayBlockingQueue<>(size);
    }

    /**
     * Reads records of {@code sessionId} with offsets in [{@code from}, {@code to}), stopping after
     * {@code max} of them.
     */
    SessionLog.Batch read(int partition, String sessionId, long from, long to, int max) throws InterruptedException {
        TopicPartition tp = new TopicPartition(topic, partition);
        List<LogEvent> out = new ArrayList<>();
        Consumer<String, byte[]> consumer = borrow();
        try {
            consumer.assign(Set.of(tp));
            consumer.seek(tp, from);
            long position = from;
            long stalledSince = System.nanoTime();
            while (position < to && out.size() < max) {
                long before = position;
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200)).records(tp)) {
                    if (record.offset() >= to) {
                        position = to;
                        break;
                    }
                    position = record.offset() + 1;
                    if (sessionId.equals(record.key())) {
                        LogEvent event = records.event(record, 0, "history_reader");
                        if (event == null) {
                            continue;
                        }
                        out.add(event);
                        if (out.size() >= max) {
                            break;
                        }
                    }
                }
                // Transaction markers occupy offsets that poll() never returns.
                position = Math.max(position, Math.min(to, consumer.position(tp)));
                if (out.size() >= max) {
                    position = out.getLast().offset() + 1;
                }
                if (position > before) {
                    stalledSince = System.nanoTime();
                } else if (System.nanoTime() - stalledSince > STALL_LIMIT.toNanos()) {
                    throw new IllegalStateException("reading " + tp + " from " + position + " made no progress for " + STALL_LIMIT);
                }
            }
            return new SessionLog.Batch(out, position);
        } finally {
            release(consumer);
        }
    }

    /** The first offset not yet readable (the high watermark: everything the brokers acknowledged). */
    long end(int partition) throws InterruptedException {
        TopicPartition tp = new TopicPartition(topic, partition);
        Consumer<String, byte[]> consumer = borrow();
        try {
            return consumer.endOffsets(Set.of(tp)).get(tp);
        } finally {
            release(consumer);
        }
    }

    /** The first offset still in the log (older ones were removed by retention). */
    long start(int partition) throws InterruptedException {
        TopicPartition tp = new TopicPartition(topic, partition);
        Consumer<String, byte[]> consumer = borrow();
        try {
            return consumer.beginningOffsets(Set.of(tp)).get(tp);
        } finally {
            release(consumer);
        }
    }

    Consumer<String, byte[]> borrow() throws InterruptedException {
        Consumer<String, byte[]> consumer = idle.poll();
        if (consumer != null) {
            return consumer;
        }
        if (created.incrementAndGet() <= size) {
            return new KafkaConsumer<>(kafka.consumer(
                    // Most reads want a few records (a resume, the tail of a new stream): small fetches,
                    // since everything fetched is parsed, wanted or not. Long replays take more polls.
                    Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 500,
                            ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 32 * 1024,
                            ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 1024 * 1024,
                            ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-history-" + created.get(),
                            // A seek before the log start (retention) continues from the oldest event kept.
                            ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"),
                    Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, KafkaSettings.STREAM_ISOLATION,
                            ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                    new StringDeserializer(), new ByteArrayDeserializer());
        }
        created.decrementAndGet();
        // Every consumer is busy: wait a bounded time, so that a burst of replays turns into 503s the
        // clients retry rather than request threads parked for ever.
        consumer = idle.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
        if (consumer == null) {
            throw new ApiException(503, "history_readers_busy",
                    "every reader of past events on this node is busy; retry shortly", 1);
        }
        return consumer;
    }

    void release(Consumer<String, byte[]> consumer) {
        consumer.unsubscribe();
        if (closed || !idle.offer(consumer)) {
            consumer.close(Duration.ZERO);
        }
    }

    @Override
    public void close() {
        closed = true;
        Consumer<String, byte[]> consumer;
        while ((consumer = idle.poll()) != null) {
            consumer.close(Duration.ofSeconds(1));
        }
    }
}
