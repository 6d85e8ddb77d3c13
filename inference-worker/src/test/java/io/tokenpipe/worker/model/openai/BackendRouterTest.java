package io.tokenpipe.worker.model.openai;

import io.tokenpipe.testing.FakeUpstream;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.TokenSink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendRouterTest {

    private static final List<ChatMessage> QUESTION = List.of(ChatMessage.user("Why is the sky blue?"));

    private FakeUpstream primary;
    private FakeUpstream secondary;
    private final List<Duration> sleeps = new CopyOnWriteArrayList<>();
    /** Records the back-off instead of waiting it out; the HTTP is real. */
    private final BackendRouter.Sleeper recordingSleeper = sleeps::add;
    private final List<String> received = new CopyOnWriteArrayList<>();
    private final TokenSink recorder = received::add;
    private final List<BackendRouter> routers = new ArrayList<>();

    @BeforeAll
    static void warmUp() throws Exception {
        try (FakeUpstream warm = new FakeUpstream()) {
            warm.then(FakeUpstream.stream("warm"));
            BackendSettings settings = BackendSettings.from(Env.of(Map.of("BACKEND_WARM_BASE_URL", warm.baseUrl())), "WARM");
            try (OpenAiChatModel model = new OpenAiChatModel(settings)) {
                model.generate(new ChatRequest("warm", QUESTION, GenerationParams.DEFAULTS, ""), text -> true);
            }
        }
    }

    @BeforeEach
    void startFakes() throws Exception {
        primary = new FakeUpstream();
        secondary = new FakeUpstream();
    }

    @AfterEach
    void stop() throws Exception {
        routers.forEach(BackendRouter::close);
        primary.close();
        secondary.close();
    }

    /**
     * MODEL_BACKENDS=PRIMARY,SECONDARY on the two fakes, PRIMARY serving "llama3" and SECONDARY
     * "llama3-backup", with test-sized timeouts; {@code extra} as "VARIABLE", "value" pairs.
     */
    private Env env(String... extra) {
        Map<String, String> env = new HashMap<>();
        env.put("MODEL_BACKENDS", "PRIMARY,SECONDARY");
        for (String name : List.of("PRIMARY", "SECONDARY")) {
            String p = "BACKEND_" + name + "_";
            env.put(p + "BASE_URL", (name.equals("PRIMARY") ? primary : secondary).baseUrl());
            env.put(p + "CONNECT_TIMEOUT_MS", "1000");
            env.put(p + "FIRST_TOKEN_TIMEOUT_MS", "2000");
            env.put(p + "IDLE_TIMEOUT_MS", "2000");
            env.put(p + "TURN_TIMEOUT_MS", "5000");
            env.put(p + "RETRY_BASE_MS", "100");
            env.put(p + "RETRY_MAX_MS", "400");
        }
        env.put("BACKEND_PRIMARY_MODELS", "llama3");
        env.put("BACKEND_SECONDARY_MODELS", "llama3-backup");
        for (int i = 0; i < extra.length; i += 2) {
            env.put(extra[i], extra[i + 1]);
        }
        return Env.of(env);
    }

    private BackendRouter router(Env env) {
        BackendRouter router = new BackendRouter(
                BackendSettings.fromEnv(env).stream().map(OpenAiChatModel::new).toList(), recordingSleeper);
        routers.add(router);
        return router;
    }

    private static ChatRequest ask(String model) {
        return new ChatRequest(model, QUESTION, GenerationParams.DEFAULTS, "");
    }

    @Test
    void retriesAServerErrorThenStreamsTheAnswerOnce() throws Exception {
        primary.then(FakeUpstream.status(500, "{\"error\":{\"message\":\"warming up\"}}"))
                .then(FakeUpstream.stream("Rayleigh", " scattering"));
        ModelResult result = router(env()).generate(ask("llama3"), recorder);
        assertEquals(List.of("Rayleigh", " scattering"), received);
        assertEquals("stop", result.finishReason());
        assertEquals(2, primary.requestCount());
        assertEquals(1, sleeps.size());
        assertTrue(sleeps.getFirst().compareTo(Duration.ofMillis(100)) <= 0, "first back-off is at most the base: " + sleeps);
    }

    @Test
    void waitsAtLeastAsLongAsRetryAfterSays() throws Exception {
        primary.then(FakeUpstream.status(429, "{\"error\":{\"message\":\"Rate limit reached\"}}", "Retry-After: 3"))
                .then(FakeUpstream.stream("ok"));
        router(env()).generate(ask("llama3"), recorder);
        assertEquals(List.of("ok"), received);
        assertEquals(List.of(Duration.ofSeconds(3)), sleeps, "Retry-After beats the (smaller) back-off");
    }

    @Test
    void doesNotRetryWhenRetryAfterReachesBeyondTheTurnTimeout() throws Exception {
        primary.then(FakeUpstream.status(429, "{}", "Retry-After: 3600"));
        ModelException e = assertThrows(ModelException.class, () -> router(env()).generate(ask("llama3"), recorder));
        assertEquals("rate_limited", e.code());
        assertEquals(1, primary.requestCount());
        assertTrue(sleeps.isEmpty());
    }

    @Test
    void doesNotRetryRefusedCredentialsOrARejectedRequest() throws Exception {
        primary.then(FakeUpstream.status(401, "{\"error\":{\"message\":\"Invalid API key\"}}"))
                .then(FakeUpstream.status(400, "{\"error\":{\"message\":\"context too long\"}}"));
        BackendRouter router = router(env());
        ModelException auth = assertThrows(ModelException.class, () -> router.generate(ask("llama3"), recorder));
        assertEquals("upstream_auth", auth.code());
        ModelException rejected = assertThrows(ModelException.class, () -> router.generate(ask("llama3"), recorder));
        assertEquals("upstream_rejected", rejected.code());
        assertTrue(rejected.getMessage().contains("context too long"));
        assertEquals(2, primary.requestCount(), "one request each");
        assertTrue(sleeps.isEmpty());
    }

    @Test
    void givesUpAfterMaxRetries() throws Exception {
        for (int i = 0; i < 3; i++) {
            primary.then(FakeUpstream.status(503, "{}"));
        }
        primary.then(FakeUpstream.stream("too late"));
        ModelException e = assertThrows(ModelException.class,
                () -> router(env("BACKEND_PRIMARY_MAX_RETRIES", "2")).generate(ask("llama3"), recorder));
        assertEquals("upstream_error", e.code());
        assertFalse(e.afterFirstToken());
        assertEquals(3, primary.requestCount());
        assertEquals(2, sleeps.size());
        assertTrue(received.isEmpty());
    }

    @Test
    void fallsBackToTheSecondBackendWhenTheFirstKeepsFailingBeforeItsFirstToken() throws Exception {
        for (int i = 0; i < 3; i++) {
            primary.then(FakeUpstream.status(503, "{\"error\":{\"message\":\"overloaded\"}}"));
        }
        secondary.then(FakeUpstream.stream("from", " the backup"));
        BackendRouter router = router(env("BACKEND_PRIMARY_MAX_RETRIES", "2", "BACKEND_PRIMARY_FALLBACK", "SECONDARY",
                "BACKEND_SECONDARY_UPSTREAM_MODEL", "llama3:70b"));
        ModelResult result = router.generate(ask("llama3"), recorder);
        assertEquals(List.of("from", " the backup"), received);
        assertEquals("stop", result.finishReason());
        assertEquals(3, primary.requestCount());
        assertEquals(1, secondary.requestCount());
        assertEquals("llama3:70b", secondary.takeRequest().json().path("model").asText());
        assertEquals(2, sleeps.size());
    }

    @Test
    void doesNotRetryOrFallBackAfterTheFirstToken() throws Exception {
        CountDownLatch sawFirst = new CountDownLatch(1);
        primary.then(FakeUpstream.cutAfter(sawFirst, false, "It is"));
        secondary.then(FakeUpstream.stream("unused"));
        BackendRouter router = router(env("BACKEND_PRIMARY_FALLBACK", "SECONDARY"));
        ModelException e = assertThrows(ModelException.class, () -> router.generate(ask("llama3"), text -> {
            received.add(text);
            sawFirst.countDown();
            return true;
        }));
        assertEquals("upstream_disconnected", e.code());
        assertTrue(e.retryable(), "the turn runner may resume it");
        assertTrue(e.afterFirstToken());
        assertEquals(List.of("It is"), received);
        assertEquals(1, primary.requestCount());
        assertEquals(0, secondary.requestCount());
        assertTrue(sleeps.isEmpty());
    }

    @Test
    void aFallbackChainThatLoopsEnds() throws Exception {
        for (int i = 0; i < 2; i++) {
            primary.then(FakeUpstream.status(503, "{}"));
            secondary.then(FakeUpstream.status(502, "{}"));
        }
        BackendRouter router = router(env("BACKEND_PRIMARY_MAX_RETRIES", "1", "BACKEND_SECONDARY_MAX_RETRIES", "1",
                "BACKEND_PRIMARY_FALLBACK", "SECONDARY", "BACKEND_SECONDARY_FALLBACK", "PRIMARY"));
        assertEquals(List.of("PRIMARY", "SECONDARY"),
                router.chain("llama3").stream().map(OpenAiChatModel::name).toList());
        ModelException e = assertThrows(ModelException.class, () -> router.generate(ask("llama3"), recorder));
        assertEquals("upstream_error", e.code());
        assertTrue(e.getMessage().contains("SECONDARY") && e.getMessage().contains("502"), "the last failure: " + e.getMessage());
        assertEquals(2, primary.requestCount());
        assertEquals(2, secondary.requestCount());
    }

    @Test
    void fallsBackAfterAnUnreachablePrimary() throws Exception {
        primary.close(); // nothing listens there any more
        secondary.then(FakeUpstream.stream("up"));
        BackendRouter router = router(env("BACKEND_PRIMARY_MAX_RETRIES", "0", "BACKEND_PRIMARY_FALLBACK", "SECONDARY"));
        router.generate(ask("llama3"), recorder);
        assertEquals(List.of("up"), received);
    }

    @Test
    void backOffIsExponentialWithFullJitterAndCapped() {
        BackendRouter always = new BackendRouter(List.of(), recordingSleeper, cap -> cap);
        BackendRouter never = new BackendRouter(List.of(), recordingSleeper, cap -> 0);
        BackendSettings settings = BackendSettings.from(env(), "PRIMARY"); // base 100, max 400
        assertEquals(List.of(100L, 200L, 400L, 400L, 400L),
                List.of(1, 2, 3, 4, 30).stream().map(n -> always.backoff(settings, n).toMillis()).toList());
        assertEquals(Duration.ZERO, never.backoff(settings, 3));
        BackendRouter random = router(env());
        for (int i = 0; i < 200; i++) {
            long ms = random.backoff(settings, 3).toMillis();
            assertTrue(ms >= 0 && ms <= 400, ms + " ms");
        }
    }

    @Test
    void picksTheBackendByModelNameThenByWildcard() throws Exception {
        BackendRouter router = router(env("BACKEND_SECONDARY_MODELS", "*", "BACKEND_PRIMARY_MODELS", "llama3,qwen"));
        assertEquals("PRIMARY", router.primary("qwen").orElseThrow().name());
        assertEquals("SECONDARY", router.primary("mistral").orElseThrow().name());
        secondary.then(FakeUpstream.stream("wild"));
        router.generate(ask("mistral"), recorder);
        assertEquals("mistral", secondary.takeRequest().json().path("model").asText());
        assertEquals(0, primary.requestCount());
    }

    @Test
    void anUnservedModelIsUnknown() {
        ModelException e = assertThrows(ModelException.class, () -> router(env()).generate(ask("gpt-9"), recorder));
        assertEquals("unknown_model", e.code());
        assertFalse(e.retryable());
    }

    @Test
    void theRegistryMapsEveryServedNameToTheRouterAndSyntheticToTheSyntheticModel() {
        ChatModel synthetic = (request, sink) -> new ModelResult("stop", null);
        ModelRegistry registry = BackendRouter.registry(env("BACKEND_PRIMARY_MODELS", "llama3, qwen,synthetic"), synthetic);
        assertEquals(Set.of("llama3", "qwen", "llama3-backup", "synthetic"), registry.names());
        assertSame(synthetic, registry.find("synthetic").orElseThrow());
        ChatModel router = registry.find("llama3").orElseThrow();
        assertTrue(router instanceof BackendRouter);
        assertSame(router, registry.find("llama3-backup").orElseThrow());
        ((BackendRouter) router).close();

        ModelRegistry none = BackendRouter.registry(Env.of(Map.of()), synthetic);
        assertEquals(Set.of("synthetic"), none.names());
        assertTrue(BackendRouter.fromEnv(Env.of(Map.of("MODEL_BACKENDS", " "))).isEmpty());
    }

    @Test
    void aWildcardBackendIsTheRegistryKeyStar() {
        ChatModel synthetic = (request, sink) -> new ModelResult("stop", null);
        ModelRegistry registry = BackendRouter.registry(env("BACKEND_SECONDARY_MODELS", "*"), synthetic);
        assertEquals(Set.of("*", "llama3", "synthetic"), registry.names());
        ((BackendRouter) registry.find("*").orElseThrow()).close();
    }

    @Test
    void continuesAnswersOnlyWhenTheWholeChainPrefills() throws Exception {
        BackendRouter router = router(env("BACKEND_PRIMARY_FALLBACK", "SECONDARY",
                "BACKEND_SECONDARY_CONTINUATION", "restart"));
        assertFalse(router.continuesAnswers("llama3"), "its fallback restarts");
        assertFalse(router.continuesAnswers("llama3-backup"));

        // A resumed turn on that chain is asked afresh even on the prefilling backend.
        primary.then(FakeUpstream.stream("The sky", " is blue"));
        router.generate(new ChatRequest("llama3", QUESTION, GenerationParams.DEFAULTS, "The sk"), recorder);
        JsonNode body = primary.takeRequest().json();
        assertEquals(1, body.path("messages").size());
        assertFalse(body.has("continue_final_message"));

        BackendRouter prefilling = router(env("BACKEND_PRIMARY_FALLBACK", "SECONDARY"));
        assertTrue(prefilling.continuesAnswers("llama3"));
        primary.then(FakeUpstream.stream(" is blue"));
        prefilling.generate(new ChatRequest("llama3", QUESTION, GenerationParams.DEFAULTS, "The sky"), recorder);
        JsonNode continued = primary.takeRequest().json();
        assertEquals("The sky", continued.path("messages").get(1).path("content").asText());
        assertTrue(continued.path("continue_final_message").asBoolean());
    }

    @Test
    void anInterruptedBackOffStopsTheCall() {
        primary.then(FakeUpstream.status(500, "{}"));
        BackendRouter router = new BackendRouter(BackendSettings.fromEnv(env()).stream().map(OpenAiChatModel::new).toList(),
                duration -> {
                    throw new InterruptedException("stopping");
                });
        routers.add(router);
        assertThrows(InterruptedException.class, () -> router.generate(ask("llama3"), recorder));
        assertEquals(1, primary.requestCount());
    }
}
