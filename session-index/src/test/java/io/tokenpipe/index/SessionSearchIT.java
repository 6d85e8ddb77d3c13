package io.tokenpipe.index;

import io.javalin.Javalin;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.SessionCreated;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.ErrorInfo;
import io.tokenpipe.common.event.KafkaRef;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Searching sessions on a real broker, through two index members that each hold some of the four
 * partitions: every search must gather both members' shares.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SessionSearchIT {

    private static final Instant T0 = Instant.parse("2026-03-02T14:00:00Z");
    private static final int SESSIONS = 12;

    private Path stateDir;

    private Topics topics;
    private KafkaProducer<String, byte[]> producer;
    private final List<AutoCloseable> nodes = new ArrayList<>();
    private SessionIndex first;
    private SessionIndex second;
    /** Session ids by creation order; session i was created at T0 + i minutes. */
    private final List<String> created = new ArrayList<>();

    @BeforeAll
    void writeSessions() throws Exception {
        stateDir = Files.createTempDirectory("search-it");
        topics = SharedKafka.freshTopics("search", 4);
        producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(), Map.of("acks", "all")),
                new StringSerializer(), new ByteArraySerializer());
        String applicationId = "search-test-" + System.nanoTime();
        first = startNode(applicationId, "a");
        second = startNode(applicationId, "b");
        first.awaitRunning(Duration.ofSeconds(60));
        second.awaitRunning(Duration.ofSeconds(60));
        // Sessions created a minute apart, written out of time order (the index orders them, not the log):
        // even ones belong to customer acme on model "synthetic" and complete, odd ones to globex on
        // "big-model" and fail.
        for (int i = 0; i < SESSIONS; i++) {
            created.add(Ids.newSessionId());
        }
        for (int i = SESSIONS - 1; i >= 0; i--) {
            String sessionId = created.get(i);
            boolean even = i % 2 == 0;
            send(topics.sessions(), sessionId, SessionCreated.TYPE, new SessionCreated(1, sessionId, T0.plusSeconds(60L * i),
                    Map.of("customer", even ? "acme" : "globex", "n", Integer.toString(i))));
            turn(sessionId, even ? "synthetic" : "big-model", even);
        }
        awaitIndexed();
    }

    @AfterAll
    void stop() throws Exception {
        producer.close();
        for (AutoCloseable node : nodes.reversed()) {
            node.close();
        }
    }

    @Test
    void pagingAcrossPageBoundariesSeesEverySessionOnceInCreationOrder() {
        for (SessionIndex node : List.of(first, second)) {
            List<String> seen = new ArrayList<>();
            String cursor = null;
            int pages = 0;
            do {
                SessionPage page = node.find(query(null, null, Map.of(), null, null, 5,
                        cursor == null ? null : SessionQuery.keyOfCursor(cursor)));
                page.sessions().forEach(s -> seen.add(s.sessionId()));
                cursor = page.nextCursor();
                assertTrue(++pages <= 4, "12 sessions in pages of 5 take three pages (and maybe an empty fourth)");
            } while (cursor != null);
            assertEquals(created, seen, "each session once, in creation order, whichever node is asked");
        }
    }

    @Test
    void aTimeRangeIsFromInclusiveToExclusive() {
        SessionPage page = second.find(query(T0.plusSeconds(120), T0.plusSeconds(300), Map.of(), null, null, 50, null));

        assertEquals(created.subList(2, 5), ids(page));
        assertNull(page.nextCursor());
    }

    @Test
    void metadataModelAndStatusFiltersCombine() {
        assertEquals(evens(), ids(first.find(query(null, null, Map.of("customer", "acme"), null, null, 50, null))));
        assertEquals(odds(), ids(first.find(query(null, null, Map.of(), "big-model", null, 50, null))));
        assertEquals(odds(), ids(first.find(query(null, null, Map.of(), null, TurnRecord.Status.FAILED, 50, null))));
        assertEquals(List.of(created.get(3)), ids(second.find(query(null, null, Map.of("customer", "globex", "n", "3"),
                "big-model", TurnRecord.Status.FAILED, 50, null))));
        assertEquals(List.of(), ids(second.find(query(null, null, Map.of("customer", "acme"), "big-model", null, 50, null))));
    }

    @Test
    void aFoundSessionCarriesItsTurnsWithTheirModelAndStatus() {
        SessionRecord session = first.find(query(T0.plusSeconds(60), T0.plusSeconds(61), Map.of(), null, null, 1, null))
                .sessions().getFirst();

        assertEquals(created.get(1), session.sessionId());
        assertEquals(T0.plusSeconds(60), session.createdAt());
        assertEquals("globex", session.metadata().get("customer"));
        assertEquals(1, session.turns().size());
        assertEquals("big-model", session.turns().getFirst().model());
        assertEquals(TurnRecord.Status.FAILED, session.turns().getFirst().status());
    }

    @Test
    void aCursorContinuesAfterTheLastSessionOfItsPage() {
        SessionPage page = first.find(query(null, null, Map.of(), null, null, 4, null));
        assertNotNull(page.nextCursor());
        String key = SessionQuery.keyOfCursor(page.nextCursor());
        assertNotNull(key, "a cursor the index made reads back");
        assertNull(SessionQuery.keyOfCursor("not-a-cursor"));

        SessionPage next = second.find(query(null, null, Map.of(), null, null, 4, key));

        assertEquals(created.subList(4, 8), ids(next));
    }

    private void awaitIndexed() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            SessionPage page = first.find(query(null, null, Map.of(), null, TurnRecord.Status.COMPLETED, 50, null));
            SessionPage failed = first.find(query(null, null, Map.of(), null, TurnRecord.Status.FAILED, 50, null));
            if (page.sessions().size() == SESSIONS / 2 && failed.sessions().size() == SESSIONS / 2) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the index did not show all sessions finished: " + ids(page) + " " + ids(failed));
            }
            Thread.sleep(50); // poll interval while the index catches up
        }
    }

    private static SessionQuery query(Instant from, Instant to, Map<String, String> metadata, String model,
                                      TurnRecord.Status status, int limit, String afterKey) {
        return new SessionQuery(from, to, metadata, model, status, limit, afterKey);
    }

    private static List<String> ids(SessionPage page) {
        return page.sessions().stream().map(SessionRecord::sessionId).toList();
    }

    private List<String> evens() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i += 2) {
            out.add(created.get(i));
        }
        return out;
    }

    private List<String> odds() {
        List<String> out = new ArrayList<>();
        for (int i = 1; i < SESSIONS; i += 2) {
            out.add(created.get(i));
        }
        return out;
    }

    /** A prompt and its turn's start and end, as ingest and a worker write them. */
    private void turn(String sessionId, String model, boolean completes) {
        String turnId = Ids.turnId(sessionId, "req-1");
        Instant now = Instant.now();
        List<ChatMessage> messages = List.of(ChatMessage.user("hi"));
        long prompt = send(topics.prompts(), sessionId, PromptSubmitted.TYPE, new PromptSubmitted(1, sessionId, turnId,
                "req-1", "hash", model, messages, GenerationParams.DEFAULTS, now));
        sendEvent(new TurnStarted(1, sessionId, turnId, 0, 1, now, "w", model, messages, GenerationParams.DEFAULTS, "req-1", now,
                new KafkaRef(topics.prompts(), 0, prompt)));
        sendEvent(completes ? new TurnCompleted(1, sessionId, turnId, 1, 1, now, "stop", Usage.of(1, 1))
                : new TurnFailed(1, sessionId, turnId, 1, 1, now, new ErrorInfo("upstream_error", "boom")));
    }

    private void sendEvent(StreamEvent event) {
        long offset = send(topics.stream(), event.sessionId(), event.type(), event);
        TurnMark mark = TurnMark.of(event, offset);
        if (mark != null) {
            send(topics.turns(), event.sessionId(), TurnMark.TYPE, mark);
        }
    }

    private long send(String topic, String key, String type, Object value) {
        try {
            RecordMetadata meta = producer.send(new ProducerRecord<>(topic, null, key, Json.bytes(value),
                    EventHeaders.withType(type))).get();
            return meta.offset();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private SessionIndex startNode(String applicationId, String name) {
        SessionIndex index = new SessionIndex(SharedKafka.settings(), topics, new IndexSettings(applicationId,
                stateDir.resolve(name), "localhost", Duration.ofSeconds(20), Duration.ofSeconds(6), 0));
        Javalin http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            IndexRoutes.register(config.routes, index);
        }).start(0);
        index.start(http.port());
        nodes.add(http::stop);
        nodes.add(index);
        return index;
    }
}
