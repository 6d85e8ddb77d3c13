package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.WsTestClient;
import io.tokenpipe.worker.WorkerService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The services as separate processes would run them (here: separate instances in one JVM, each
 * with its own port, Kafka clients and index member): a delivery node restarts or another one takes
 * the client, and the stream goes on where it stopped.
 */
class SeparateServicesIT {

    private static final Duration WAIT = Duration.ofSeconds(40);

    @TempDir
    Path stateDirs;

    private Map<String, String> base;
    private final List<AutoCloseable> running = new ArrayList<>();

    @BeforeEach
    void setUp() {
        Topics topics = SharedKafka.freshTopics("separate", 3);
        base = new HashMap<>(StackFixture.env(topics, stateDirs, Map.of(
                "SYNTHETIC_TOKENS_PER_SECOND", "40",
                "INGEST_HTTP_PORT", "0", "DELIVERY_HTTP_PORT", "0", "WORKER_HTTP_PORT", "0")));
    }

    @AfterEach
    void tearDown() {
        for (AutoCloseable service : running.reversed()) {
            try {
                service.close();
            } catch (Exception e) {
                // already stopped by the test
            }
        }
    }

    @Test
    void aStreamContinuesAcrossARestartOfDeliverySse() throws Exception {
        IngestService ingest = start(IngestService.start(env("ingest")));
        start(WorkerService.start(env("worker")));
        DeliveryService delivery = start(DeliveryService.start(env("delivery-1")));
        ApiClient api = new ApiClient(ingest.port());
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"survive a restart\",\"seed\":11,\"options\":{\"tokens\":90}}");

        List<SseEvent> received = new ArrayList<>();
        try (SseTestClient client = SseTestClient.connect(new ApiClient(delivery.port()).uri(events(session)))) {
            received.addAll(client.awaitEvents(12, WAIT));
            delivery.close(); // ends the stream: the client sees its connection close mid-turn
            client.awaitEnd(WAIT);
            received.clear();
            received.addAll(client.events());
        }
        assertTrue(received.stream().noneMatch(e -> e.event().equals("turn.completed")), "the restart happened mid-turn");

        DeliveryService restarted = start(DeliveryService.start(env("delivery-1")));
        try (SseTestClient resumed = SseTestClient.connect(new ApiClient(restarted.port()).uri(events(session)),
                Map.of("Last-Event-ID", received.getLast().id()))) {
            received.addAll(resumed.awaitEvent(e -> e.event().equals("turn.completed"), WAIT));
        }

        assertEquals(replay(restarted, session), received, "the client got the whole stream once, across the restart");
        assertEquals(PipelineIT.expectedText("survive a restart", 11, 90), PipelineIT.text(received));
    }

    @Test
    void anotherDeliveryNodeResumesTheStreamAndAnswersForSessionsItDoesNotHold() throws Exception {
        IngestService ingest = start(IngestService.start(env("ingest")));
        start(WorkerService.start(env("worker")));
        DeliveryService first = start(DeliveryService.start(env("delivery-a")));
        DeliveryService second = start(DeliveryService.start(env("delivery-b")));
        first.index().awaitRunning(WAIT);
        second.index().awaitRunning(WAIT);
        ApiClient api = new ApiClient(ingest.port());

        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            String session = api.createSession();
            api.submitPrompt(session, "{\"prompt\":\"node hop " + i + "\",\"seed\":" + i + ",\"options\":{\"tokens\":40}}");
            sessions.add(session);
        }
        for (String session : sessions) {
            List<SseEvent> received = new ArrayList<>();
            try (SseTestClient onFirst = SseTestClient.connect(new ApiClient(first.port()).uri(events(session)))) {
                // Only the first five: the turn may be complete already, and the resume must bring the rest.
                received.addAll(onFirst.awaitEvents(5, WAIT).subList(0, 5));
            }
            try (SseTestClient onSecond = SseTestClient.connect(new ApiClient(second.port()).uri(events(session)),
                    Map.of("Last-Event-ID", received.getLast().id()))) {
                received.addAll(onSecond.awaitEvent(e -> e.event().equals("turn.completed"), WAIT));
            }
            assertEquals(replay(first, session), received, "session " + session);
        }
    }

    @Test
    void aDeliveryNodeTakesSubmitAndCancelOnItsSocketWithIngestsOwnRules() throws Exception {
        IngestService ingest = start(IngestService.start(env("ingest")));
        start(WorkerService.start(env("worker")));
        DeliveryService delivery = start(DeliveryService.start(env("delivery")));
        delivery.index().awaitRunning(WAIT);
        ApiClient api = new ApiClient(ingest.port());
        String session = api.createSession();

        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(new ApiClient(delivery.port()).base(), null))) {
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "sub");
            assertEquals("ack", ws.awaitReply("sub", WAIT).path("type").asText());
            Map<String, Object> turn = Map.of("prompt", "over the socket", "seed", 4, "options", Map.of("tokens", 400));
            ws.sendJson("type", "submit", "session_id", session, "turn", turn, "idempotency_key", "k-1", "ref", "submit");
            JsonNode accepted = ws.awaitReply("submit", WAIT);
            assertEquals(202, accepted.path("status").asInt(), accepted.toString());
            String turnId = accepted.at("/body/turn_id").asText();
            ws.sendJson("type", "submit", "session_id", session, "turn", turn, "idempotency_key", "k-1", "ref", "again");
            JsonNode replayed = ws.awaitReply("again", WAIT);
            assertEquals(turnId, replayed.at("/body/turn_id").asText(), "one key, one turn: " + replayed);
            assertTrue(replayed.at("/body/idempotent_replayed").asBoolean(), replayed.toString());

            ws.awaitEvent(session, e -> e.event().equals("token"), WAIT);
            ws.sendJson("type", "cancel", "session_id", session, "turn_id", turnId, "ref", "cancel");
            assertEquals(202, ws.awaitReply("cancel", WAIT).path("status").asInt());
            List<SseEvent> events = ws.awaitEvent(session, e -> e.event().equals("turn.completed"), WAIT);
            assertTrue(events.getLast().data().contains("\"finish_reason\":\"cancelled\""), events.getLast().data());
        }
        // Ingest-api sees the turn the delivery node wrote, once.
        JsonNode turns = api.get("/v1/sessions/" + session).json().get("turns");
        assertEquals(1, turns.size(), turns.toString());
    }

    private static String events(String session) {
        return "/v1/sessions/" + session + "/events";
    }

    private static List<SseEvent> replay(DeliveryService delivery, String session) throws Exception {
        try (SseTestClient replay = SseTestClient.connect(new ApiClient(delivery.port()).uri(events(session) + "?follow=false"))) {
            return replay.awaitEnd(WAIT);
        }
    }

    private Env env(String node) {
        Map<String, String> env = new HashMap<>(base);
        env.put("STATE_DIR", stateDirs.resolve(node).toString());
        env.put("WORKER_ID", node);
        return Env.of(env);
    }

    private <T extends AutoCloseable> T start(T service) {
        running.add(service);
        return service;
    }
}
