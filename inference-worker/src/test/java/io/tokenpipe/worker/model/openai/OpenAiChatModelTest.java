package io.tokenpipe.worker.model.openai;

import io.tokenpipe.testing.FakeUpstream;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.log.OutputClosedException;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.TokenSink;
import io.tokenpipe.worker.turn.StopSequenceFilter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OpenAiChatModelTest {

    private static final List<ChatMessage> QUESTION = List.of(
            new ChatMessage("system", "Be brief."), ChatMessage.user("Tell me a story."));

    private FakeUpstream fake;
    private final List<OpenAiChatModel> models = new ArrayList<>();
    private final List<String> received = new CopyOnWriteArrayList<>();
    private final TokenSink recorder = text -> received.add(text);

    /** One exchange first, so class loading does not eat into the short timeouts of the tests. */
    @BeforeAll
    static void warmUp() throws Exception {
        try (FakeUpstream warm = new FakeUpstream()) {
            warm.then(FakeUpstream.stream("warm"));
            BackendSettings settings = BackendSettings.from(Env.of(Map.of("BACKEND_WARM_BASE_URL", warm.baseUrl())), "WARM");
            try (OpenAiChatModel model = new OpenAiChatModel(settings)) {
                model.generate(request(), text -> true);
            }
        }
    }

    @BeforeEach
    void startFake() throws Exception {
        fake = new FakeUpstream();
    }

    @AfterEach
    void stop() throws Exception {
        models.forEach(OpenAiChatModel::close);
        fake.close();
    }

    /** A backend named FAKE on the fake upstream with test-sized timeouts; {@code extra} as "SUFFIX", "value" pairs. */
    private OpenAiChatModel backend(String... extra) {
        Map<String, String> env = new HashMap<>(Map.of(
                "BACKEND_FAKE_BASE_URL", fake.baseUrl(),
                "BACKEND_FAKE_CONNECT_TIMEOUT_MS", "1000",
                "BACKEND_FAKE_FIRST_TOKEN_TIMEOUT_MS", "3000",
                "BACKEND_FAKE_IDLE_TIMEOUT_MS", "3000",
                "BACKEND_FAKE_TURN_TIMEOUT_MS", "8000"));
        for (int i = 0; i < extra.length; i += 2) {
            env.put("BACKEND_FAKE_" + extra[i], extra[i + 1]);
        }
        OpenAiChatModel model = new OpenAiChatModel(BackendSettings.from(Env.of(env), "FAKE"));
        models.add(model);
        return model;
    }

    private static ChatRequest request() {
        return new ChatRequest("fake", QUESTION, GenerationParams.DEFAULTS, "");
    }

    private ModelException failure(OpenAiChatModel model) {
        return assertThrows(ModelException.class, () -> model.generate(request(), recorder));
    }

    // ---- streaming ----

    @Test
    void streamsEachDeltaWithTheUsageAndFinishReason() throws Exception {
        fake.then(FakeUpstream.stream("Once", " upon", " a time"));
        ModelResult result = backend().generate(request(), recorder);
        assertEquals(List.of("Once", " upon", " a time"), received);
        assertEquals("stop", result.finishReason());
        assertEquals(new Usage(7, 3, 10), result.usage());
        assertTrue(fake.scriptFailures().isEmpty(), fake.scriptFailures().toString());
    }

    @Test
    void anEventWhoseDataSpansSeveralLinesIsJoinedWithNewlinesAsTheSseSpecSays() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            // One chunk's JSON over three data: lines of one event; parsed line by line it is not JSON.
            exchange.raw("data: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"one\"}}\ndata: ]}\n\n");
            exchange.event(FakeUpstream.contentChunk(" two"));
            exchange.event(FakeUpstream.finishChunk("stop"));
            exchange.done();
        });
        ModelResult result = backend().generate(request(), recorder);
        assertEquals(List.of("one", " two"), received);
        assertEquals("stop", result.finishReason());
    }

    @Test
    void maxTokensGoesUpstreamInTheFieldTheBackendIsConfiguredFor() throws Exception {
        ChatRequest limited = new ChatRequest("fake", QUESTION,
                new GenerationParams(12, null, List.of(), null, Map.of()), "");
        fake.then(FakeUpstream.stream("a"));
        backend().generate(limited, recorder);
        JsonNode plain = fake.takeRequest().json();
        assertEquals(12, plain.path("max_tokens").asInt());
        assertFalse(plain.has("max_completion_tokens"));

        fake.then(FakeUpstream.stream("b"));
        backend("MAX_TOKENS_FIELD", "max_completion_tokens").generate(limited, recorder);
        JsonNode newer = fake.takeRequest().json();
        assertEquals(12, newer.path("max_completion_tokens").asInt());
        assertFalse(newer.has("max_tokens"), newer.toString());

        assertThrows(ConfigException.class, () -> backend("MAX_TOKENS_FIELD", "max_output_tokens"));
    }

    @Test
    void reasoningDeltasGoToTheSinkAsReasoningAndNeverIntoTheAnswer() throws Exception {
        List<String> thoughts = new CopyOnWriteArrayList<>();
        List<String> order = new CopyOnWriteArrayList<>();
        TokenSink sink = new TokenSink() {
            @Override
            public boolean accept(String text) {
                received.add(text);
                order.add("answer:" + text);
                return true;
            }

            @Override
            public boolean reasoning(String text) {
                thoughts.add(text);
                order.add("thought:" + text);
                return true;
            }
        };
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.roleChunk());
            exchange.event("{\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"Let me think.\"}}]}");
            exchange.event("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\" Two is even.\"}}]}");
            exchange.event("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Even.\",\"reasoning_content\":\"\"}}]}");
            exchange.event(FakeUpstream.finishChunk("stop"));
            exchange.done();
        });
        ModelResult result = backend().generate(request(), sink);
        assertEquals(List.of("Let me think.", " Two is even."), thoughts);
        assertEquals(List.of("Even."), received);
        assertEquals(List.of("thought:Let me think.", "thought: Two is even.", "answer:Even."), order);
        assertEquals("stop", result.finishReason());
    }

    @Test
    void handsEachDeltaToTheSinkBeforeTheNextArrives() throws Exception {
        CountDownLatch firstSeen = new CountDownLatch(1);
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.contentChunk("first"));
            exchange.await(firstSeen); // the rest only once the client has handed "first" on
            exchange.event(FakeUpstream.contentChunk(" second"));
            exchange.event(FakeUpstream.finishChunk("stop"));
            exchange.done();
        });
        TokenSink sink = text -> {
            received.add(text);
            firstSeen.countDown();
            return true;
        };
        backend().generate(request(), sink);
        assertEquals(List.of("first", " second"), received);
        assertTrue(fake.scriptFailures().isEmpty(), "a buffering client would have stalled the fake: "
                + fake.scriptFailures());
    }

    @Test
    void skipsCommentsEventLinesEmptyDeltasAndCarriageReturns() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            exchange.raw(": keep-alive\r\n\r\n");
            exchange.raw("event: message\r\ndata: " + FakeUpstream.roleChunk() + "\r\n\r\n");
            exchange.raw("data:" + FakeUpstream.contentChunk("caf\u00e9") + "\r\r");
            exchange.raw("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null}}]}\n\n");
            exchange.raw("data: " + FakeUpstream.contentChunk(" \uD83D\uDE00 ok") + "\n\n");
            exchange.event(FakeUpstream.finishChunk("length"));
            exchange.done();
        });
        ModelResult result = backend().generate(request(), recorder);
        assertEquals(List.of("caf\u00e9", " \uD83D\uDE00 ok"), received);
        assertEquals("length", result.finishReason());
        assertNull(result.usage());
    }

    @Test
    void mapsFinishReasonsKeepingContentFilter() throws Exception {
        for (String[] reason : new String[][] {{"content_filter", "content_filter"}, {"tool_calls", "stop"},
                {"length", "length"}, {"eos", "stop"}}) {
            fake.then(exchange -> {
                exchange.startStream();
                exchange.event(FakeUpstream.contentChunk("x"));
                exchange.event(FakeUpstream.finishChunk(reason[0]));
                exchange.done();
            });
            assertEquals(reason[1], backend().generate(request(), recorder).finishReason(), reason[0]);
        }
    }

    @Test
    void aStreamThatEndsAfterItsFinishReasonWithoutDoneIsComplete() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.contentChunk("all"));
            exchange.event(FakeUpstream.finishChunk("stop"));
            exchange.event(FakeUpstream.usageChunk(3, 1));
            exchange.end();
        });
        ModelResult result = backend().generate(request(), recorder);
        assertEquals(new ModelResult("stop", new Usage(3, 1, 4)), result);
    }

    @Test
    void acceptsAServerThatAnswersWithOneJsonObject() throws Exception {
        fake.then(FakeUpstream.status(200, """
                {"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",
                "content":"whole answer"},"finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}
                """));
        ModelResult result = backend().generate(request(), recorder);
        assertEquals(List.of("whole answer"), received);
        assertEquals(new ModelResult("length", new Usage(4, 2, 6)), result);
    }

    // ---- the request ----

    @Test
    void sendsTheConversationParametersOptionsAndHeaders() throws Exception {
        fake.then(FakeUpstream.stream("ok"));
        OpenAiChatModel model = backend("API_KEY", "sk-test-123", "UPSTREAM_MODEL", "llama3.1:8b",
                "HEADERS", "X-Org: acme; X-Trace:  t-1 ", "FORWARD_OPTIONS", "top_p,stream,max_tokens");
        Map<String, Object> options = new HashMap<>();
        options.put("top_p", 0.9);
        options.put("n", 8); // not in FORWARD_OPTIONS: would multiply the cost
        options.put("service_tier", "priority");
        options.put("tokens", 10);
        options.put("tokens_per_second", 5);
        options.put("time_to_first_token_ms", 100);
        options.put("stream", false); // may not switch streaming off
        options.put("max_tokens", 999); // params win
        GenerationParams params = new GenerationParams(64, 0.5, List.of("STOP", "\n\n"), 42L, options);
        model.generate(new ChatRequest("llama3", QUESTION, params, ""), recorder);

        FakeUpstream.Request request = fake.takeRequest();
        assertEquals("POST", request.method());
        assertEquals("/v1/chat/completions", request.path());
        assertEquals("Bearer sk-test-123", request.header("Authorization"));
        assertEquals("acme", request.header("X-Org"));
        assertEquals("t-1", request.header("X-Trace"));
        assertTrue(request.header("Content-Type").startsWith("application/json"));
        assertEquals("text/event-stream", request.header("Accept"));

        JsonNode body = request.json();
        assertEquals("llama3.1:8b", body.path("model").asText());
        assertEquals(Json("""
                [{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me a story."}]"""),
                body.path("messages"));
        assertTrue(body.path("stream").asBoolean());
        assertTrue(body.path("stream_options").path("include_usage").asBoolean());
        assertEquals(64, body.path("max_tokens").asInt());
        assertEquals(0.5, body.path("temperature").asDouble());
        assertEquals(Json("[\"STOP\",\"\\n\\n\"]"), body.path("stop"));
        assertEquals(42L, body.path("seed").asLong());
        assertEquals(0.9, body.path("top_p").asDouble());
        for (String absent : List.of("tokens", "tokens_per_second", "time_to_first_token_ms", "continue_final_message",
                "add_generation_prompt", "n", "service_tier")) {
            assertFalse(body.has(absent), absent + " must not be sent");
        }
    }

    @Test
    void forwardsNoOptionUpstreamUnlessTheBackendAllowsIt() throws Exception {
        fake.then(FakeUpstream.stream("ok"));
        Map<String, Object> options = Map.of("top_p", 0.9, "n", 8, "store", true, "max_completion_tokens", 100000);
        backend().generate(new ChatRequest("llama3", QUESTION, new GenerationParams(64, null, null, null, options), ""), recorder);
        JsonNode body = fake.takeRequest().json();
        for (String absent : options.keySet()) {
            assertFalse(body.has(absent), absent + " must not be sent without BACKEND_FAKE_FORWARD_OPTIONS");
        }
        assertEquals(64, body.path("max_tokens").asInt());
    }

    @Test
    void leavesOutUnsetParametersAndUsesTheTurnsModelName() throws Exception {
        fake.then(FakeUpstream.stream("ok"));
        backend().generate(new ChatRequest("qwen2.5", QUESTION, GenerationParams.DEFAULTS, ""), recorder);
        FakeUpstream.Request request = fake.takeRequest();
        JsonNode body = request.json();
        assertEquals("qwen2.5", body.path("model").asText());
        for (String absent : List.of("max_tokens", "temperature", "stop", "seed")) {
            assertFalse(body.has(absent), absent + " must not be sent when unset");
        }
        assertNull(request.header("Authorization"));
    }

    @Test
    void prefillContinuesTheDeliveredTextAsAnAssistantMessage() throws Exception {
        fake.then(FakeUpstream.stream(" a time"));
        OpenAiChatModel model = backend();
        assertTrue(model.continuesAnswers());
        model.generate(new ChatRequest("fake", QUESTION, GenerationParams.DEFAULTS, "Once upon"), recorder);
        assertEquals(List.of(" a time"), received);
        JsonNode body = fake.takeRequest().json();
        JsonNode messages = body.path("messages");
        assertEquals(3, messages.size());
        assertEquals(Json("{\"role\":\"assistant\",\"content\":\"Once upon\"}"), messages.get(2));
        assertTrue(body.path("continue_final_message").asBoolean());
        assertTrue(body.has("add_generation_prompt") && !body.path("add_generation_prompt").asBoolean());
    }

    @Test
    void restartAsksTheWholeQuestionAgain() throws Exception {
        fake.then(FakeUpstream.stream("Once", " upon"));
        OpenAiChatModel model = backend("CONTINUATION", "restart");
        assertFalse(model.continuesAnswers());
        model.generate(new ChatRequest("fake", QUESTION, GenerationParams.DEFAULTS, "Once up"), recorder);
        assertEquals(List.of("Once", " upon"), received);
        JsonNode body = fake.takeRequest().json();
        assertEquals(2, body.path("messages").size());
        assertFalse(body.has("continue_final_message"));
        assertFalse(body.has("add_generation_prompt"));
    }

    // ---- stop sequences ----

    @Test
    void passesAStopSequenceSplitAcrossChunksThroughUnchanged() throws Exception {
        fake.then(FakeUpstream.stream("Hello ST", "OP world"));
        backend().generate(request(), recorder);
        assertEquals(List.of("Hello ST", "OP world"), received);
    }

    @Test
    void theWorkersStopFilterCatchesASplitStopSequenceAndTheUpstreamIsAbandoned() throws Exception {
        fake.then(FakeUpstream.stallAfter("Hello ST", "OP world"));
        StopSequenceFilter filter = new StopSequenceFilter(List.of("STOP"), recorder);
        ModelResult result = backend().generate(request(), filter);
        assertTrue(filter.stopped());
        assertEquals("Hello ", String.join("", received));
        assertEquals("stop", result.finishReason());
        assertTrue(fake.awaitHangUp(), "the backend must close the connection once the sink says stop");
    }

    // ---- failures ----

    @Test
    void aSlowFirstTokenTimesOut() throws Exception {
        fake.then(FakeUpstream.stallAfter()); // headers and a role chunk, then nothing
        long start = System.nanoTime();
        ModelException e = failure(backend("FIRST_TOKEN_TIMEOUT_MS", "300"));
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        assertEquals("upstream_timeout", e.code());
        assertTrue(e.retryable());
        assertFalse(e.afterFirstToken());
        assertTrue(e.getMessage().contains("first-token"), e.getMessage());
        assertTrue(elapsedMs >= 250 && elapsedMs < 2500, "timed out after " + elapsedMs + " ms");
        fake.takeRequest();
        assertTrue(fake.awaitHangUp(), "the timed-out exchange must be closed");
    }

    @Test
    void aServerThatNeverAnswersTimesOutBeforeTheFirstToken() throws Exception {
        fake.then(FakeUpstream.Exchange::holdUntilClientHangsUp);
        ModelException e = failure(backend("FIRST_TOKEN_TIMEOUT_MS", "300"));
        assertEquals("upstream_timeout", e.code());
        assertTrue(e.retryable());
        assertFalse(e.afterFirstToken());
        assertTrue(fake.awaitHangUp());
    }

    @Test
    void aGapLongerThanTheIdleTimeoutFailsAfterTheFirstToken() throws Exception {
        fake.then(FakeUpstream.stallAfter("one", " two"));
        long start = System.nanoTime();
        ModelException e = failure(backend("IDLE_TIMEOUT_MS", "300")); // first-token timeout: 3000
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        assertTrue(elapsedMs >= 250 && elapsedMs < 2000, "timed out after " + elapsedMs + " ms");
        assertEquals(List.of("one", " two"), received);
        assertEquals("upstream_timeout", e.code());
        assertTrue(e.retryable());
        assertTrue(e.afterFirstToken());
        assertTrue(e.getMessage().contains("idle"), e.getMessage());
        assertTrue(fake.awaitHangUp());
    }

    @Test
    void timeSpentInTheSinkIsNotUpstreamIdleness() throws Exception {
        CountDownLatch sinkDone = new CountDownLatch(1);
        CountDownLatch slowSinkReleased = new CountDownLatch(1);
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.contentChunk("a"));
            exchange.await(sinkDone); // the next chunk only after the slow sink is done
            exchange.event(FakeUpstream.contentChunk("b"));
            exchange.event(FakeUpstream.finishChunk("stop"));
            exchange.done();
        });
        TokenSink slow = text -> {
            received.add(text);
            if (text.equals("a")) {
                // longer than the idle timeout: the watchdog looks, sees the sink busy, and waits
                slowSinkReleased.await(700, TimeUnit.MILLISECONDS);
                sinkDone.countDown();
            }
            return true;
        };
        ModelResult result = backend("IDLE_TIMEOUT_MS", "250").generate(request(), slow);
        assertEquals(List.of("a", "b"), received);
        assertEquals("stop", result.finishReason());
    }

    @Test
    void theTurnTimeoutIsNotRetryable() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.contentChunk("a"));
            exchange.holdUntilClientHangsUp();
        });
        ModelException e = failure(backend("TURN_TIMEOUT_MS", "300"));
        assertEquals("upstream_timeout", e.code());
        assertFalse(e.retryable());
        assertTrue(e.afterFirstToken());
        assertTrue(e.getMessage().contains("turn timeout"), e.getMessage());
    }

    @Test
    void rateLimitedCarriesRetryAfterInSeconds() throws Exception {
        fake.then(FakeUpstream.status(429, "{\"error\":{\"message\":\"slow down\"}}", "Retry-After: 7"));
        ModelException e = failure(backend());
        assertEquals("rate_limited", e.code());
        assertTrue(e.retryable());
        assertEquals(Duration.ofSeconds(7), e.retryAfter());
        assertFalse(e.afterFirstToken());
    }

    @Test
    void rateLimitedCarriesRetryAfterAsAnHttpDate() throws Exception {
        fake.then(FakeUpstream.status(429, "{}", "Retry-After: Wed, 21 Oct 2015 07:28:30 GMT"));
        Clock clock = Clock.fixed(Instant.parse("2015-10-21T07:28:00Z"), ZoneOffset.UTC);
        BackendSettings settings = backend().settings();
        ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor();
        try (HttpClient client = OpenAiChatModel.defaultClient(settings)) {
            OpenAiChatModel model = new OpenAiChatModel(settings, client, watchdog, clock);
            ModelException e = assertThrows(ModelException.class, () -> model.generate(request(), recorder));
            assertEquals("rate_limited", e.code());
            assertEquals(Duration.ofSeconds(30), e.retryAfter());
            client.shutdownNow();
        } finally {
            watchdog.shutdownNow();
        }
    }

    @Test
    void aServerErrorIsRetryable() throws Exception {
        fake.then(FakeUpstream.status(500, "{\"error\":{\"message\":\"CUDA out of memory\"}}"));
        ModelException e = failure(backend());
        assertEquals("upstream_error", e.code());
        assertTrue(e.retryable());
        assertTrue(e.getMessage().contains("500") && e.getMessage().contains("CUDA out of memory"), e.getMessage());
    }

    @Test
    void refusedCredentialsAreNotRetryableAndTheUpstreamMessageIsNotRepeated() throws Exception {
        fake.then(FakeUpstream.status(401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-test-123\"}}"));
        ModelException e = failure(backend("API_KEY", "sk-test-123"));
        assertEquals("upstream_auth", e.code());
        assertFalse(e.retryable());
        assertFalse(e.getMessage().contains("sk-test-123"), e.getMessage());
    }

    @Test
    void aRejectedRequestCarriesTheUpstreamMessage() throws Exception {
        String longTail = "x".repeat(2000);
        fake.then(FakeUpstream.status(400, "{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens "
                + longTail + "\",\"type\":\"BadRequestError\",\"code\":400}}"));
        ModelException e = failure(backend());
        assertEquals("upstream_rejected", e.code());
        assertFalse(e.retryable());
        assertTrue(e.getMessage().contains("maximum context length is 8192 tokens"), e.getMessage());
        assertTrue(e.getMessage().length() < 500, "truncated: " + e.getMessage().length());
    }

    @Test
    void aConnectionClosedMidAnswerIsARetryableDisconnectAfterTheFirstToken() throws Exception {
        assertCutMidAnswer(false);
    }

    @Test
    void aConnectionResetMidAnswerIsARetryableDisconnectAfterTheFirstToken() throws Exception {
        assertCutMidAnswer(true);
    }

    private void assertCutMidAnswer(boolean reset) throws Exception {
        CountDownLatch threeSeen = new CountDownLatch(3);
        fake.then(FakeUpstream.cutAfter(threeSeen, reset, "one", " two", " three"));
        ModelException e = assertThrows(ModelException.class, () -> backend().generate(request(), text -> {
            received.add(text);
            threeSeen.countDown();
            return true;
        }));
        assertEquals(List.of("one", " two", " three"), received);
        assertEquals("upstream_disconnected", e.code());
        assertTrue(e.retryable());
        assertTrue(e.afterFirstToken());
        assertTrue(e.getMessage().contains("mid-answer"), e.getMessage());
    }

    @Test
    void aStreamEndingBeforeAnyTextIsADisconnectBeforeTheFirstToken() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.roleChunk());
            exchange.end(); // clean end of body, but no [DONE] and no finish reason
        });
        ModelException e = failure(backend());
        assertEquals("upstream_disconnected", e.code());
        assertTrue(e.retryable());
        assertFalse(e.afterFirstToken());
    }

    @Test
    void aMalformedJsonLineIsAProtocolError() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.contentChunk("fine"));
            exchange.raw("data: {\"choices\":[{\"delta\":{\"content\":\"bro\n\n");
            exchange.done();
        });
        ModelException e = failure(backend());
        assertEquals(List.of("fine"), received);
        assertEquals("upstream_protocol", e.code());
        assertTrue(e.afterFirstToken());
    }

    @Test
    void anErrorObjectInsideTheStreamFails() throws Exception {
        fake.then(exchange -> {
            exchange.startStream();
            exchange.event(FakeUpstream.contentChunk("par"));
            exchange.event("{\"error\":{\"object\":\"error\",\"message\":\"engine died\",\"type\":\"InternalServerError\",\"code\":500}}");
            exchange.done();
        });
        ModelException e = failure(backend());
        assertEquals("upstream_error", e.code());
        assertTrue(e.retryable());
        assertTrue(e.afterFirstToken());
        assertTrue(e.getMessage().contains("engine died"), e.getMessage());
    }

    @Test
    void somethingThatIsNotAnEventStreamIsAProtocolError() throws Exception {
        fake.then(exchange -> exchange.respond(200, "text/html", "<html>\n<body>It works!</body>\n</html>\n"));
        ModelException e = failure(backend());
        assertEquals("upstream_protocol", e.code());
        assertFalse(e.retryable());
    }

    @Test
    void anUnreachableServerIsRetryable() throws Exception {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        OpenAiChatModel model = backend("BASE_URL", "http://127.0.0.1:" + closedPort + "/v1");
        ModelException e = assertThrows(ModelException.class, () -> model.generate(request(), recorder));
        assertEquals("upstream_unreachable", e.code());
        assertTrue(e.retryable());
        assertFalse(e.afterFirstToken());
    }

    // ---- the sink and the calling thread ----

    @Test
    void theSinksOwnExceptionsPassThroughUntouchedAndTheUpstreamIsAbandoned() throws Exception {
        fake.then(FakeUpstream.stallAfter("a", "b"));
        OutputClosedException closed = new OutputClosedException("partition handed over");
        OutputClosedException thrown = assertThrows(OutputClosedException.class,
                () -> backend().generate(request(), text -> {
                    throw closed;
                }));
        assertSame(closed, thrown);
        assertTrue(fake.awaitHangUp());
    }

    @Test
    void interruptingAStreamingCallAbortsItPromptly() throws Exception {
        fake.then(FakeUpstream.stallAfter("first"));
        CountDownLatch firstSeen = new CountDownLatch(1);
        OpenAiChatModel model = backend();
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread caller = Thread.ofVirtual().start(() -> {
            try {
                model.generate(request(), text -> {
                    firstSeen.countDown();
                    return true;
                });
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        assertTrue(firstSeen.await(5, TimeUnit.SECONDS));
        awaitParked(caller); // blocked reading the body, not between lines
        long start = System.nanoTime();
        caller.interrupt();
        Throwable thrown = outcome.get(2, TimeUnit.SECONDS);
        assertInstanceOf(InterruptedException.class, thrown);
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1), "not prompt");
        assertTrue(fake.awaitHangUp(), "the interrupted exchange must be closed");
    }

    @Test
    void interruptingACallWaitingForTheResponseAbortsIt() throws Exception {
        CountDownLatch requestArrived = new CountDownLatch(1);
        fake.then(exchange -> {
            requestArrived.countDown();
            exchange.holdUntilClientHangsUp();
        });
        OpenAiChatModel model = backend();
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread caller = Thread.ofVirtual().start(() -> {
            try {
                model.generate(request(), recorder);
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        assertTrue(requestArrived.await(5, TimeUnit.SECONDS));
        awaitParked(caller); // blocked waiting for the response
        caller.interrupt();
        assertInstanceOf(InterruptedException.class, outcome.get(2, TimeUnit.SECONDS));
        assertTrue(fake.awaitHangUp(), "the pending request must be cancelled");
    }

    /** Waits (without sleeping) until {@code thread} is blocked. */
    private static void awaitParked(Thread thread) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (thread.getState() != Thread.State.WAITING) {
            assertTrue(System.nanoTime() < deadline, "the caller never blocked: " + thread.getState());
            Thread.onSpinWait();
        }
    }

    // ---- parsers ----

    @Test
    void parsesRetryAfterForms() {
        Clock clock = Clock.fixed(Instant.parse("2015-10-21T07:28:00Z"), ZoneOffset.UTC);
        assertEquals(Duration.ofSeconds(12), OpenAiChatModel.retryAfter("12", clock));
        assertEquals(Duration.ofMillis(1500), OpenAiChatModel.retryAfter("1.5", clock));
        assertEquals(Duration.ZERO, OpenAiChatModel.retryAfter("-3", clock));
        assertEquals(Duration.ZERO, OpenAiChatModel.retryAfter("Wed, 21 Oct 2015 07:00:00 GMT", clock));
        assertNull(OpenAiChatModel.retryAfter("soon", clock));
    }

    @Test
    void extractsUpstreamErrorMessages() {
        assertEquals("bad", OpenAiChatModel.errorMessage("{\"error\":{\"message\":\"bad\"}}".getBytes()));
        assertEquals("model 'x' not found", OpenAiChatModel.errorMessage("{\"error\":\"model 'x' not found\"}".getBytes()));
        assertEquals("nope", OpenAiChatModel.errorMessage("{\"detail\":\"nope\"}".getBytes()));
        assertEquals("plain text", OpenAiChatModel.errorMessage("plain text\n".getBytes()));
        assertNull(OpenAiChatModel.errorMessage("<html>502 Bad Gateway</html>".getBytes()));
        assertNull(OpenAiChatModel.errorMessage(new byte[0]));
    }

    private static JsonNode Json(String json) {
        return io.tokenpipe.common.event.Json.read(json, JsonNode.class);
    }

}
