package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Cancelling a turn stops it promptly; disconnecting does not. */
class CancelIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;

    @BeforeAll
    static void start() {
        Topics topics = SharedKafka.freshTopics("cancel", 2);
        stack = StackFixture.start(topics, dataDir, Map.of("SYNTHETIC_TOKENS_PER_SECOND", "20"));
        api = new ApiClient(stack.port());
    }

    @AfterAll
    static void stop() {
        stack.close();
    }

    @Test
    void aCancelledTurnEndsPromptlyAsCancelledAndTheSessionGoesOn() throws Exception {
        String session = api.createSession();
        // 400 tokens at 20/s would take 20 s.
        String turn = api.submitPrompt(session, "{\"prompt\":\"go on and on\",\"options\":{\"tokens\":400}}");
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvents(6, WAIT);
            long asked = System.nanoTime();
            ApiClient.Response cancel = api.post("/v1/sessions/" + session + "/turns/" + turn + "/cancel", "", Map.of());
            assertEquals(202, cancel.status(), cancel.body());

            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            long tookMillis = (System.nanoTime() - asked) / 1_000_000;
            JsonNode completed = Json.MAPPER.readTree(events.getLast().data());
            assertEquals("cancelled", completed.get("finish_reason").asText());
            long tokens = events.stream().filter(e -> e.event().equals("token")).count();
            assertTrue(tokens < 400, "generation stopped early: " + tokens + " tokens");
            assertTrue(tookMillis < 10_000, "the turn ended within seconds of the request, not at its natural end: " + tookMillis + " ms");
            PipelineIT.assertTurnsAreContiguous(events);

            String next = api.submitPrompt(session, "{\"prompt\":\"and now?\",\"options\":{\"tokens\":5}}");
            List<SseEvent> after = client.awaitEvent(e -> e.event().equals("turn.completed") && e.data().contains(next), WAIT);
            assertTrue(after.getLast().data().contains("\"finish_reason\":\"stop\""));
        }
        assertEquals(409, api.post("/v1/sessions/" + session + "/turns/" + turn + "/cancel", "", Map.of()).status(),
                "a finished turn cannot be cancelled");
    }

    @Test
    void aQueuedTurnCancelledBeforeItStartsNeverCallsTheModel() throws Exception {
        String session = api.createSession();
        String first = api.submitPrompt(session, "{\"prompt\":\"first\",\"options\":{\"tokens\":30}}");
        String second = api.submitPrompt(session, "{\"prompt\":\"second\",\"options\":{\"tokens\":30}}");
        assertEquals(202, api.post("/v1/sessions/" + session + "/turns/" + second + "/cancel", "", Map.of()).status());

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed") && e.data().contains(second), WAIT);
            List<SseEvent> ofSecond = events.stream().filter(e -> e.data().contains(second)).toList();
            assertEquals(List.of("turn.started", "turn.completed"), ofSecond.stream().map(SseEvent::event).toList());
            assertTrue(ofSecond.getLast().data().contains("\"finish_reason\":\"cancelled\""));
            List<SseEvent> ofFirst = events.stream().filter(e -> e.data().contains(first)).toList();
            assertTrue(ofFirst.getLast().data().contains("\"finish_reason\":\"stop\""), "the first turn is untouched");
        }
    }

    @Test
    void disconnectingDoesNotCancel() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"keep going\",\"seed\":4,\"options\":{\"tokens\":40}}");
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvents(3, WAIT);
        }
        try (SseTestClient later = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = later.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertTrue(events.getLast().data().contains("\"finish_reason\":\"stop\""));
            assertEquals(PipelineIT.expectedText("keep going", 4, 40), PipelineIT.text(events));
        }
    }

    @Test
    void cancellingUnknownTurnsIsRefused() {
        String session = api.createSession();
        ApiClient.Response response = api.post("/v1/sessions/" + session + "/turns/t_unknown/cancel", "", Map.of());
        assertEquals(404, response.status());
        assertEquals("turn_not_found", response.errorCode());
        assertEquals(404, api.post("/v1/sessions/s_unknown/turns/t_x/cancel", "", Map.of()).status());
    }
}
