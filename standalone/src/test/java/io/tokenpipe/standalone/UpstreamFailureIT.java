package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.FakeUpstream;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole stack against a local server playing an OpenAI-compatible model (the one fake in these
 * tests: it stands for a system outside ours). What a real SSE client receives when the model
 * server fails before or in the middle of an answer.
 */
class UpstreamFailureIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dataDir;

    private FakeUpstream upstream;
    private Standalone stack;
    private ApiClient api;

    @BeforeEach
    void setUp() throws Exception {
        upstream = new FakeUpstream();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (stack != null) {
            stack.close();
        }
        upstream.close();
    }

    @Test
    void aConnectionCutMidAnswerIsContinuedWithoutRepeatingText() throws Exception {
        start("prefill");
        CountDownLatch clientHasThem = new CountDownLatch(1);
        upstream.then(FakeUpstream.cutAfter(clientHasThem, false, "Hello", " wor"))
                .then(FakeUpstream.stream("ld", ", again", "!"));
        String session = api.createSession();
        api.submitPrompt(session, "{\"model\":\"llm\",\"prompt\":\"greet me\"}");

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvent(e -> e.data().contains("\" wor\""), WAIT);
            clientHasThem.countDown();
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);

            assertEquals(List.of("turn.started", "token", "token", "turn.resumed", "token", "token", "token", "turn.completed"),
                    events.stream().map(SseEvent::event).toList());
            assertEquals(IntStream.range(0, events.size()).boxed().toList(), PipelineIT.indexes(events));
            assertEquals("Hello world, again!", PipelineIT.text(events));
            JsonNode resumed = Json.MAPPER.readTree(events.get(3).data());
            assertEquals("upstream_retry", resumed.get("reason").asText());
            assertFalse(resumed.get("restart").asBoolean());
            assertEquals(2, resumed.get("attempt").asInt());
        }
        upstream.takeRequest();
        JsonNode retry = upstream.takeRequest().json();
        JsonNode last = retry.get("messages").get(retry.get("messages").size() - 1);
        assertEquals("assistant", last.get("role").asText());
        assertEquals("Hello wor", last.get("content").asText(), "the retry asks to continue exactly what was published");
        assertTrue(retry.get("continue_final_message").asBoolean());
    }

    @Test
    void aBackendThatCannotContinueRestartsTheAnswerAndSaysSo() throws Exception {
        start("restart");
        CountDownLatch clientHasThem = new CountDownLatch(1);
        upstream.then(FakeUpstream.cutAfter(clientHasThem, true, "A first", " draft"))
                .then(FakeUpstream.stream("The", " answer"));
        String session = api.createSession();
        api.submitPrompt(session, "{\"model\":\"llm\",\"prompt\":\"answer me\"}");

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvent(e -> e.data().contains("\" draft\""), WAIT);
            clientHasThem.countDown();
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            JsonNode resumed = Json.MAPPER.readTree(events.stream().filter(e -> e.event().equals("turn.resumed"))
                    .findFirst().orElseThrow().data());
            assertTrue(resumed.get("restart").asBoolean(), "clients are told to discard the partial answer");
            assertEquals(IntStream.range(0, events.size()).boxed().toList(), PipelineIT.indexes(events));
        }
        JsonNode turn = api.get("/v1/sessions/" + session + "/transcript").json().get("turns").get(0);
        assertEquals("The answer", turn.get("answer").asText(), "the transcript's answer is the restarted one");
        assertEquals("completed", turn.get("status").asText());
    }

    @Test
    void failuresBeforeTheFirstTokenAreRetriedInvisibly() throws Exception {
        start("prefill");
        upstream.then(FakeUpstream.status(503, "{\"error\":{\"message\":\"warming up\"}}"))
                .then(FakeUpstream.status(429, "{\"error\":{\"message\":\"slow down\"}}", "Retry-After: 0"))
                .then(FakeUpstream.stream("fine", " now"));
        String session = api.createSession();
        api.submitPrompt(session, "{\"model\":\"llm\",\"prompt\":\"are you there\"}");

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertEquals(List.of("turn.started", "token", "token", "turn.completed"), events.stream().map(SseEvent::event).toList());
            assertEquals("fine now", PipelineIT.text(events));
        }
        assertEquals(3, upstream.requestCount());
    }

    @Test
    void anAuthenticationFailureEndsTheTurnWithAClearCode() throws Exception {
        start("prefill");
        upstream.then(FakeUpstream.status(401, "{\"error\":{\"message\":\"bad key sk-123\"}}"));
        String session = api.createSession();
        api.submitPrompt(session, "{\"model\":\"llm\",\"prompt\":\"hello\"}");

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.failed"), WAIT);
            JsonNode error = Json.MAPPER.readTree(events.getLast().data()).get("error");
            assertEquals("upstream_auth", error.get("code").asText());
            assertFalse(error.get("message").asText().contains("sk-123"), "the key the upstream echoed is not repeated");
        }
        assertEquals(1, upstream.requestCount(), "401 is not retried");
    }

    @Test
    void aStopSequenceSplitAcrossChunksStopsTheTurnAndIsNeverSent() throws Exception {
        start("prefill");
        upstream.then(FakeUpstream.stream("The end is ", "ne", "ar. END", "OF TEXT and more"));
        String session = api.createSession();
        api.submitPrompt(session, "{\"model\":\"llm\",\"prompt\":\"x\",\"stop\":[\"ENDOF\"]}");

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertEquals("The end is near. ", PipelineIT.text(events));
            assertTrue(events.getLast().data().contains("\"finish_reason\":\"stop\""));
        }
    }

    @Test
    void aReasoningModelsThinkingIsStreamedAsReasoningEventsApartFromTheAnswer() throws Exception {
        start("prefill");
        upstream.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.roleChunk());
            exchange.event(FakeUpstream.reasoningChunk("reasoning_content", "Two plus two"));
            exchange.event(FakeUpstream.reasoningChunk("reasoning", " is four."));
            exchange.event(FakeUpstream.contentChunk("Four"));
            exchange.event(FakeUpstream.finishChunk("stop"));
            exchange.done();
        });
        String session = api.createSession();
        api.submitPrompt(session, "{\"model\":\"llm\",\"prompt\":\"2+2?\"}");

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertEquals(List.of("turn.started", "reasoning", "reasoning", "token", "turn.completed"),
                    events.stream().map(SseEvent::event).toList());
            assertEquals(" is four.", Json.MAPPER.readTree(events.get(2).data()).get("text").asText());
            assertEquals("Four", PipelineIT.text(events));
        }
    }

    private void start(String continuation) {
        Topics topics = SharedKafka.freshTopics("upstream", 1);
        Map<String, String> env = new HashMap<>();
        env.put("MODEL_BACKENDS", "fake");
        env.put("BACKEND_FAKE_BASE_URL", upstream.baseUrl());
        env.put("BACKEND_FAKE_MODELS", "llm");
        env.put("BACKEND_FAKE_API_KEY", "sk-123");
        env.put("BACKEND_FAKE_CONTINUATION", continuation);
        env.put("BACKEND_FAKE_RETRY_BASE_MS", "10");
        env.put("BACKEND_FAKE_RETRY_MAX_MS", "50");
        stack = StackFixture.start(topics, dataDir, env);
        api = new ApiClient(stack.port());
    }
}
