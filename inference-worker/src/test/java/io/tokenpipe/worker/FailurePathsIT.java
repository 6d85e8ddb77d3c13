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
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.TokenSink;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a worker does when something other than the happy path happens, against a real broker: every
 * turn ends, no record stops a partition, and a worker that cannot go on says so and leaves its group.
 */
class FailurePathsIT {

    private Topics topics;
    private String group;
    private KafkaProducer<String, byte[]> producer;
    private final List<AutoCloseable> running = new ArrayList<>();

    @BeforeEach
    void setUp() {
        topics = SharedKafka.freshTopics("failure", 1);
        group = "workers-" + System.nanoTime();
        producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(), Map.of("acks", "all")),
                new StringSerializer(), new ByteArraySerializer());
    }

    @AfterEach
    void tearDown() throws Exception {
        producer.close();
        for (AutoCloseable closeable : running) {
            closeable.close();
        }
    }

    /** A model that breaks in a different place each time it is asked, outside the model call proper. */
    private static final ChatModel BROKEN = new ChatModel() {
        @Override
        public ModelResult generate(ChatRequest request, TokenSink sink) throws InterruptedException {
            String how = request.messages().getLast().content();
            sink.accept("partial ");
            return switch (how) {
                case "no result" -> null; // the runner reads the finish reason of nothing
                case "huge chunk" -> {
                    sink.accept(HUGE);
                    yield new ModelResult("stop", null);
                }
                default -> throw new AssertionError(how);
            };
        }

        @Override
        public boolean continuesAnswers(String model) {
            if (model.equals("throws-early")) {
                throw new IllegalStateException("broken before the turn even started");
            }
            return true;
        }
    };

    /** 2.5 MiB of text in one piece, as a non-streaming backend may hand over a whole answer. */
    private static final String HUGE = IntStream.range(0, 2_500_000).mapToObj(i -> i % 1000 == 999 ? "\n" : "é")
            .collect(Collectors.joining());

    @Test
    void everyTurnEndsWithAFinalEventWhateverBreaksInsideTheWorker() throws Exception {
        startWorker(new ModelRegistry(Map.of("broken", BROKEN, "throws-early", BROKEN)));

        PromptSubmitted noResult = submit("s_noresult" + System.nanoTime(), "broken", "no result");
        PromptSubmitted early = submit("s_early" + System.nanoTime(), "throws-early", "anything");

        for (PromptSubmitted prompt : List.of(noResult, early)) {
            List<StreamEvent> events = awaitTurn(prompt);
            TurnFailed failed = assertInstanceOf(TurnFailed.class, events.getLast(), prompt.model() + ": " + events);
            assertEquals("internal_error", failed.error().code());
            assertEquals(IntStream.range(0, events.size()).boxed().toList(), events.stream().map(StreamEvent::index).toList(),
                    "indexes stay contiguous");
        }
        awaitCommittedPast(1); // both prompts are done: the committed position moved past them
    }

    @Test
    void aChunkLargerThanTheBrokersRecordLimitIsSplitIntoSeveralTokenEvents() throws Exception {
        startWorker(new ModelRegistry(Map.of("broken", BROKEN)));

        PromptSubmitted prompt = submit("s_huge" + System.nanoTime(), "broken", "huge chunk");

        List<StreamEvent> events = awaitTurn(prompt);
        assertInstanceOf(TurnCompleted.class, events.getLast(), () -> "the turn completed, not " + events.getLast().type());
        assertEquals(IntStream.range(0, events.size()).boxed().toList(), events.stream().map(StreamEvent::index).toList());
        String text = events.stream().filter(e -> e instanceof TokenChunk).map(e -> ((TokenChunk) e).text())
                .collect(Collectors.joining());
        assertEquals("partial " + HUGE, text);
        assertTrue(events.stream().filter(e -> e instanceof TokenChunk).count() > 3, "the huge chunk went out in pieces");
    }

    @Test
    void aWorkerWhoseRecordsTheBrokerRefusesReportsItselfDownAndLeavesItsGroup() throws Exception {
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            // A stream topic whose limit is below this worker's events (an operator's mistake, a smaller
            // broker default): retrying such a record would stall the partition for ever.
            admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topics.stream()),
                    List.of(new AlterConfigOp(new ConfigEntry(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "1000"),
                            AlterConfigOp.OpType.SET)))).all().get();
        }
        Map<String, String> env = env("refused");
        WorkerService worker = WorkerService.start(Env.of(env));
        running.add(worker);
        await(() -> health(worker.port()) == 200, "the worker is up");

        submit("s_refused" + System.nanoTime(), "synthetic", "x".repeat(3_000)); // its turn.started is too large

        await(() -> health(worker.port()) == 503, "health turns red");
        assertNotNull(worker.consumer().failure());
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            await(() -> members(admin) == 0, "the worker left its group, so its partitions go to the others");
        }
    }

    @Test
    void poisonPromptsAreSkippedCountedAndTheirOffsetsCommitted() throws Exception {
        startWorker(new ModelRegistry(Map.of("synthetic", new io.tokenpipe.worker.model.SyntheticModel(
                new io.tokenpipe.worker.model.SyntheticSettings(Duration.ZERO, 0)))));
        String session = "s_poison" + System.nanoTime();
        long skippedBefore = SkippedRecords.count("prompt_consumer");

        produce(topics.prompts(), session, null);
        produce(topics.prompts(), session, "not json".getBytes(StandardCharsets.UTF_8));
        PromptSubmitted valid = prompt(session, "synthetic", "hello");
        produce(topics.prompts(), session, Json.bytes(withVersion(valid, 99)));
        produce(topics.prompts(), session, Json.bytes(new PromptSubmitted(1, session, null, "r", "h", "synthetic",
                List.of(ChatMessage.user("no turn id")), null, Instant.now())));
        produce(topics.prompts(), session, Json.bytes(valid));

        List<StreamEvent> events = awaitTurn(valid);
        assertInstanceOf(TurnCompleted.class, events.getLast());
        assertEquals(4, SkippedRecords.count("prompt_consumer") - skippedBefore);
        awaitCommittedPast(4);
    }

    // --- helpers ----------------------------------------------------------------------------------

    private Map<String, String> env(String id) {
        Map<String, String> env = new HashMap<>(SharedKafka.env(topics));
        env.put(WorkerSettings.WORKER_ID.name(), id + "-" + System.nanoTime());
        env.put(WorkerSettings.GROUP_ID.name(), group);
        env.put(WorkerSettings.HTTP_PORT.name(), "0");
        env.put(WorkerSettings.SESSION_TIMEOUT_MS.name(), "3000");
        return env;
    }

    private void startWorker(ModelRegistry models) {
        Env env = Env.of(env("failures"));
        running.add(WorkerService.startWorker(KafkaSettings.from(env), Topics.from(env), WorkerSettings.from(env), models));
    }

    private PromptSubmitted prompt(String sessionId, String model, String content) {
        String requestId = Ids.newRequestId();
        return new PromptSubmitted(1, sessionId, Ids.turnId(sessionId, requestId), requestId, "h", model,
                List.of(ChatMessage.user(content)), new GenerationParams(null, null, List.of(), 1L, Map.of("tokens", 5)),
                Instant.now());
    }

    private static PromptSubmitted withVersion(PromptSubmitted p, int v) {
        return new PromptSubmitted(v, p.sessionId(), p.turnId() + "v", p.clientRequestId(), p.requestHash(), p.model(),
                p.messages(), p.params(), p.submittedAt());
    }

    private PromptSubmitted submit(String sessionId, String model, String content) throws Exception {
        PromptSubmitted prompt = prompt(sessionId, model, content);
        produce(topics.prompts(), sessionId, Json.bytes(prompt));
        return prompt;
    }

    /** A record as any producer may write it, valid or not. */
    private void produce(String topic, String key, byte[] value) throws Exception {
        producer.send(new ProducerRecord<>(topic, null, key, value, EventHeaders.withType(PromptSubmitted.TYPE))).get();
    }

    private List<StreamEvent> awaitTurn(PromptSubmitted prompt) {
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(),
                Map.of("isolation.level", KafkaSettings.STREAM_ISOLATION, "max.partition.fetch.bytes", 4 * 1024 * 1024)),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = List.of(new TopicPartition(topics.stream(), 0));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            List<StreamEvent> events = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    StreamEvent e = Json.read(r.value(), StreamEvent.class);
                    if (e.turnId().equals(prompt.turnId())) {
                        events.add(e);
                        if (e.terminal()) {
                            return events;
                        }
                    }
                }
            }
            throw new AssertionError("turn " + prompt.turnId() + " did not end within 30 s; it wrote " + events.size()
                    + " events");
        }
    }

    private void awaitCommittedPast(long offset) throws Exception {
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            await(() -> {
                try {
                    OffsetAndMetadata committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                            .get(new TopicPartition(topics.prompts(), 0));
                    return committed != null && committed.offset() > offset;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, "the committed prompt offset passes " + offset);
        }
    }

    private int members(Admin admin) {
        try {
            return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get().members().size();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static int health(int port) {
        try {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/health"))
                    .build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (Exception e) {
            return -1;
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 30 s: " + what);
            }
            Thread.sleep(50); // polling a condition that has no notification
        }
    }
}
