package io.tokenpipe.worker;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A worker at its turn limit stops fetching instead of buffering, and keeps polling so that the
 * group does not throw it out even when its turns take far longer than max.poll.interval.ms.
 */
class BackpressureIT {

    private static final int LIMIT = 3;
    private static final int PROMPTS = 12;

    @Test
    void aFullWorkerPausesFetchingAndStaysInItsGroup() throws Exception {
        Topics topics = SharedKafka.freshTopics("backpressure", 2);
        Map<String, String> env = new HashMap<>(SharedKafka.env(topics));
        env.put(WorkerSettings.GROUP_ID.name(), "backpressure-" + System.nanoTime());
        env.put(WorkerSettings.HTTP_PORT.name(), "0");
        env.put(WorkerSettings.MAX_INFLIGHT_TURNS.name(), Integer.toString(LIMIT));
        // Each turn takes about a second; all of them about four times this poll interval.
        env.put("KAFKA_MAX_POLL_INTERVAL_MS", "1500");
        env.put("SYNTHETIC_TTFT_MS", "0");
        env.put("SYNTHETIC_TOKENS_PER_SECOND", "20");

        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(),
                Map.of("acks", "all")), new StringSerializer(), new ByteArraySerializer());
             WorkerService worker = WorkerService.start(Env.of(env))) {
            Set<String> turns = new HashSet<>();
            for (int i = 0; i < PROMPTS; i++) {
                String session = Ids.newSessionId();
                PromptSubmitted prompt = new PromptSubmitted(1, session, Ids.turnId(session, "r"), "r", "h", "synthetic",
                        List.of(ChatMessage.user("p" + i)), new GenerationParams(null, null, List.of(), (long) i,
                        Map.of("tokens", 20)), Instant.now());
                turns.add(prompt.turnId());
                producer.send(new ProducerRecord<>(topics.prompts(), null, session, Json.bytes(prompt),
                        EventHeaders.withType(PromptSubmitted.TYPE))).get();
            }

            AtomicInteger peak = new AtomicInteger();
            AtomicBoolean done = new AtomicBoolean();
            Thread sampler = Thread.ofVirtual().start(() -> {
                while (!done.get()) {
                    peak.accumulateAndGet(worker.consumer().inflightTurns(), Math::max);
                    try {
                        Thread.sleep(5); // sampling a gauge
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });

            Set<String> finished = awaitTerminalEvents(topics, turns, Duration.ofSeconds(60));
            done.set(true);
            sampler.join();

            assertEquals(turns, finished, "every turn ended");
            assertTrue(peak.get() <= 2 * LIMIT, "turns held at once stayed near the limit of " + LIMIT + ": " + peak.get());
            assertTrue(peak.get() >= LIMIT, "the worker did run turns side by side: " + peak.get());
            assertEquals(0, worker.consumer().partitionsTakenAway(), "the worker was never thrown out of its group");
        }
    }

    private static Set<String> awaitTerminalEvents(Topics topics, Set<String> turns, Duration timeout) {
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(),
                Map.of("isolation.level", KafkaSettings.STREAM_ISOLATION)), new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = List.of(new TopicPartition(topics.stream(), 0), new TopicPartition(topics.stream(), 1));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Set<String> finished = new HashSet<>();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!finished.containsAll(turns) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                    StreamEvent event = Json.read(record.value(), StreamEvent.class);
                    if (event.terminal()) {
                        finished.add(event.turnId());
                    }
                }
            }
            return finished;
        }
    }
}
