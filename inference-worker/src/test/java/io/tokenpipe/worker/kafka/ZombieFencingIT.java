package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.OutputClosedException;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A worker presumed dead (a long GC pause, a network partition) comes back after its partition was
 * given to another: everything it writes from then on is rejected and never visible.
 */
class ZombieFencingIT {

    @Test
    void aWriterWhosePartitionWasTakenOverCannotWriteIntoTheStream() throws Exception {
        Topics topics = SharedKafka.freshTopics("zombie", 1);
        String zombieId = "zombie-test-" + System.nanoTime();

        StreamWriter zombieWriter = writer(topics, zombieId, tp -> false);
        PartitionWriter zombie = zombieWriter.attach(new TopicPartition(topics.prompts(), 0), StreamWriter.Start.empty())
                .ready(Duration.ofSeconds(10));
        zombie.write(chunk("before the pause", 1), 0);
        awaitVisible(topics, "before the pause");

        // The partition's next owner initialises the previous writer's transactional id: this fences it.
        producer(zombieId).close();
        StreamWriter successorWriter = writer(topics, "successor-" + System.nanoTime(), tp -> true);
        PartitionWriter successor = successorWriter.attach(new TopicPartition(topics.prompts(), 0),
                StreamWriter.Start.empty()).ready(Duration.ofSeconds(10));

        zombie.write(chunk("from the zombie", 2), 0);
        successor.write(chunk("from the new owner", 2), 0);
        awaitVisible(topics, "from the new owner");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (zombie.open() && System.nanoTime() < deadline) {
            Thread.sleep(10); // the zombie learns it is fenced when the broker refuses its next write
        }

        assertFalse(zombie.open(), "the fenced writer stopped writing the partition");
        assertThrows(OutputClosedException.class, () -> zombie.write(chunk("still trying", 3), 0));
        assertEquals(List.of("before the pause", "from the new owner"), texts(topics));
        successor.closeForHandover(Duration.ofSeconds(5));
        successorWriter.close();
        zombieWriter.halt();
    }

    private static TokenChunk chunk(String text, int index) {
        return new TokenChunk(StreamEvent.VERSION, "s_zombie", "t_zombie", index, 1, Instant.now(), text);
    }

    /**
     * A stream writer as a worker makes it. Should a write fail, it asks {@code owner} whether it still
     * owns the partition (a zombie must not fence the owner by starting yet another producer).
     */
    static StreamWriter writer(Topics topics, String transactionalId, java.util.function.Predicate<TopicPartition> owner) {
        return new StreamWriter(topics.stream(), topics.turns(), transactionalId, producer(transactionalId),
                StreamWriter.Recovery.of(() -> producer(transactionalId), owner,
                        (p, from) -> StreamRecovery.landedFrom(SharedKafka.settings(), new TopicPartition(topics.stream(), p), from)),
                new ConsumerGroupMetadata("zombie-group"), Duration.ofMillis(100), Duration.ofSeconds(10)).start();
    }

    static Producer<String, byte[]> producer(String transactionalId) {
        KafkaProducer<String, byte[]> producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(),
                Map.of("transactional.id", transactionalId, "enable.idempotence", true, "acks", "all")),
                new StringSerializer(), new ByteArraySerializer());
        producer.initTransactions();
        return producer;
    }

    private static void awaitVisible(Topics topics, String text) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!texts(topics).contains(text)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("'" + text + "' never became visible");
            }
            Thread.sleep(20); // polling the log for a committed record
        }
    }

    /** The texts in the log, read as every client reads it. */
    private static List<String> texts(Topics topics) {
        return StreamEvents.read(topics).stream().map(e -> ((TokenChunk) e).text()).toList();
    }
}
