package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.OutputClosedException;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.worker.kafka.PartitionWriter;
import io.tokenpipe.worker.kafka.StreamRecovery;
import io.tokenpipe.worker.kafka.StreamWriter;
import io.tokenpipe.worker.turn.TurnProgress;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The race the write path must close. A worker streams a turn flat out; meanwhile its partition is
 * taken over (the new owner fences it and reads the log to see how far the turn got) and the old owner,
 * not knowing yet, keeps writing. Whatever of the old owner landed before the fence is the turn as the
 * new owner continues it; nothing it writes after the fence may reach anyone. A client following live,
 * a replay from the beginning, a resume from the middle and the transcript all see every index of the
 * turn exactly once, and nothing of the old owner after the new owner's first event.
 */
class ZombieWriterIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dataDir;

    private Standalone stack;

    @AfterEach
    void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void anOldOwnersWritesAfterTheNewOwnersFenceAreNeverDeliveredLiveOrReplayed() throws Exception {
        Topics topics = SharedKafka.freshTopics("zombie-race", 1);
        stack = StackFixture.start(topics, dataDir, Map.of());
        ApiClient api = new ApiClient(stack.port());
        String session = api.createSession();
        String turn = "t_race";
        String transactionalId = "race-" + System.nanoTime(); // not the stack's own worker's id
        TopicPartition stream = new TopicPartition(topics.stream(), 0);

        try (SseTestClient live = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            AtomicBoolean taken = new AtomicBoolean();
            StreamWriter oldWriter = writer(topics, transactionalId, tp -> !taken.get());
            PartitionWriter old = oldWriter.attach(new TopicPartition(topics.prompts(), 0), StreamWriter.Start.empty())
                    .ready(WAIT);
            old.write(started(session, turn), 0);
            AtomicInteger written = new AtomicInteger();
            Thread flatOut = Thread.ofPlatform().start(() -> {
                try {
                    for (int index = 1; ; index++) {
                        old.write(token(session, turn, index, 1, "old" + index), 0);
                        written.incrementAndGet();
                        Thread.sleep(0, 200_000);
                    }
                } catch (OutputClosedException | InterruptedException stopped) {
                    // the old owner learned it was fenced
                }
            });
            live.awaitEvents(100, WAIT);

            // The take-over, while the old owner writes: fence it, then read how far the turn got.
            taken.set(true);
            producer(transactionalId).close();
            StreamRecovery.Result found = StreamRecovery.scan(SharedKafka.settings(), stream, 0L);
            TurnProgress progress = found.turns().get(turn);
            StreamWriter ownerWriter = writer(topics, "race-owner-" + System.nanoTime(), tp -> true);
            PartitionWriter owner = ownerWriter.attach(new TopicPartition(topics.prompts(), 0),
                    new StreamWriter.Start(0, found.streamEnd(), found.marks())).ready(WAIT);
            int last = progress.lastIndex();
            owner.write(new TurnResumed(StreamEvent.VERSION, session, turn, last + 1, 2, Instant.now(),
                    TurnResumed.REASON_WORKER_TAKEOVER, "new-owner", progress.text().length(), false), 0);
            for (int i = 2; i <= 30; i++) {
                owner.write(token(session, turn, last + i, 2, "new" + i), 0);
            }
            owner.finish(new TurnCompleted(StreamEvent.VERSION, session, turn, last + 31, 2, Instant.now(), "stop",
                    Usage.of(0, 1)), 0).get();
            flatOut.join(WAIT.toMillis());

            assertFalse(flatOut.isAlive(), "the old owner learned it was fenced");
            assertTrue(written.get() > last, "the old owner wrote on after the take-over read the log ("
                    + written.get() + " tokens written, " + last + " found)");
            List<SseEvent> seen = live.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertExactlyOnce(seen, last + 31);

            List<SseEvent> replayed = replay(api, session, Map.of());
            assertExactlyOnce(replayed, last + 31);
            assertEquals(ids(seen), ids(replayed), "a replay shows what the live client saw");

            SseEvent middle = seen.get(last / 2);
            List<SseEvent> resumed = replay(api, session, Map.of("Last-Event-ID", middle.id()));
            assertEquals(ids(seen.subList(last / 2 + 1, seen.size())), ids(resumed), "a resume gets exactly the rest");

            JsonNode transcript = api.get("/v1/sessions/" + session + "/transcript").json().get("turns").get(0);
            assertEquals(last + 32, transcript.get("events").size());
            owner.closeForHandover(WAIT);
            ownerWriter.close();
            oldWriter.halt();
        }
    }

    /** Indexes 0..last once each, in order, and no event of the first attempt after the second began. */
    private static void assertExactlyOnce(List<SseEvent> events, int last) {
        assertEquals(IntStream.rangeClosed(0, last).boxed().toList(), PipelineIT.indexes(events));
        PipelineIT.assertStrictlyIncreasingIds(events);
        boolean resumed = false;
        for (SseEvent e : events) {
            int attempt = Json.read(e.data(), JsonNode.class).get("attempt").asInt();
            resumed |= e.event().equals("turn.resumed");
            assertTrue(!resumed || attempt == 2, "nothing of the old owner after the new one's first event: " + e);
        }
    }

    private static List<SseEvent> replay(ApiClient api, String session, Map<String, String> headers) throws Exception {
        try (SseTestClient replay = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"),
                headers)) {
            return replay.awaitEnd(WAIT);
        }
    }

    private static List<String> ids(List<SseEvent> events) {
        return events.stream().map(SseEvent::id).toList();
    }

    private static StreamWriter writer(Topics topics, String transactionalId,
                                       java.util.function.Predicate<TopicPartition> owner) {
        return new StreamWriter(topics.stream(), topics.turns(), transactionalId, producer(transactionalId),
                StreamWriter.Recovery.of(() -> producer(transactionalId), owner,
                        (p, from) -> StreamRecovery.landedFrom(SharedKafka.settings(), new TopicPartition(topics.stream(), p), from)),
                new ConsumerGroupMetadata("race"), Duration.ofMillis(200), Duration.ofSeconds(10)).start();
    }

    private static Producer<String, byte[]> producer(String transactionalId) {
        KafkaSettings kafka = SharedKafka.settings();
        KafkaProducer<String, byte[]> producer = new KafkaProducer<>(kafka.producer(Map.of("linger.ms", 0),
                Map.of("transactional.id", transactionalId, "enable.idempotence", true, "acks", "all")),
                new StringSerializer(), new ByteArraySerializer());
        producer.initTransactions();
        return producer;
    }

    private static TurnStarted started(String session, String turn) {
        return new TurnStarted(StreamEvent.VERSION, session, turn, 0, 1, Instant.now(), "old-owner", "synthetic",
                List.of(), null, "r_race", Instant.now(), null);
    }

    private static TokenChunk token(String session, String turn, int index, int attempt, String text) {
        return new TokenChunk(StreamEvent.VERSION, session, turn, index, attempt, Instant.now(), text);
    }
}
