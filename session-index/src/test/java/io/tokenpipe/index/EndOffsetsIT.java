package io.tokenpipe.index;

import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EndOffsetsIT {

    @Test
    void everyCallerSeesEveryRecordAcknowledgedBeforeItAskedThoughCallersShareRequests() throws Exception {
        Topics topics = SharedKafka.freshTopics("ends", 2);
        TopicPartition sessions = new TopicPartition(topics.sessions(), 1);
        TopicPartition prompts = new TopicPartition(topics.prompts(), 0);
        try (Admin admin = Admin.create(SharedKafka.settings().admin());
             KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
                     SharedKafka.settings().producer(Map.of(), Map.of("acks", "all")),
                     new StringSerializer(), new ByteArraySerializer());
             var writers = Executors.newVirtualThreadPerTaskExecutor()) {
            EndOffsets ends = new EndOffsets(admin, Duration.ofSeconds(10));
            List<CompletableFuture<Void>> checks = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                TopicPartition target = i % 2 == 0 ? sessions : prompts;
                checks.add(CompletableFuture.runAsync(() -> {
                    try {
                        long written = producer.send(new ProducerRecord<>(target.topic(), target.partition(), "k",
                                new byte[1])).get().offset();
                        Map<TopicPartition, Long> seen = ends.read(Set.of(target)).get(10, TimeUnit.SECONDS);
                        assertTrue(seen.get(target) > written,
                                "end " + seen.get(target) + " must lie past the record at " + written);
                        assertEquals(Set.of(target), seen.keySet(), "a caller gets the partitions it asked for");
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }, writers));
            }
            CompletableFuture.allOf(checks.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);

            assertEquals(100L, ends.read(Set.of(sessions)).get(10, TimeUnit.SECONDS).get(sessions));
        }
    }
}
