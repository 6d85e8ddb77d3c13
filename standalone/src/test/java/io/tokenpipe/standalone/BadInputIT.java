package io.tokenpipe.standalone;

import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TopicProbe;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every bad request gets its 4xx with a JSON error, and nothing reaches Kafka. */
class BadInputIT {

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;
    private static Topics topics;
    private static String session;

    @BeforeAll
    static void start() {
        topics = SharedKafka.freshTopics("bad-input", 2);
        stack = StackFixture.start(topics, dataDir, Map.of("PROMPT_MAX_BYTES", "1000", "MAX_TOKENS_LIMIT", "500"));
        api = new ApiClient(stack.port());
        session = api.createSession();
    }

    @AfterAll
    static void stop() {
        stack.close();
    }

    @Test
    void badTurnRequestsAreRefusedWithTheirCodeAndWriteNothing() {
        Map<TopicPartition, Long> before = TopicProbe.endOffsets(topics);

        expect(400, "malformed_json", turn(session, "{\"prompt\": \"unterminated"));
        expect(400, "malformed_json", turn(session, ""));
        expect(400, "malformed_json", turn(session, "[1, 2]"));
        expect(400, "invalid_request", turn(session, "{}"));
        expect(400, "invalid_request", turn(session, "{\"messages\": []}"));
        expect(400, "invalid_request", turn(session, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}"));
        expect(400, "invalid_request", turn(session, "{\"messages\": [{\"role\": \"user\", \"content\": 42}]}"));
        expect(400, "invalid_request", turn(session, "{\"prompt\": \"hi\", \"max_tokens\": \"ten\"}"));
        expect(400, "invalid_request", turn(session, "{\"prompt\": \"hi\", \"max_tokens\": 501}"));
        expect(400, "invalid_request", turn(session, "{\"prompt\": \"hi\", \"temperature\": 3}"));
        expect(400, "invalid_request", turn(session, "{\"prompt\": \"hi\", \"stop\": [1]}"));
        expect(400, "invalid_request", turn(session, "{\"prompt\": \"hi\", \"seed\": 1.5}"));
        expect(400, "unknown_field", turn(session, "{\"prompt\": \"hi\", \"max_token\": 10}"));
        expect(413, "prompt_too_large", turn(session, "{\"prompt\": \"" + "x".repeat(1001) + "\"}"));
        expect(413, "request_too_large", turn(session, "{\"prompt\": \"" + "x".repeat(200_000) + "\"}"));
        expect(404, "session_not_found", turn("s_doesNotExist", "{\"prompt\": \"hi\"}"));
        expect(400, "invalid_session_id", turn("not.a.session", "{\"prompt\": \"hi\"}"));
        expect(400, "invalid_session_id", turn("s".repeat(65), "{\"prompt\": \"hi\"}"));
        expect(415, "unsupported_media_type", api.post("/v1/sessions/" + session + "/turns", "{\"prompt\": \"hi\"}",
                Map.of("Content-Type", "text/plain")));
        expect(415, "unsupported_media_type", api.post("/v1/sessions/" + session + "/turns", "{\"prompt\": \"hi\"}", Map.of()));
        expect(400, "invalid_request", api.submitTurn(session, "{\"prompt\": \"hi\"}", "has space"));
        expect(400, "invalid_request", api.submitTurn(session, "{\"prompt\": \"hi\", \"client_request_id\": \"a\"}", "b"));
        expect(400, "unknown_field", api.post("/v1/sessions", "{\"meta\": {}}", Map.of("Content-Type", "application/json")));
        expect(400, "invalid_request", api.post("/v1/sessions", "{\"metadata\": {\"k\": 1}}", Map.of("Content-Type", "application/json")));
        expect(404, "not_found", api.post("/v1/nothing-here", "{}", Map.of("Content-Type", "application/json")));

        assertEquals(before, TopicProbe.endOffsets(topics), "a refused request must not write to Kafka");
    }

    @Test
    void badStreamRequestsAreRefusedWithTheirCode() throws Exception {
        expect(400, "invalid_last_event_id", api.get("/v1/sessions/" + session + "/events", Map.of("Last-Event-ID", "abc")));
        expect(400, "invalid_last_event_id", api.get("/v1/sessions/" + session + "/events", Map.of("Last-Event-ID", "-1")));
        expect(400, "invalid_last_event_id", api.get("/v1/sessions/" + session + "/events?last_event_id=1e3"));
        expect(400, "invalid_last_event_id", api.get("/v1/sessions/" + session + "/events", Map.of("Last-Event-ID", "999999999")));
        expect(404, "session_not_found", api.get("/v1/sessions/s_doesNotExist/events"));
        expect(400, "invalid_session_id", api.get("/v1/sessions/bad.id/events"));
        expect(404, "session_not_found", api.get("/v1/sessions/s_doesNotExist/transcript"));
        // An SSE client gets the same answer, as a non-200 status that stops EventSource from retrying.
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/s_doesNotExist/events"))) {
            assertEquals(404, client.status());
            assertTrue(client.body().contains("session_not_found"));
        }
    }

    private static ApiClient.Response turn(String sessionId, String body) {
        return api.submitTurn(sessionId, body, null);
    }

    private static void expect(int status, String code, ApiClient.Response response) {
        assertEquals(status, response.status(), () -> "expected " + status + " " + code + ", got " + response.body());
        assertNotNull(response.json(), () -> "error body must be JSON: " + response.body());
        assertEquals(code, response.errorCode(), response.body());
        assertTrue(response.json().path("error").path("message").asText().length() > 5, "a readable message");
    }
}
