package io.tokenpipe.worker;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.worker.kafka.PromptConsumer;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Workers against a real broker: answers, commits, hand-over and take-over after a crash. */
class WorkerIT {

    private Topics topics;
    private String group;
    private KafkaProducer<String, byte[]> producer;
    private final List<WorkerService> workers = new ArrayList<>();

    @BeforeEach
    void setUp() {
        topics = SharedKafka.freshTopics("worker", 2);
        group = "workers-" + System.nanoTime();
        producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(), Map.of("acks", "all")),
                new StringSerializer(), new ByteArraySerializer());
    }

    @AfterEach
    void tearDown() {
        producer.close();
        workers.forEach(WorkerService::close);
    }

    @Test
    void aPromptIsAnsweredWithStartedTokensAndCompletedInOrder() throws Exception {
        startWorker("w1", 0);
        PromptSubmitted prompt = submit(Ids.newSessionId(), 25, 0);

        List<StreamEvent> events = awaitTurn(prompt, Duration.ofSeconds(30));

        assertInstanceOf(TurnStarted.class, events.getFirst());
        TurnCompleted completed = assertInstanceOf(TurnCompleted.class, events.getLast());
        assertEquals("stop", completed.finishReason());
        assertEquals(IntStream.range(0, events.size()).boxed().toList(), events.stream().map(StreamEvent::index).toList());
        assertEquals(expectedText(prompt), text(events));
        assertEquals(25, events.stream().filter(e -> e instanceof TokenChunk).count());
        awaitCommitted(prompt);
    }

    @Test
    void turnsOfOneSessionAreAnsweredOneAfterAnotherInSubmissionOrder() throws Exception {
        startWorker("w1", 200);
        String session = Ids.newSessionId();
        List<PromptSubmitted> prompts = List.of(submit(session, 5, 1), submit(session, 5, 2), submit(session, 5, 3));

        Map<String, List<StreamEvent>> byTurn = new LinkedHashMap<>();
        List<StreamEvent> all = readUntil(e -> e.terminal() && e.turnId().equals(prompts.getLast().turnId()), Duration.ofSeconds(30));
        for (StreamEvent e : all) {
            byTurn.computeIfAbsent(e.turnId(), k -> new ArrayList<>()).add(e);
        }

        assertEquals(prompts.stream().map(PromptSubmitted::turnId).toList(), List.copyOf(byTurn.keySet()),
                "turns start in submission order");
        String previous = null;
        for (StreamEvent e : all) {
            if (previous != null && !e.turnId().equals(previous)) {
                assertTrue(byTurn.get(previous).getLast().terminal(), "a turn ends before the next one starts");
            }
            previous = e.turnId();
        }
    }

    @Test
    void aCrashedWorkersTurnIsFinishedByAnotherWithEveryIndexExactlyOnce() throws Exception {
        WorkerService doomed = startWorker("doomed", 20);
        PromptSubmitted prompt = submit(Ids.newSessionId(), 60, 7);
        readUntil(e -> e instanceof TokenChunk && e.turnId().equals(prompt.turnId()) && e.index() >= 10, Duration.ofSeconds(30));

        doomed.halt();
        workers.remove(doomed);
        startWorker("survivor", 20);

        List<StreamEvent> events = awaitTurn(prompt, Duration.ofSeconds(60));
        assertEquals(IntStream.range(0, events.size()).boxed().toList(), events.stream().map(StreamEvent::index).toList(),
                "every index of the turn exactly once, in order");
        assertTrue(events.stream().anyMatch(e -> e instanceof TurnResumed), "the take-over is in the stream");
        assertEquals(expectedText(prompt), text(events), "no token lost or doubled");
        assertEquals(1, events.stream().filter(StreamEvent::terminal).count());
    }

    @Test
    void aWorkerJoiningTheGroupLetsRunningTurnsFinishWhereTheyRun() throws Exception {
        Env env = env("first", 20).with(Map.of(WorkerSettings.REBALANCE_GRACE_MS.name(), "30000"));
        WorkerService first = WorkerService.start(env);
        workers.add(first);
        // One turn on each partition: whichever the joining worker gets, a running turn moves.
        List<PromptSubmitted> prompts = new ArrayList<>();
        for (int partition = 0; partition < 2; partition++) {
            prompts.add(submit(sessionOn(partition), 120, 11 + partition));
        }
        for (PromptSubmitted prompt : prompts) {
            readUntil(e -> e instanceof TokenChunk && e.turnId().equals(prompt.turnId()) && e.index() >= 3, Duration.ofSeconds(30));
        }

        WorkerService joining = startWorker("joining", 20);
        awaitCondition(() -> first.consumer().partitionsTakenAway() > 0, "the group moved a partition away from the first worker");

        for (PromptSubmitted prompt : prompts) {
            List<StreamEvent> events = awaitTurn(prompt, Duration.ofSeconds(60));
            assertTrue(events.stream().noneMatch(e -> e instanceof TurnResumed),
                    () -> "finished where it ran: " + events.stream().map(e -> e.type() + "/" + e.attempt()).distinct().toList());
            assertEquals(expectedText(prompt), text(events));
        }
        awaitCondition(() -> !joining.consumer().readyPartitions().isEmpty(), "the joining worker took its partition");
    }

    private String sessionOn(int partition) {
        while (true) {
            String session = Ids.newSessionId();
            if (io.tokenpipe.common.kafka.Partitioning.partitionOf(session, 2) == partition) {
                return session;
            }
        }
    }

    private static void awaitCondition(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 30 s: " + what);
            }
            Thread.sleep(20); // polling state that has no notification
        }
    }

    @Test
    void aGracefullyStoppedWorkerHandsItsTurnOver() throws Exception {
        Env env = env("leaving", 20).with(Map.of(WorkerSettings.SHUTDOWN_GRACE_MS.name(), "0"));
        WorkerService leaving = WorkerService.start(env);
        workers.add(leaving);
        PromptSubmitted prompt = submit(Ids.newSessionId(), 60, 9);
        readUntil(e -> e instanceof TokenChunk && e.turnId().equals(prompt.turnId()) && e.index() >= 5, Duration.ofSeconds(30));

        WorkerService staying = startWorker("staying", 20);
        leaving.close();
        workers.remove(leaving);

        List<StreamEvent> events = awaitTurn(prompt, Duration.ofSeconds(60));
        assertEquals(IntStream.range(0, events.size()).boxed().toList(), events.stream().map(StreamEvent::index).toList());
        assertEquals(expectedText(prompt), text(events));
        assertTrue(staying.consumer().healthy());
    }

    private WorkerService startWorker(String id, int tokensPerSecond) {
        WorkerService worker = WorkerService.start(env(id, tokensPerSecond));
        workers.add(worker);
        return worker;
    }

    private Env env(String id, int tokensPerSecond) {
        Map<String, String> env = new HashMap<>(SharedKafka.env(topics));
        env.put(WorkerSettings.WORKER_ID.name(), id);
        env.put(WorkerSettings.GROUP_ID.name(), group);
        env.put(WorkerSettings.HTTP_PORT.name(), "0");
        env.put(WorkerSettings.SESSION_TIMEOUT_MS.name(), "3000");
        env.put(SyntheticSettings.TTFT_MS.name(), "0");
        env.put(SyntheticSettings.TOKENS_PER_SECOND.name(), Integer.toString(tokensPerSecond));
        return Env.of(env);
    }

    private PromptSubmitted submit(String sessionId, int tokens, long seed) throws Exception {
        String requestId = Ids.newRequestId();
        PromptSubmitted prompt = new PromptSubmitted(1, sessionId, Ids.turnId(sessionId, requestId), requestId, "h",
                "synthetic", List.of(ChatMessage.user("tell me something")),
                new GenerationParams(null, null, List.of(), seed, Map.of("tokens", tokens)), Instant.now());
        producer.send(new ProducerRecord<>(topics.prompts(), null, sessionId, Json.bytes(prompt),
                EventHeaders.withType(PromptSubmitted.TYPE))).get();
        return prompt;
    }

    private static String expectedText(PromptSubmitted prompt) throws Exception {
        StringBuilder text = new StringBuilder();
        new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0)).generate(
                new ChatRequest(prompt.model(), prompt.messages(), prompt.params(), ""), t -> {
                    text.append(t);
                    return true;
                });
        return text.toString();
    }

    private static String text(List<StreamEvent> events) {
        return events.stream().filter(e -> e instanceof TokenChunk).map(e -> ((TokenChunk) e).text()).collect(Collectors.joining());
    }

    private List<StreamEvent> awaitTurn(PromptSubmitted prompt, Duration timeout) {
        List<StreamEvent> all = readUntil(e -> e.terminal() && e.turnId().equals(prompt.turnId()), timeout);
        return all.stream().filter(e -> e.turnId().equals(prompt.turnId())).toList();
    }

    /** Reads the whole stream topic as a client would until one matches. */
    private List<StreamEvent> readUntil(java.util.function.Predicate<StreamEvent> until, Duration timeout) {
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(),
                Map.of("isolation.level", KafkaSettings.STREAM_ISOLATION)), new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = List.of(new TopicPartition(topics.stream(), 0), new TopicPartition(topics.stream(), 1));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            List<StreamEvent> events = new ArrayList<>();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    StreamEvent e = Json.read(r.value(), StreamEvent.class);
                    events.add(e);
                    if (until.test(e)) {
                        return events;
                    }
                }
            }
            throw new AssertionError("condition not met within " + timeout + "; read " + events.size() + " events");
        }
    }

    private void awaitCommitted(PromptSubmitted prompt) throws Exception {
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (true) {
                Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().get();
                long committed = offsets.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
                if (committed >= 1) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("prompt offset never committed: " + offsets);
                }
                Thread.sleep(50); // polling the group's committed offsets, which have no change notification
            }
        }
    }
}
