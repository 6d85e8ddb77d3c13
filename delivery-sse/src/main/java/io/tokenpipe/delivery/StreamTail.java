package io.tokenpipe.delivery;

import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.metrics.LatencyHistogram;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.common.metrics.StageTimes;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The node's single live reader of the stream topic: one consumer for all clients, reading only the
 * partitions some client of this node follows. A partition is <em>attached</em> when a stream of one
 * of its sessions subscribes ({@link #attach}): the tail starts reading it at the partition's end as
 * looked up then, with a fresh {@link RecentEvents} ring; it is detached once its last stream here has
 * been gone for the grace period, and its ring dropped. A node with no client on a partition does not
 * fetch it, so each added node adds only the read traffic of its own clients.
 *
 * <p>Each event read goes into its partition's ring, then to the node's listeners of its session;
 * events of sessions nobody here follows are kept in the ring and otherwise skipped, unparsed.
 */
final class StreamTail implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(StreamTail.class);
    private static final String SKIPPED = "stream_tail";
    private static final long IDLE_WAIT_MS = 500;

    /** Where a partition ends now: the position an attached partition is read from. */
    @FunctionalInterface
    interface EndLookup {
        long end(int partition) throws InterruptedException;
    }

    /** One partition's attachment: how many streams of this node follow it, and its ring while attached. */
    private static final class Slot {
        final int partition;
        int streams;             // guarded by this
        long idleSinceNanos;     // guarded by this; when streams last fell to 0
        volatile RecentEvents ring; // null while detached; written under this, read by the tail without it

        Slot(int partition) {
            this.partition = partition;
        }
    }

    private final Consumer<String, byte[]> consumer;
    private final KafkaClientMetrics clientMetrics;
    private final Subscriptions subscriptions;
    private final KafkaSessionLog.RecordReader recordReader;
    private final String topic;
    private final Thread thread;
    private final Runnable onFailure;
    private final int recentCapacity;
    private final long recentBytes;
    private final long detachGraceNanos;
    private final Slot[] slots;
    private final AtomicLongArray recordsRead;
    private final AtomicLongArray bytesRead;
    private final Object wake = new Object();
    /** The rings the tail is filling, by partition: its assignment. Tail thread only. */
    private final Map<Integer, RecentEvents> reading = new HashMap<>();
    private final LatencyHistogram sendToTail = StageTimes.of(StageTimes.SEND_TO_TAIL);
    private volatile boolean attachmentsChanged;
    private volatile Set<Integer> assigned = Set.of();
    private volatile boolean running = true;
    private volatile boolean polling;

    /**
     * @param partitions  the stream topic's partition count
     * @param detachGrace how long a partition stays attached after its last stream here ended (a client
     *                    that reconnects within it finds the ring still warm)
     * @param onFailure   run if the tail stops on an error: its streams would silently receive nothing
     *                    more, so they must be ended (clients reconnect) and the node reported unhealthy
     */
    StreamTail(KafkaSettings kafka, String topic, int partitions, Subscriptions subscriptions, int recentCapacity,
               long recentBytes, Duration detachGrace, Runnable onFailure, KafkaSessionLog.RecordReader recordReader) {
        this.recordReader = recordReader;
        this.recentCapacity = recentCapacity;
        this.recentBytes = recentBytes;
        this.detachGraceNanos = detachGrace.toNanos();
        this.topic = topic;
        this.subscriptions = subscriptions;
        this.onFailure = onFailure;
        this.slots = new Slot[partitions];
        for (int p = 0; p < partitions; p++) {
            slots[p] = new Slot(p);
        }
        this.recordsRead = new AtomicLongArray(partitions);
        this.bytesRead = new AtomicLongArray(partitions);
        this.consumer = new KafkaConsumer<>(kafka.consumer(
                Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5_000,
                        ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-delivery-tail",
                        ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100),
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, KafkaSettings.STREAM_ISOLATION,
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                new StringDeserializer(), new ByteArrayDeserializer());
        this.thread = Thread.ofPlatform().name("stream-tail").unstarted(this::run);
        // How far the live tail trails the stream topic (kafka_consumer_fetch_manager_records_lag_max).
        this.clientMetrics = new KafkaClientMetrics(consumer);
        clientMetrics.bindTo(Metrics.registry());
    }

    /** Starts the reader; it reads nothing until a partition is attached. */
    StreamTail start() {
        thread.start();
        return this;
    }

    /**
     * Attaches the partition for one more stream of this node (undo with {@link #detach}). The first
     * stream of a detached partition looks up its end, and the tail reads it from there: every event
     * at or after that position reaches the ring and the subscriptions, and the caller (which has
     * subscribed before calling) reads anything earlier from the log, up to an end it reads afterwards.
     */
    void attach(int partition, EndLookup end) throws InterruptedException {
        Slot slot = slots[partition];
        synchronized (slot) {
            if (slot.ring == null) {
                // Under the slot's lock: a second stream of the partition waits for this lookup
                // rather than making its own; the tail never takes this lock for a detached slot.
                slot.ring = new RecentEvents(recentCapacity, recentBytes, end.end(partition));
                changed();
            }
            slot.streams++;
        }
    }

    /** A stream of the partition ended; the partition detaches after the grace period if no other starts. */
    void detach(int partition) {
        Slot slot = slots[partition];
        synchronized (slot) {
            if (--slot.streams == 0) {
                slot.idleSinceNanos = System.nanoTime();
                if (detachGraceNanos == 0) {
                    changed();
                }
            }
        }
    }

    /** The partition's recent events (the live tail's memory), or null while it is not attached. */
    RecentEvents recent(int partition) {
        return slots[partition].ring;
    }

    /** The partitions the tail's consumer is assigned now. */
    Set<Integer> assigned() {
        return assigned;
    }

    /** Records of the partition the tail has read since it started. */
    long recordsRead(int partition) {
        return recordsRead.get(partition);
    }

    /** Records of every partition the tail has read since it started. */
    long recordsRead() {
        return sum(recordsRead);
    }

    /** Bytes (keys and values as stored) of every partition the tail has read since it started. */
    long bytesRead() {
        return sum(bytesRead);
    }

    private static long sum(AtomicLongArray counts) {
        long total = 0;
        for (int i = 0; i < counts.length(); i++) {
            total += counts.get(i);
        }
        return total;
    }

    /** Drops what the rings hold opened of a deleted session's events. */
    void forget(String sessionId) {
        for (Slot slot : slots) {
            RecentEvents ring;
            synchronized (slot) {
                ring = slot.ring;
            }
            if (ring != null) {
                ring.forget(sessionId);
            }
        }
    }

    boolean healthy() {
        return polling;
    }

    private void changed() {
        attachmentsChanged = true;
        consumer.wakeup(); // a poll in progress returns now, so the new partition's first event is not late
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    private void run() {
        try {
            while (running) {
                try {
                    detachIdle();
                    reassign();
                    if (reading.isEmpty()) {
                        polling = true;
                        idle();
                        continue;
                    }
                    deliver(consumer.poll(Duration.ofMillis(500)));
                    for (Map.Entry<Integer, RecentEvents> entry : reading.entrySet()) {
                        entry.getValue().advanceTo(consumer.position(new TopicPartition(topic, entry.getKey())));
                    }
                    polling = true;
                } catch (WakeupException e) {
                    // an attachment changed (or close()): the loop looks again
                }
            }
        } catch (RuntimeException e) {
            log.error("live tail of {} failed; ending its streams", topic, e);
            onFailure.run();
        } finally {
            polling = false;
            consumer.close(Duration.ofSeconds(2));
            clientMetrics.close();
        }
    }

    private void deliver(ConsumerRecords<String, byte[]> records) {
        long readAt = System.nanoTime();
        long now = System.currentTimeMillis();
        for (ConsumerRecord<String, byte[]> record : records) {
            recordsRead.incrementAndGet(record.partition());
            bytesRead.addAndGet(record.partition(), Math.max(0, record.serializedKeySize())
                    + Math.max(0, record.serializedValueSize()));
            sendToTail.recordMicros((now - record.timestamp()) * 1_000);
            LogEvent event = recordReader.event(record, readAt, SKIPPED);
            if (event == null) {
                continue; // the ring covers it all the same: advanceTo() moves past it
            }
            try {
                // Into the ring first, then to the streams: a stream that reads the ring after
                // subscribing gets every event either from the ring or live.
                reading.get(record.partition()).append(event);
                if (event.sessionId() != null) {
                    subscriptions.offer(event);
                }
            } catch (RuntimeException e) {
                // One event must not stop every stream of the node.
                SkippedRecords.skip(SKIPPED, record.topic(), record.partition(), record.offset(), e);
            }
        }
    }

    /** Detaches the partitions whose last stream here left more than the grace period ago. */
    private void detachIdle() {
        long now = System.nanoTime();
        for (int partition : reading.keySet()) {
            Slot slot = slots[partition];
            synchronized (slot) {
                if (slot.streams == 0 && slot.ring != null && now - slot.idleSinceNanos >= detachGraceNanos) {
                    slot.ring = null;
                    attachmentsChanged = true;
                }
            }
        }
    }

    /**
     * Makes the consumer's assignment what the slots say: a partition newly attached (or detached and
     * attached again since the last look) is read from its ring's starting position.
     */
    private void reassign() {
        if (!attachmentsChanged) {
            return;
        }
        attachmentsChanged = false; // before looking: a change made meanwhile is seen next time
        Map<TopicPartition, Long> seeks = new HashMap<>();
        for (Slot slot : slots) {
            RecentEvents wanted = slot.ring;
            RecentEvents current = reading.get(slot.partition);
            if (wanted == current) {
                continue;
            }
            if (wanted == null) {
                reading.remove(slot.partition);
            } else {
                reading.put(slot.partition, wanted);
                seeks.put(new TopicPartition(topic, slot.partition), wanted.next()); // only the tail appends
            }
        }
        consumer.assign(reading.keySet().stream().map(p -> new TopicPartition(topic, p)).toList());
        seeks.forEach(consumer::seek);
        assigned = Set.copyOf(reading.keySet());
        log.debug("live tail reads partitions {} (newly attached at: {})", assigned, seeks);
    }

    /** Waits for a partition to be attached while none is: a consumer without partitions cannot poll. */
    private void idle() {
        synchronized (wake) {
            if (!attachmentsChanged && running) {
                try {
                    wake.wait(IDLE_WAIT_MS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    running = false;
                }
            }
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        synchronized (wake) {
            wake.notifyAll();
        }
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
