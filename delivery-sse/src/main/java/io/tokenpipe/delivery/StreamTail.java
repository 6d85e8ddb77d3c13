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
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The node's single live reader of the stream topic: one consumer for all clients, reading every
 * partition from the moment the node started. Each event goes into its partition's
 * {@link RecentEvents}, then to the node's listeners of its session; events of sessions nobody here
 * follows are kept in the ring and otherwise skipped, unparsed.
 */
final class StreamTail implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(StreamTail.class);
    private static final String SKIPPED = "stream_tail";

    private final Consumer<String, byte[]> consumer;
    private final KafkaClientMetrics clientMetrics;
    private final Subscriptions subscriptions;
    private final KafkaSessionLog.RecordReader recordReader;
    private final String topic;
    private final Thread thread;
    private final Runnable onFailure;
    private final int recentCapacity;
    private final long recentBytes;
    private final Map<Integer, RecentEvents> recent = new ConcurrentHashMap<>();
    private final LatencyHistogram sendToTail = StageTimes.of(StageTimes.SEND_TO_TAIL);
    private List<TopicPartition> partitions = List.of();
    private volatile boolean running = true;
    private volatile boolean polling;

    /**
     * @param onFailure run if the tail stops on an error: its streams would silently receive nothing
     *                  more, so they must be ended (clients reconnect) and the node reported unhealthy
     */
    StreamTail(KafkaSettings kafka, String topic, Subscriptions subscriptions, int recentCapacity, long recentBytes,
               Runnable onFailure, KafkaSessionLog.RecordReader recordReader) {
        this.recordReader = recordReader;
        this.recentCapacity = recentCapacity;
        this.recentBytes = recentBytes;
        this.topic = topic;
        this.subscriptions = subscriptions;
        this.onFailure = onFailure;
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

    /** Starts reading at the current end of every partition. */
    StreamTail start() {
        partitions = consumer.partitionsFor(topic).stream()
                .map(PartitionInfo::partition).map(p -> new TopicPartition(topic, p)).toList();
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        for (TopicPartition tp : partitions) { // resolve "the end" now, not at the first poll
            recent.put(tp.partition(), new RecentEvents(recentCapacity, recentBytes, consumer.position(tp)));
        }
        thread.start();
        return this;
    }

    /** The partition's recent events (the live tail's memory). */
    RecentEvents recent(int partition) {
        return recent.get(partition);
    }

    /** Drops what the rings hold opened of a deleted session's events. */
    void forget(String sessionId) {
        recent.values().forEach(ring -> ring.forget(sessionId));
    }

    boolean healthy() {
        return polling;
    }

    private void run() {
        try {
            while (running) {
                ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(500));
                long readAt = System.nanoTime();
                long now = System.currentTimeMillis();
                for (ConsumerRecord<String, byte[]> record : records) {
                    sendToTail.recordMicros((now - record.timestamp()) * 1_000);
                    LogEvent event = recordReader.event(record, readAt, SKIPPED);
                    if (event == null) {
                        continue; // the ring covers it all the same: advanceTo() below moves past it
                    }
                    try {
                        // Into the ring first, then to the streams: a stream that reads the ring after
                        // subscribing gets every event either from the ring or live.
                        recent.get(record.partition()).append(event);
                        if (event.sessionId() != null) {
                            subscriptions.offer(event);
                        }
                    } catch (RuntimeException e) {
                        // One event must not stop every stream of the node.
                        SkippedRecords.skip(SKIPPED, record.topic(), record.partition(), record.offset(), e);
                    }
                }
                for (TopicPartition tp : partitions) {
                    recent.get(tp.partition()).advanceTo(consumer.position(tp));
                }
                polling = true;
            }
        } catch (WakeupException e) {
            // close()
        } catch (RuntimeException e) {
            log.error("live tail of {} failed; ending its streams", topic, e);
            onFailure.run();
        } finally {
            polling = false;
            consumer.close(Duration.ofSeconds(2));
            clientMetrics.close();
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
