package io.tokenpipe.index;

import io.javalin.Javalin;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.KafkaRef;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.SessionCreated;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.event.TurnStarted;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SessionIndexIT {

    @TempDir
    Path stateDir;

    private Topics topics;
    private String applicationId;
    private KafkaProducer<String, byte[]> producer;
    private final List<AutoCloseable> nodes = new ArrayList<>();

    @BeforeEach
    void setUp() {
        topics = SharedKafka.freshTopics("index", 4);
        applicationId = "index-test-" + System.nanoTime();
        producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(), Map.of("acks", "all")),
                new StringSerializer(), new ByteArraySerializer());
    }

    @AfterEach
    void tearDown() throws Exception {
        producer.close();
        for (AutoCloseable node : nodes.reversed()) {
            node.close();
        }
    }

    @Test
    void aSessionIsFoundTheMomentItsCreationIsAcknowledged() throws Exception {
        SessionIndex index = startNode("a");
        index.awaitRunning(Duration.ofSeconds(30));

        for (int i = 0; i < 20; i++) {
            String sessionId = Ids.newSessionId();
            createSession(sessionId);
            IndexAnswer answer = index.lookup(sessionId, true);
            assertTrue(answer.exists(), "session created just before the lookup must be found");
            assertEquals(sessionId, answer.session().sessionId());
        }
    }

    @Test
    void anUnknownSessionIsReportedAsMissing() {
        SessionIndex index = startNode("a");
        index.awaitRunning(Duration.ofSeconds(30));
        createSession(Ids.newSessionId());

        IndexAnswer answer = index.lookup(Ids.newSessionId(), true);

        assertFalse(answer.exists());
    }

    @Test
    void turnsCarryTheOffsetsOfTheirPromptAndEvents() throws Exception {
        SessionIndex index = startNode("a");
        index.awaitRunning(Duration.ofSeconds(30));
        String sessionId = Ids.newSessionId();
        createSession(sessionId);
        String turnId = Ids.turnId(sessionId, "req-1");
        long promptOffset = send(topics.prompts(), sessionId, PromptSubmitted.TYPE, new PromptSubmitted(1, sessionId, turnId,
                "req-1", "hash", "synthetic", List.of(ChatMessage.user("hi")), GenerationParams.DEFAULTS, Instant.now()));
        long started = sendEvent(new TurnStarted(1, sessionId, turnId, 0, 1, Instant.now(), "w", "synthetic",
                List.of(ChatMessage.user("hi")), GenerationParams.DEFAULTS, "req-1", Instant.now(),
                new KafkaRef(topics.prompts(), 0, promptOffset)));
        sendEvent(new TokenChunk(1, sessionId, turnId, 1, 1, Instant.now(), "Hello"));
        long completed = sendEvent(new TurnCompleted(1, sessionId, turnId, 2, 1, Instant.now(), "stop", Usage.of(1, 1)));

        TurnRecord turn = awaitTurnFinished(index, sessionId);

        assertEquals(turnId, turn.turnId());
        assertEquals(promptOffset, (long) turn.promptOffset());
        assertEquals(started, turn.startedOffset());
        assertEquals(completed, turn.endOffset());
        assertEquals(TurnRecord.Status.COMPLETED, turn.status());
        assertEquals("stop", turn.finishReason());
        assertTrue(index.lookup(sessionId, false).streamNextOffset() > completed);
    }

    @Test
    void aTurnsMarksMaySeeTheIndexBeforeItsPromptAndTheResultIsTheSame() throws Exception {
        SessionIndex index = startNode("a");
        index.awaitRunning(Duration.ofSeconds(30));
        String sessionId = Ids.newSessionId();
        String turnId = Ids.turnId(sessionId, "req-1");
        // Marks first, as when the prompts partition is fetched late; then the prompt; then the creation.
        send(topics.turns(), sessionId, TurnMark.TYPE, new TurnMark(1, sessionId, turnId, TurnStarted.TYPE, 40, 1,
                Instant.now(), 7L, "req-1", Instant.now(), null));
        send(topics.turns(), sessionId, TurnMark.TYPE, new TurnMark(1, sessionId, turnId, TurnCompleted.TYPE, 90, 1,
                Instant.now(), null, null, null, "stop"));
        send(topics.prompts(), sessionId, PromptSubmitted.TYPE, new PromptSubmitted(1, sessionId, turnId, "req-1", "hash",
                "synthetic", List.of(ChatMessage.user("hi")), GenerationParams.DEFAULTS, Instant.now()));
        createSession(sessionId);

        TurnRecord turn = awaitTurnFinished(index, sessionId);

        assertEquals(40L, turn.startedOffset(), "the start a mark reported before the prompt was seen is kept");
        assertEquals(90L, turn.endOffset());
        assertEquals("hash", turn.requestHash(), "the prompt's details are added afterwards");
        assertEquals(TurnRecord.Status.COMPLETED, turn.status());
        IndexAnswer answer = index.lookup(sessionId, true);
        assertEquals(1, answer.session().turns().size(), "one turn, not one per record");
        assertTrue(answer.session().createdAt() != null);
        assertTrue(answer.streamNextOffset() > 90, "every stream offset up to the last mark is accounted for");
    }

    @Test
    void everyNodeAnswersForEverySessionWhereverItIsHeld() throws Exception {
        SessionIndex first = startNode("a");
        SessionIndex second = startNode("b");
        first.awaitRunning(Duration.ofSeconds(30));
        second.awaitRunning(Duration.ofSeconds(30));
        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            String sessionId = Ids.newSessionId();
            createSession(sessionId);
            sessions.add(sessionId);
        }

        Set<Integer> partitions = new HashSet<>();
        for (String sessionId : sessions) {
            IndexAnswer fromFirst = first.lookup(sessionId, true);
            IndexAnswer fromSecond = second.lookup(sessionId, true);
            assertTrue(fromFirst.exists() && fromSecond.exists(), "both nodes must find " + sessionId);
            assertEquals(fromFirst.partition(), fromSecond.partition());
            partitions.add(fromFirst.partition());
        }
        assertTrue(partitions.size() > 1, "sessions should spread over partitions held by both nodes");
    }

    private TurnRecord awaitTurnFinished(SessionIndex index, String sessionId) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            IndexAnswer answer = index.lookup(sessionId, true);
            if (answer.exists() && !answer.session().turns().isEmpty() && answer.session().turns().getFirst().finished()) {
                return answer.session().turns().getFirst();
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("turn never finished in the index: " + answer);
            }
            Thread.sleep(20); // polling a derived view that has no change notification
        }
    }

    private SessionIndex startNode(String name) {
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

    private void createSession(String sessionId) {
        send(topics.sessions(), sessionId, SessionCreated.TYPE, new SessionCreated(1, sessionId, Instant.now(), Map.of()));
    }

    /** As a worker does: the event on the stream topic, and its mark (for boundaries) on the turns topic. */
    private long sendEvent(StreamEvent event) {
        long offset = send(topics.stream(), event.sessionId(), event.type(), event);
        TurnMark mark = TurnMark.of(event, offset);
        if (mark != null) {
            send(topics.turns(), event.sessionId(), TurnMark.TYPE, mark);
        }
        return offset;
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
}
