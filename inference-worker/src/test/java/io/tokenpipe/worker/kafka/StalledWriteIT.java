package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The broker stops answering a partition's writes in time (here: a produce quota of one byte a
 * second on the writer's client id, so the broker holds back each answer for seconds, though it may
 * have appended the records already). The writer gives up the stalled producer, a new one fences it,
 * the writer reads what landed and writes only the rest: once the broker answers again every event is
 * in the log exactly once.
 */
class StalledWriteIT {

    private static final String CLIENT_ID = "stall-writer-" + System.nanoTime();

    @Test
    void aWriteTheBrokerNeverAcknowledgesIsAbortedAndWrittenAgainExactlyOnce() throws Exception {
        Topics topics = SharedKafka.freshTopics("stall", 1);
        TopicPartition prompts = new TopicPartition(topics.prompts(), 0);
        String transactionalId = "stall-test-" + System.nanoTime();
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            StreamWriter streamWriter = new StreamWriter(topics.stream(), topics.turns(), transactionalId,
                    producer(transactionalId), StreamWriter.Recovery.of(() -> producer(transactionalId), tp -> true,
                            (p, from) -> StreamRecovery.landedFrom(SharedKafka.settings(), new TopicPartition(topics.stream(), p), from)),
                    new ConsumerGroupMetadata("stall-group"), Duration.ofMillis(100), Duration.ofSeconds(1)).start();
            PartitionWriter writer = streamWriter.attach(prompts, StreamWriter.Start.empty()).ready(Duration.ofSeconds(30));
            CompletableFuture<Void> first = writer.finish(completed("t_0"), 0);
            first.get(30, TimeUnit.SECONDS);

            produceQuota(admin, 1.0); // the broker now holds back every answer to the writer for seconds
            awaitThrottled(topics.control()); // a topic nobody reads here
            writer.write(chunk("stalled", 0), 1);
            CompletableFuture<Void> second = writer.finish(completed("t_1"), 1);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (streamWriter.producersReplaced() == 0) {
                assertTrue(System.nanoTime() < deadline, "the writer never gave up its stalled producer");
                Thread.sleep(20); // polling the writer's own count
            }
            produceQuota(admin, null);
            second.get(60, TimeUnit.SECONDS);

            assertEquals(List.of("turn.completed", "token:stalled", "turn.completed"), logged(topics),
                    "every event exactly once, though the stalled producer's records may have landed meanwhile");
            writer.closeForHandover(Duration.ofSeconds(5));
            streamWriter.close();
        }
    }

    /** Limits what producers with the writer's client id may send per second; null lifts the limit. */
    private static void produceQuota(Admin admin, Double bytesPerSecond) throws Exception {
        admin.alterClientQuotas(List.of(new ClientQuotaAlteration(
                new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, CLIENT_ID)),
                List.of(new ClientQuotaAlteration.Op("producer_byte_rate", bytesPerSecond))))).all().get(10, TimeUnit.SECONDS);
    }

    /** Waits until the broker applies the quota: a producer of that client id is told to hold back. */
    private static void awaitThrottled(String probeTopic) throws Exception {
        try (KafkaProducer<String, byte[]> probe = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(),
                Map.of("client.id", CLIENT_ID, "acks", "all")), new StringSerializer(), new ByteArraySerializer())) {
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (throttleMillis(probe) <= 0) {
                assertTrue(System.nanoTime() < deadline, "the broker never throttled the writer's client id");
                probe.send(new ProducerRecord<>(probeTopic, new byte[10_000])).get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static double throttleMillis(KafkaProducer<String, byte[]> producer) {
        return producer.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("produce-throttle-time-max")
                        && e.getKey().group().equals("producer-metrics"))
                .mapToDouble(e -> e.getValue().metricValue() instanceof Double d && !d.isNaN() ? d : 0)
                .max().orElse(0);
    }

    private static TokenChunk chunk(String text, int index) {
        return new TokenChunk(StreamEvent.VERSION, "s_stall", "t_1", index, 1, Instant.now(), text);
    }

    private static TurnCompleted completed(String turnId) {
        return new TurnCompleted(StreamEvent.VERSION, "s_stall", turnId, 1, 1, Instant.now(), "stop",
                new Usage(1, 1, 2));
    }

    private static Producer<String, byte[]> producer(String transactionalId) {
        KafkaProducer<String, byte[]> producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(),
                Map.of("transactional.id", transactionalId, "enable.idempotence", true, "acks", "all",
                        "max.block.ms", 3000, "client.id", CLIENT_ID)),
                new StringSerializer(), new ByteArraySerializer());
        try {
            producer.initTransactions();
            return producer;
        } catch (RuntimeException e) {
            producer.close(Duration.ZERO);
            throw e;
        }
    }

    /** What the log holds, read as every client reads it: event types, and token texts. */
    private static List<String> logged(Topics topics) {
        return StreamEvents.read(topics).stream()
                .map(e -> e instanceof TokenChunk t ? "token:" + t.text() : e.type()).toList();
    }
}
