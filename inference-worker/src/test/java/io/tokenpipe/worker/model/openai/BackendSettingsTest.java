package io.tokenpipe.worker.model.openai;

import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendSettingsTest {

    private static Env env(String... pairs) {
        Map<String, String> values = new HashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            values.put(pairs[i], pairs[i + 1]);
        }
        return Env.of(values);
    }

    private static String refusal(String... pairs) {
        return assertThrows(ConfigException.class, () -> BackendSettings.fromEnv(env(pairs))).getMessage();
    }

    @Test
    void noBackendsUnlessModelBackendsListsThem() {
        assertEquals(List.of(), BackendSettings.fromEnv(env()));
        assertEquals(List.of(), BackendSettings.fromEnv(env("MODEL_BACKENDS", "",
                "BACKEND_OLLAMA_BASE_URL", "http://localhost:11434/v1")));
    }

    @Test
    void defaults() {
        List<BackendSettings> backends = BackendSettings.fromEnv(env("MODEL_BACKENDS", "OLLAMA",
                "BACKEND_OLLAMA_BASE_URL", "http://localhost:11434/v1/"));
        assertEquals(1, backends.size());
        BackendSettings ollama = backends.getFirst();
        assertEquals("OLLAMA", ollama.name());
        assertEquals(URI.create("http://localhost:11434/v1"), ollama.baseUrl());
        assertEquals(URI.create("http://localhost:11434/v1/chat/completions"), ollama.chatCompletionsUri());
        assertNull(ollama.apiKey());
        assertEquals(List.of("ollama"), ollama.models());
        assertEquals("llama3", ollama.upstreamModelFor("llama3"));
        assertEquals(Map.of(), ollama.headers());
        assertEquals(BackendSettings.Continuation.PREFILL, ollama.continuation());
        assertTrue(ollama.continuesAnswers());
        assertNull(ollama.fallback());
        assertEquals(Duration.ofMillis(5000), ollama.connectTimeout());
        assertEquals(Duration.ofMillis(60000), ollama.firstTokenTimeout());
        assertEquals(Duration.ofMillis(30000), ollama.idleTimeout());
        assertEquals(Duration.ofMillis(600000), ollama.turnTimeout());
        assertEquals(3, ollama.maxRetries());
        assertEquals(Duration.ofMillis(500), ollama.retryBase());
        assertEquals(Duration.ofMillis(10000), ollama.retryMax());
    }

    @Test
    void everySetting() {
        List<BackendSettings> backends = BackendSettings.fromEnv(env(
                "MODEL_BACKENDS", "vllm, openai",
                "BACKEND_VLLM_BASE_URL", "http://vllm:8000/v1",
                "BACKEND_VLLM_MODELS", "llama3, llama3-70b ,",
                "BACKEND_VLLM_UPSTREAM_MODEL", "meta-llama/Meta-Llama-3-70B-Instruct",
                "BACKEND_VLLM_HEADERS", "X-Tenant: blue\nX-Note: a; b",
                "BACKEND_VLLM_FALLBACK", "openai",
                "BACKEND_VLLM_CONNECT_TIMEOUT_MS", "100",
                "BACKEND_VLLM_FIRST_TOKEN_TIMEOUT_MS", "200",
                "BACKEND_VLLM_IDLE_TIMEOUT_MS", "300",
                "BACKEND_VLLM_TURN_TIMEOUT_MS", "400",
                "BACKEND_VLLM_MAX_RETRIES", "0",
                "BACKEND_VLLM_RETRY_BASE_MS", "10",
                "BACKEND_VLLM_RETRY_MAX_MS", "20",
                "BACKEND_OPENAI_BASE_URL", "https://api.openai.com/v1",
                "BACKEND_OPENAI_API_KEY", "sk-secret",
                "BACKEND_OPENAI_MODELS", "*",
                "BACKEND_OPENAI_CONTINUATION", "RESTART"));
        BackendSettings vllm = backends.get(0);
        BackendSettings openai = backends.get(1);
        assertEquals(List.of("llama3", "llama3-70b"), vllm.models());
        assertTrue(vllm.serves("llama3-70b") && vllm.servesByName("llama3") && !vllm.serves("gpt-4o"));
        assertEquals("meta-llama/Meta-Llama-3-70B-Instruct", vllm.upstreamModelFor("llama3"));
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("X-Tenant", "blue");
        headers.put("X-Note", "a; b");
        assertEquals(headers, vllm.headers());
        assertEquals("OPENAI", vllm.fallback());
        assertEquals(List.of(100L, 200L, 300L, 400L, 10L, 20L), List.of(vllm.connectTimeout(), vllm.firstTokenTimeout(),
                vllm.idleTimeout(), vllm.turnTimeout(), vllm.retryBase(), vllm.retryMax()).stream().map(Duration::toMillis).toList());
        assertEquals(0, vllm.maxRetries());
        assertEquals("sk-secret", openai.apiKey());
        assertTrue(openai.serves("gpt-4o") && !openai.servesByName("gpt-4o"));
        assertEquals(BackendSettings.Continuation.RESTART, openai.continuation());
        assertFalse(openai.continuesAnswers());
    }

    @Test
    void headersSeparatedBySemicolons() {
        assertEquals(Map.of("X-A", "1", "X-B", "two words"),
                BackendSettings.headers(" X-A: 1 ; X-B:two words; ", "V"));
    }

    @Test
    void refusalsNameTheVariable() {
        assertTrue(refusal("MODEL_BACKENDS", "VLLM").contains("BACKEND_VLLM_BASE_URL must be set"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", "localhost:8000/v1")
                .contains("BACKEND_VLLM_BASE_URL"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", "ftp://host/v1")
                .contains("http:// or https://"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", "http://u:p@host/v1")
                .contains("must not contain credentials"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", "http://host/v1/chat/completions")
                .contains("without /chat/completions"));
        String base = "http://host:8000/v1";
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_CONTINUATION", "resume")
                .contains("BACKEND_VLLM_CONTINUATION must be prefill or restart"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_IDLE_TIMEOUT_MS", "30s")
                .contains("BACKEND_VLLM_IDLE_TIMEOUT_MS must be an integer"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_TURN_TIMEOUT_MS", "0")
                .contains("BACKEND_VLLM_TURN_TIMEOUT_MS must be greater than 0"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_MAX_RETRIES", "-1")
                .contains("BACKEND_VLLM_MAX_RETRIES must not be negative"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_RETRY_MAX_MS", "100")
                .contains("BACKEND_VLLM_RETRY_MAX_MS (100) must not be less than BACKEND_VLLM_RETRY_BASE_MS (500)"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_FALLBACK", "OLLAMA")
                .contains("BACKEND_VLLM_FALLBACK names 'OLLAMA', which is not a backend listed in MODEL_BACKENDS"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_FALLBACK", "vllm")
                .contains("BACKEND_VLLM_FALLBACK names the backend itself"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM", "BACKEND_VLLM_BASE_URL", base, "BACKEND_VLLM_BASEURL", base)
                .contains("BACKEND_VLLM_BASEURL is not a backend setting"));
        assertTrue(refusal("MODEL_BACKENDS", "my-vllm").contains("MODEL_BACKENDS lists 'my-vllm'"));
        assertTrue(refusal("MODEL_BACKENDS", "VLLM,vllm").contains("MODEL_BACKENDS lists 'VLLM' twice"));
    }

    @Test
    void malformedHeadersAreRefusedWithoutShowingTheirValues() {
        String base = "http://host:8000/v1";
        String noColon = refusal("MODEL_BACKENDS", "A", "BACKEND_A_BASE_URL", base, "BACKEND_A_HEADERS", "sk-secret-value");
        assertTrue(noColon.contains("BACKEND_A_HEADERS") && !noColon.contains("sk-secret-value"), noColon);
        assertTrue(refusal("MODEL_BACKENDS", "A", "BACKEND_A_BASE_URL", base, "BACKEND_A_HEADERS", "Host: evil")
                .contains("must not set Host"));
        String both = refusal("MODEL_BACKENDS", "A", "BACKEND_A_BASE_URL", base, "BACKEND_A_API_KEY", "k1",
                "BACKEND_A_HEADERS", "Authorization: Bearer k2");
        assertTrue(both.contains("use one or the other") && !both.contains("k2"), both);
    }

    @Test
    void anotherBackendsVariablesAreNotTypos() {
        List<BackendSettings> backends = BackendSettings.fromEnv(env("MODEL_BACKENDS", "A",
                "BACKEND_A_BASE_URL", "http://a/v1", "BACKEND_A_B_BASE_URL", "http://b/v1"));
        assertEquals(1, backends.size());
    }

    @Test
    void keepsAQueryStringOfTheBaseUrlButNeverShowsIt() {
        BackendSettings s = BackendSettings.from(env("BACKEND_AZ_BASE_URL",
                "https://example.openai.azure.com/openai/v1?api-version=preview&key=hidden"), "AZ");
        assertEquals(URI.create("https://example.openai.azure.com/openai/v1/chat/completions?api-version=preview&key=hidden"),
                s.chatCompletionsUri());
        assertFalse(s.displayUrl().contains("hidden"));
        assertFalse(s.toString().contains("hidden"));
    }

    @Test
    void toStringHidesTheKeyAndHeaderValues() {
        BackendSettings s = BackendSettings.from(env("BACKEND_X_BASE_URL", "http://x/v1", "BACKEND_X_API_KEY", "sk-live-1",
                "BACKEND_X_HEADERS", "X-Api-Token: tok-2"), "X");
        assertFalse(s.toString().contains("sk-live-1"), s.toString());
        assertFalse(s.toString().contains("tok-2"), s.toString());
        assertTrue(s.toString().contains("X-Api-Token"));
    }

    @Test
    void documentedSettingsUseTheNamePlaceholder() {
        List<Setting> documented = BackendSettings.documented();
        assertEquals("MODEL_BACKENDS", documented.getFirst().name());
        List<String> names = documented.stream().map(Setting::name).toList();
        assertEquals(List.of("MODEL_BACKENDS", "BACKEND_<NAME>_BASE_URL", "BACKEND_<NAME>_API_KEY", "BACKEND_<NAME>_MODELS",
                "BACKEND_<NAME>_UPSTREAM_MODEL", "BACKEND_<NAME>_HEADERS", "BACKEND_<NAME>_CONTINUATION",
                "BACKEND_<NAME>_FALLBACK", "BACKEND_<NAME>_CONNECT_TIMEOUT_MS", "BACKEND_<NAME>_FIRST_TOKEN_TIMEOUT_MS",
                "BACKEND_<NAME>_IDLE_TIMEOUT_MS", "BACKEND_<NAME>_TURN_TIMEOUT_MS", "BACKEND_<NAME>_MAX_RETRIES",
                "BACKEND_<NAME>_RETRY_BASE_MS", "BACKEND_<NAME>_RETRY_MAX_MS", "BACKEND_<NAME>_FORWARD_OPTIONS", "BACKEND_<NAME>_MAX_TOKENS_FIELD"), names);
        for (Setting setting : documented) {
            assertFalse(setting.description().isBlank(), setting.name());
            String concrete = setting.name().replace("<NAME>", "MY_VLLM_2");
            assertTrue(BackendSettings.isBackendVariable(concrete), concrete);
        }
        // The documented defaults are the ones applied.
        BackendSettings defaults = BackendSettings.from(env("BACKEND_D_BASE_URL", "http://d/v1"), "D");
        assertEquals(documented.get(8).defaultValue(), String.valueOf(defaults.connectTimeout().toMillis()));
        assertEquals(documented.get(12).defaultValue(), String.valueOf(defaults.maxRetries()));
    }

    @Test
    void recognisesBackendVariables() {
        for (String yes : List.of("MODEL_BACKENDS", "BACKEND_OLLAMA_BASE_URL", "BACKEND_VLLM_API_KEY",
                "BACKEND_A_UPSTREAM_MODEL", "BACKEND_LM_STUDIO_RETRY_MAX_MS", "BACKEND_X1_FIRST_TOKEN_TIMEOUT_MS")) {
            assertTrue(BackendSettings.isBackendVariable(yes), yes);
        }
        for (String no : List.of("BACKEND_OLLAMA_BASEURL", "BACKEND__BASE_URL", "BACKEND_BASE_URL", "backend_a_base_url",
                "BACKEND_a_BASE_URL", "BACKEND_A_MODEL", "SYNTHETIC_TTFT_MS", "MODEL_BACKEND", "BACKEND_A_BASE_URL_2")) {
            assertFalse(BackendSettings.isBackendVariable(no), no);
        }
    }
}
