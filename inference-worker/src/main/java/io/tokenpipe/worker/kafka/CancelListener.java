package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.TurnCancelRequested;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.worker.turn.Cancellations;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
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

/**
 * Reads every cancellation request, from the moment the worker starts: cancellations are rare, and
 * a turn may run on any worker, so each worker reads them all (no consumer group) and acts on the
 * turns it runs or will run. They bypass the prompts topic so that a worker that stopped fetching
 * prompts at its turn limit still hears them at once.
 */
public final class CancelListener implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CancelListener.class);

    private final Consumer<String, byte[]> consumer;
    private final String topic;
    private final Cancellations cancellations;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile boolean closed;

    public CancelListener(KafkaSettings kafka, String topic, Cancellations cancellations) {
        this.topic = topic;
        this.cancellations = cancellations;
        this.consumer = new KafkaConsumer<>(kafka.consumer(
                Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-cancel-listener"),
                Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                new StringDeserializer(), new ByteArrayDeserializer());
        this.thread = Thread.ofPlatform().name("cancel-listener").daemon().unstarted(this::run);
    }

    public CancelListener start() {
        List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                .map(PartitionInfo::partition).map(p -> new TopicPartition(topic, p)).toList();
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        partitions.forEach(consumer::position);
        thread.start();
        return this;
    }

    private void run() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    TurnCancelRequested cancel;
                    try {
                        cancel = Json.read(record.value(), TurnCancelRequested.class);
                        if (cancel.turnId() == null) {
                            throw new IllegalArgumentException("a cancellation without a turn id");
                        }
                    } catch (RuntimeException e) {
                        SkippedRecords.skip("cancel_listener", record.topic(), record.partition(), record.offset(), e);
                        continue;
                    }
                    cancellations.requested(cancel.turnId());
                }
            }
        } catch (WakeupException e) {
            // close()
        } catch (RuntimeException e) {
            log.error("the cancellation listener failed: cancellations are no longer heard", e);
        } finally {
            consumer.close(Duration.ofSeconds(1));
        }
    }

    /** Whether it still listens: a worker that no longer hears cancellations would answer cancelled turns in full. */
    public boolean running() {
        return thread.isAlive() && running;
    }

    /** Whether it was closed on purpose (then not running is no failure). */
    public boolean closed() {
        return closed;
    }

    @Override
    public void close() {
        closed = true;
        running = false;
        consumer.wakeup();
        try {
            thread.join(3_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
