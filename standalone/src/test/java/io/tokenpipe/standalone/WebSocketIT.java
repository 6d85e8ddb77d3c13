package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TestAuth;
import io.tokenpipe.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.WebSocketHandshakeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code /v1/ws}: many sessions on one socket, resumed after a drop, with submit, cancel and refusals. */
class WebSocketIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;

    @BeforeAll
    static void start() {
        Topics topics = SharedKafka.freshTopics("websocket", 3);
        stack = StackFixture.start(topics, dataDir, Map.of("SYNTHETIC_TOKENS_PER_SECOND", "50"));
        api = new ApiClient(stack.port());
    }

    @AfterAll
    static void stop() {
        stack.close();
    }

    @Test
    void manySessionsOnOneSocketEachGetTheirSseEventsOnceInOrder() throws Exception {
        Map<String, String> prompts = new LinkedHashMap<>();
        for (int i = 0; i < 4; i++) {
            prompts.put(api.createSession(), "tell me " + i);
        }
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            for (String session : prompts.keySet()) {
                ws.sendJson("type", "subscribe", "session_id", session, "ref", "sub-" + session);
                assertEquals("ack", ws.awaitReply("sub-" + session, WAIT).get("type").asText());
            }
            int seed = 0;
            for (var prompt : prompts.entrySet()) {
                api.submitPrompt(prompt.getKey(), "{\"prompt\":\"" + prompt.getValue() + "\",\"seed\":" + (++seed) + ",\"options\":{\"tokens\":30}}");
            }
            seed = 0;
            for (var prompt : prompts.entrySet()) {
                String session = prompt.getKey();
                List<SseEvent> events = ws.awaitEvent(session, e -> e.event().equals("turn.completed"), WAIT);
                PipelineIT.assertStrictlyIncreasingIds(events);
                PipelineIT.assertTurnsAreContiguous(events);
                assertEquals(PipelineIT.expectedText(prompt.getValue(), ++seed, 30), PipelineIT.text(events));
                assertSameAsSse(session, events);
            }
        }
    }

    @Test
    void aDroppedSocketResumedFromEachLastIdGivesEveryEventOncePerSession() throws Exception {
        List<String> sessions = List.of(api.createSession(), api.createSession(), api.createSession());
        Map<String, List<SseEvent>> received = new LinkedHashMap<>();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            for (String session : sessions) {
                ws.sendJson("type", "subscribe", "session_id", session, "ref", "a-" + session);
                ws.awaitReply("a-" + session, WAIT);
                // 150 tokens at 50/s: the drop comes mid-turn.
                api.submitPrompt(session, "{\"prompt\":\"long story\",\"seed\":9,\"options\":{\"tokens\":150}}");
            }
            for (String session : sessions) {
                ws.awaitEvent(session, e -> e.event().equals("token"), WAIT);
            }
            ws.abort();
            for (String session : sessions) {
                received.put(session, new ArrayList<>(ws.events(session)));
                assertTrue(received.get(session).stream().noneMatch(e -> e.event().equals("turn.completed")),
                        "the socket dropped mid-turn");
            }
        }
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            for (String session : sessions) {
                List<SseEvent> before = received.get(session);
                ws.sendJson("type", "subscribe", "session_id", session, "ref", "b-" + session,
                        "last_event_id", before.getLast().id());
                ws.awaitReply("b-" + session, WAIT);
            }
            for (String session : sessions) {
                List<SseEvent> all = received.get(session);
                all.addAll(ws.awaitEvent(session, e -> e.event().equals("turn.completed"), WAIT));
                PipelineIT.assertStrictlyIncreasingIds(all); // no duplicate across the drop
                PipelineIT.assertTurnsAreContiguous(all);    // no gap
                assertEquals(PipelineIT.expectedText("long story", 9, 150), PipelineIT.text(all));
                assertSameAsSse(session, all);
            }
        }
    }

    @Test
    void turnsAreSubmittedOnceByKeyAndCancelledOverTheSocket() throws Exception {
        String session = api.createSession();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "s");
            ws.awaitReply("s", WAIT);
            Map<String, Object> turn = Map.of("prompt", "go on and on", "options", Map.of("tokens", 1000));
            ws.sendJson("type", "submit", "session_id", session, "idempotency_key", "k1", "turn", turn, "ref", "t1");
            JsonNode first = ws.awaitReply("t1", WAIT);
            assertEquals("ack", first.get("type").asText(), first.toString());
            assertEquals(202, first.get("status").asInt());
            String turnId = first.get("body").get("turn_id").asText();
            ws.sendJson("type", "submit", "session_id", session, "idempotency_key", "k1", "turn", turn, "ref", "t2");
            JsonNode again = ws.awaitReply("t2", WAIT);
            assertEquals(turnId, again.get("body").get("turn_id").asText(), "the same key names the same turn");
            assertTrue(again.get("body").get("idempotent_replayed").asBoolean());

            ws.awaitEvent(session, e -> e.event().equals("token"), WAIT);
            ws.sendJson("type", "cancel", "session_id", session, "turn_id", turnId, "ref", "c");
            JsonNode cancelled = ws.awaitReply("c", WAIT);
            assertEquals("ack", cancelled.get("type").asText(), cancelled.toString());
            assertEquals(202, cancelled.get("status").asInt());
            List<SseEvent> events = ws.awaitEvent(session, e -> e.event().equals("turn.completed"), WAIT);
            assertEquals("cancelled", Json.read(events.getLast().data(), JsonNode.class).get("finish_reason").asText());
            assertTrue(events.stream().filter(e -> e.event().equals("turn.started")).count() == 1, "one turn for two submits");
            assertTrue(events.stream().filter(e -> e.event().equals("token")).count() < 1000, "stopped early");

            awaitTurnFinishedInIndex(session, turnId); // the index follows the stream a moment later
            ws.sendJson("type", "cancel", "session_id", session, "turn_id", turnId, "ref", "c2");
            assertError(ws.awaitReply("c2", WAIT), 409, "turn_finished");
            ws.sendJson("type", "cancel", "session_id", session, "turn_id", "t_unknown", "ref", "c3");
            assertError(ws.awaitReply("c3", WAIT), 404, "turn_not_found");
        }
    }

    @Test
    void badFramesGetAnErrorFrameAndWriteNothing() throws Exception {
        String session = api.createSession();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            ws.send("not json");
            assertError(ws.awaitFrame(f -> f.path("type").asText().equals("error"), WAIT), 400, "invalid_json");
            ws.sendJson("type", "shout", "session_id", session, "ref", "1");
            assertError(ws.awaitReply("1", WAIT), 400, "unknown_type");
            ws.sendJson("type", "subscribe", "ref", "2");
            assertError(ws.awaitReply("2", WAIT), 400, "missing_field");
            ws.sendJson("type", "subscribe", "session_id", "s_unknown", "ref", "3");
            assertError(ws.awaitReply("3", WAIT), 404, "session_not_found");
            ws.sendJson("type", "subscribe", "session_id", session, "last_event_id", "yesterday", "ref", "4");
            assertError(ws.awaitReply("4", WAIT), 400, "invalid_last_event_id");
            ws.sendJson("type", "subscribe", "session_id", "../etc", "ref", "5");
            assertError(ws.awaitReply("5", WAIT), 400, "invalid_session_id");
            ws.sendJson("type", "submit", "session_id", session, "ref", "6");
            assertError(ws.awaitReply("6", WAIT), 400, "missing_field");
            ws.sendJson("type", "submit", "session_id", session, "turn", Map.of("prompt", "x", "bogus", 1), "ref", "7");
            assertError(ws.awaitReply("7", WAIT), 400, "unknown_field");
            ws.sendJson("type", "cancel", "session_id", session, "turn_id", "t_x", "extra", true, "ref", "8");
            assertError(ws.awaitReply("8", WAIT), 400, "unknown_field");

            // The socket still works, and nothing was written: the session has no turn.
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "ok");
            assertEquals("ack", ws.awaitReply("ok", WAIT).get("type").asText());
            assertEquals(0, api.get("/v1/sessions/" + session).json().get("turns").size());
            assertTrue(ws.events(session).isEmpty());
        }
    }

    @Test
    void credentialsAreCheckedAtTheUpgradeAndForEverySession() throws Exception {
        ExecutionException none = assertThrows(ExecutionException.class,
                () -> WsTestClient.connect(WsTestClient.uri(api.base(), null), null));
        assertEquals(401, assertInstanceOf(WebSocketHandshakeException.class, none.getCause()).getResponse().statusCode());
        ExecutionException keyInUrl = assertThrows(ExecutionException.class,
                () -> WsTestClient.connect(WsTestClient.uri(api.base(), "access_token=" + TestAuth.READ_KEY), null));
        assertEquals(401, assertInstanceOf(WebSocketHandshakeException.class, keyInUrl.getCause()).getResponse().statusCode());

        ApiClient.Response created = api.post("/v1/sessions", "", Map.of());
        String mine = created.json().get("session_id").asText();
        String token = created.json().get("read_token").asText();
        String other = api.createSession();
        String otherTurn = api.submitPrompt(other, "{\"prompt\":\"not yours\",\"options\":{\"tokens\":400}}");

        // A browser cannot set headers: the read token comes in the URL, as for SSE.
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), "access_token=" + token), null)) {
            ws.sendJson("type", "subscribe", "session_id", mine, "ref", "mine");
            assertEquals("ack", ws.awaitReply("mine", WAIT).get("type").asText());
            ws.sendJson("type", "subscribe", "session_id", other, "ref", "other");
            assertError(ws.awaitReply("other", WAIT), 403, "token_for_another_session");
            ws.sendJson("type", "cancel", "session_id", mine, "turn_id", "t_x", "ref", "cancel");
            assertError(ws.awaitReply("cancel", WAIT), 403, "insufficient_scope");
            assertTrue(ws.events(other).isEmpty());

            // One socket, a read token per session: each subscribe may bring its own session's token.
            ApiClient.Response second = api.post("/v1/sessions", "", Map.of());
            String secondId = second.json().get("session_id").asText();
            ws.sendJson("type", "subscribe", "session_id", secondId, "access_token", second.json().get("read_token").asText(), "ref", "second");
            assertEquals("ack", ws.awaitReply("second", WAIT).get("type").asText());
            ws.sendJson("type", "subscribe", "session_id", other, "access_token", token, "ref", "wrong");
            assertError(ws.awaitReply("wrong", WAIT), 403, "token_for_another_session");
            ws.sendJson("type", "subscribe", "session_id", other, "access_token", "forged", "ref", "forged");
            assertError(ws.awaitReply("forged", WAIT), 401, "invalid_credential");
            ws.sendJson("type", "subscribe", "session_id", other, "access_token", TestAuth.READ_KEY, "ref", "key");
            assertError(ws.awaitReply("key", WAIT), 401, "key_in_message");
            assertTrue(ws.events(other).isEmpty());
        }
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null), TestAuth.READ_KEY)) {
            ws.sendJson("type", "subscribe", "session_id", other, "ref", "read");
            assertEquals("ack", ws.awaitReply("read", WAIT).get("type").asText(), "a read key reads any session");
            ws.sendJson("type", "cancel", "session_id", other, "turn_id", otherTurn, "ref", "cancel");
            assertError(ws.awaitReply("cancel", WAIT), 403, "insufficient_scope");
        }
    }

    @Test
    void afterTheUnsubscribeAckNoEventOfThatSessionFollows() throws Exception {
        String session = api.createSession();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null));
             SseTestClient sse = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "s");
            ws.awaitReply("s", WAIT);
            api.submitPrompt(session, "{\"prompt\":\"long\",\"options\":{\"tokens\":100}}");
            ws.awaitEvent(session, e -> e.event().equals("token"), WAIT);
            ws.sendJson("type", "unsubscribe", "session_id", session, "ref", "u");
            assertEquals("ack", ws.awaitReply("u", WAIT).get("type").asText());
            int atAck = ws.events(session).size();
            // The turn goes on (SSE sees it end); the socket hears nothing more of it.
            sse.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertEquals(atAck, ws.events(session).size());
            assertTrue(atAck < sse.events().size(), "unsubscribed mid-turn");

            ws.sendJson("type", "unsubscribe", "session_id", session, "ref", "u2");
            assertError(ws.awaitReply("u2", WAIT), 404, "not_subscribed");
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "again", "last_event_id", ws.events(session).getLast().id());
            ws.awaitReply("again", WAIT);
            List<SseEvent> all = ws.awaitEvent(session, e -> e.event().equals("turn.completed"), WAIT);
            PipelineIT.assertStrictlyIncreasingIds(all);
            assertSameAsSse(session, all);
        }
    }

    @Test
    void aFrameOverTheSizeLimitClosesTheSocketWith1009AndWritesNothing() throws Exception {
        String session = api.createSession();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "1");
            ws.awaitReply("1", WAIT);
            // Jetty refuses a text message over its 64 KiB limit before our handler sees any of it, so the
            // answer is its close code (1009, message too big), not an error frame.
            ws.sendJson("type", "submit", "session_id", session, "turn", Map.of("prompt", "x".repeat(70 * 1024)), "ref", "big");
            assertEquals(1009, ws.awaitClosed(WAIT), "a frame over 64 KiB closes the socket: 1009 message too big");
        }
        assertEquals(0, api.get("/v1/sessions/" + session).json().get("turns").size(), "nothing was submitted");
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "again");
            assertEquals("ack", ws.awaitReply("again", WAIT).get("type").asText(),
                    "a new socket follows the session: the old one's subscription was released");
        }
    }

    @Test
    void aQuietSocketIsPingedAndASecondSubscribeToOneSessionIsRefused() throws Exception {
        String session = api.createSession();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "1");
            ws.awaitReply("1", WAIT);
            ws.sendJson("type", "subscribe", "session_id", session, "ref", "2");
            assertError(ws.awaitReply("2", WAIT), 409, "already_subscribed");
            ws.awaitPings(2, WAIT); // SSE_HEARTBEAT_MS is 500 in these tests
        }
    }

    @Test
    void aDrainingNodeClosesTheSocketWith1012AndTheClientResumesEverySession() throws Exception {
        List<String> sessions = List.of(api.createSession(), api.createSession());
        Map<String, List<SseEvent>> received = new LinkedHashMap<>();
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            for (String session : sessions) {
                ws.sendJson("type", "subscribe", "session_id", session, "ref", session);
                ws.awaitReply(session, WAIT);
                api.submitPrompt(session, "{\"prompt\":\"drain\",\"seed\":3,\"options\":{\"tokens\":120}}");
            }
            for (String session : sessions) {
                ws.awaitEvent(session, e -> e.event().equals("token"), WAIT);
            }
            stack.endStreams();
            assertEquals(1012, ws.awaitClosed(WAIT), "service restart: reconnect");
            for (String session : sessions) {
                received.put(session, new ArrayList<>(ws.events(session)));
            }
        }
        try (WsTestClient ws = WsTestClient.connect(WsTestClient.uri(api.base(), null))) {
            for (String session : sessions) {
                ws.sendJson("type", "subscribe", "session_id", session, "ref", session,
                        "last_event_id", received.get(session).getLast().id());
                ws.awaitReply(session, WAIT);
            }
            for (String session : sessions) {
                List<SseEvent> all = received.get(session);
                all.addAll(ws.awaitEvent(session, e -> e.event().equals("turn.completed"), WAIT));
                PipelineIT.assertStrictlyIncreasingIds(all);
                assertEquals(PipelineIT.expectedText("drain", 3, 120), PipelineIT.text(all));
            }
        }
    }

    private static void awaitTurnFinishedInIndex(String session, String turnId) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String status = null;
        while (System.nanoTime() < deadline) {
            status = api.get("/v1/sessions/" + session + "/turns/" + turnId).json().path("status").asText();
            if (status.equals("completed")) {
                return;
            }
            Thread.sleep(20); // polling a condition with a deadline
        }
        throw new AssertionError("turn " + turnId + " still " + status + " in the index after " + WAIT);
    }

    private static void assertError(JsonNode frame, int status, String code) {
        assertEquals("error", frame.path("type").asText(), frame.toString());
        assertEquals(status, frame.get("error").get("status").asInt(), frame.toString());
        assertEquals(code, frame.get("error").get("code").asText(), frame.toString());
    }

    /** The socket carried exactly the session's SSE events: same ids, types and data, none missing. */
    private static void assertSameAsSse(String session, List<SseEvent> overSocket) throws Exception {
        try (SseTestClient sse = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"))) {
            List<SseEvent> replay = sse.awaitEnd(WAIT);
            assertEquals(replay.stream().map(SseEvent::id).toList(), overSocket.stream().map(SseEvent::id).toList());
            assertEquals(replay.stream().map(SseEvent::event).toList(), overSocket.stream().map(SseEvent::event).toList());
            for (int i = 0; i < replay.size(); i++) {
                assertEquals(Json.MAPPER.readTree(replay.get(i).data()), Json.MAPPER.readTree(overSocket.get(i).data()));
            }
        }
    }
}
