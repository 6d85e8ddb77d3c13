package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /v1/chat/completions} on a whole stack: an SSE client that drops mid-turn resumes with
 * {@code Last-Event-ID} in the same chunk format, nothing lost or doubled; bad requests get OpenAI's
 * error object.
 */
class ChatCompletionsIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String DONE = "[DONE]";

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;

    @BeforeAll
    static void start() {
        stack = StackFixture.start(SharedKafka.freshTopics("chat", 2), dataDir, Map.of("SYNTHETIC_TOKENS_PER_SECOND", "40"));
        api = new ApiClient(stack.port());
    }

    @AfterAll
    static void stop() {
        stack.close();
    }

    @Test
    void aClientThatDropsMidTurnResumesWithLastEventIdAndGetsEveryChunkOnce() throws Exception {
        String body = "{\"model\":\"synthetic\",\"messages\":[{\"role\":\"user\",\"content\":\"resume me\"}],"
                + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"seed\":5,\"options\":{\"tokens\":60}}";
        List<SseEvent> before;
        String resumeUrl;
        try (SseTestClient first = SseTestClient.post(api.uri("/v1/chat/completions"), body, Map.of())) {
            assertEquals(200, first.status());
            resumeUrl = first.header("Tokenpipe-Resume-Url");
            assertNotNull(resumeUrl, "the response names its resume URL");
            assertNotNull(first.header("Tokenpipe-Session-Id"));
            before = first.awaitEvents(8, WAIT); // 60 tokens at 40/s: the turn is far from over
        } // dropped, as a client whose network went away
        assertFalse(before.stream().anyMatch(e -> e.data().equals(DONE)), "dropped mid-turn: " + before);
        String lastId = before.getLast().id();

        List<SseEvent> after;
        try (SseTestClient resumed = SseTestClient.connect(api.uri(resumeUrl), Map.of("Last-Event-ID", lastId))) {
            assertEquals(200, resumed.status());
            after = resumed.awaitEvent(e -> e.data().equals(DONE), WAIT);
        }

        List<SseEvent> all = new ArrayList<>(before);
        all.addAll(after);
        List<JsonNode> chunks = chunks(all);
        assertEquals(PipelineIT.expectedText("resume me", 5, 60), content(chunks), "nothing lost, nothing doubled");
        List<Long> ids = all.stream().filter(e -> !e.data().equals(DONE) && chunkWithChoices(e)).map(SseEvent::offset).toList();
        for (int i = 1; i < ids.size(); i++) {
            assertTrue(ids.get(i) > ids.get(i - 1), "chunk ids strictly increase across the resume: " + ids);
        }
        assertEquals(1, chunks.stream().filter(c -> c.path("choices").path(0).path("delta").has("role")).count(),
                "one role chunk");
        assertEquals(List.of("stop"), chunks.stream().map(c -> c.path("choices").path(0).path("finish_reason"))
                .filter(f -> !f.isMissingNode() && !f.isNull()).map(JsonNode::asText).toList(), "one finish chunk");
        JsonNode usage = chunks.getLast().get("usage");
        assertEquals(60, usage.get("completion_tokens").asInt(), "the usage chunk comes last: " + chunks.getLast());
        assertEquals(1, chunks.stream().map(c -> c.get("id").asText()).distinct().count(), "one completion id");
        assertEquals(DONE, after.getLast().data());
    }

    @Test
    void resumingAfterTheFinishChunkStillEndsTheStreamProperly() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"short\"}],\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"options\":{\"tokens\":3}}";
        List<SseEvent> whole;
        String resumeUrl;
        try (SseTestClient client = SseTestClient.post(api.uri("/v1/chat/completions"), body, Map.of())) {
            resumeUrl = client.header("Tokenpipe-Resume-Url");
            whole = client.awaitEnd(WAIT);
        }
        assertEquals(DONE, whole.getLast().data());
        SseEvent finish = whole.stream().filter(e -> e.data().contains("\"finish_reason\":\"stop\"")).findFirst().orElseThrow();

        try (SseTestClient resumed = SseTestClient.connect(api.uri(resumeUrl), Map.of("Last-Event-ID", finish.id()))) {
            List<SseEvent> rest = resumed.awaitEnd(WAIT);
            assertEquals(2, rest.size(), "only the usage chunk and [DONE]: " + rest);
            assertEquals(0, Json.MAPPER.readTree(rest.get(0).data()).get("choices").size());
            assertEquals(DONE, rest.get(1).data());
        }
        try (SseTestClient replay = SseTestClient.connect(api.uri(resumeUrl))) {
            assertEquals(whole.stream().map(SseEvent::data).toList(), replay.awaitEnd(WAIT).stream().map(SseEvent::data).toList(),
                    "without Last-Event-ID the completion streams again from its start, identically");
        }
    }

    @Test
    void aWholeCompletionWaitsForTheTurnAndCanBeRetrievedAgain() {
        ApiClient.Response response = api.post("/v1/chat/completions",
                "{\"model\":\"synthetic\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                        + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"parts \"},{\"type\":\"text\",\"text\":\"joined\"}]}],"
                        + "\"max_tokens\":6}",
                Map.of("Content-Type", "application/json"));
        assertEquals(200, response.status(), response.body());
        JsonNode completion = response.json();
        assertEquals("chat.completion", completion.get("object").asText());
        assertEquals("length", completion.at("/choices/0/finish_reason").asText());
        assertEquals(6, completion.at("/usage/completion_tokens").asInt());
        assertFalse(completion.at("/choices/0/message/content").asText().isEmpty());

        ApiClient.Response again = api.get("/v1/chat/completions/" + completion.get("id").asText());
        assertEquals(200, again.status(), again.body());
        assertEquals(completion, again.json(), "retrieving the completion gives the same object");
    }

    @Test
    void refusedRequestsGetOpenAisErrorObjectAndWriteNothing() {
        assertOpenAiError(post("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0.3}"), 400, "unknown_field", "top_p");
        assertOpenAiError(post("{\"messages\":[]}"), 400, "invalid_request", "messages");
        assertOpenAiError(post("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}"), 400, "invalid_request", "n");
        assertOpenAiError(post("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}"), 400, "invalid_request", "max_tokens");
        assertOpenAiError(post("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{\"include_usage\":true}}"),
                400, "invalid_request", "stream_options");
        assertOpenAiError(post("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}"), 400, "invalid_request", "messages[0].role");
        assertOpenAiError(post("not json"), 400, "malformed_json", null);
        assertOpenAiError(api.post("/v1/chat/completions", "{}", Map.of("Content-Type", "text/plain")), 415,
                "unsupported_media_type", null);
        assertOpenAiError(api.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                Map.of("Content-Type", "application/json", "Tokenpipe-Session-Id", "s_nobody")), 404, "session_not_found", null);
        assertOpenAiError(api.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                Map.of("Content-Type", "application/json", "Tokenpipe-Session-Id", "not a/session")), 400, "invalid_session_id", null);
        assertOpenAiError(api.get("/v1/chat/completions/chatcmpl-nonsense"), 404, "completion_not_found", null);
        assertOpenAiError(api.get("/v1/chat/completions/chatcmpl-s_nobody.t_nothing"), 404, "session_not_found", null);
        String session = api.createSession();
        assertOpenAiError(api.get("/v1/chat/completions/chatcmpl-" + session + ".t_nothing"), 404, "completion_not_found", null);
        assertEquals(0, api.get("/v1/sessions/" + session).json().get("turns").size(), "nothing was written");
    }

    @Test
    void aResumeFromAPositionTheStreamNeverHadIsRefused() {
        ApiClient.Response whole = post("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"options\":{\"tokens\":2}}");
        String id = whole.json().get("id").asText();
        ApiClient.Response refused = api.get("/v1/chat/completions/" + id + "?stream=true",
                Map.of("Last-Event-ID", "999999999"));
        assertOpenAiError(refused, 400, "invalid_last_event_id", null);
    }

    private static ApiClient.Response post(String body) {
        return api.post("/v1/chat/completions", body, Map.of("Content-Type", "application/json"));
    }

    private static void assertOpenAiError(ApiClient.Response response, int status, String code, String param) {
        assertEquals(status, response.status(), response.body());
        JsonNode error = response.json().get("error");
        assertNotNull(error, response.body());
        assertEquals(code, error.get("code").asText(), response.body());
        assertFalse(error.get("message").asText().isEmpty());
        assertTrue(error.has("type") && error.has("param"), "OpenAI's four fields: " + response.body());
        if (param == null) {
            assertTrue(error.get("param").isNull() || status == 400, response.body());
        } else {
            assertEquals(param, error.get("param").asText(), response.body());
        }
    }

    private static boolean chunkWithChoices(SseEvent e) {
        return Json.read(e.data(), JsonNode.class).path("choices").size() > 0;
    }

    private static List<JsonNode> chunks(List<SseEvent> events) {
        return events.stream().filter(e -> !e.data().equals(DONE)).map(e -> Json.read(e.data(), JsonNode.class)).toList();
    }

    private static String content(List<JsonNode> chunks) {
        StringBuilder text = new StringBuilder();
        for (JsonNode chunk : chunks) {
            JsonNode content = chunk.path("choices").path(0).path("delta").path("content");
            if (content.isTextual()) {
                text.append(content.asText());
            }
        }
        return text.toString();
    }
}
