package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.TestAuth;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * tokenpipe through a client nobody here wrote: the official {@code openai} npm package (version
 * pinned in src/test/node/package-lock.json), run by node against a whole stack on the real broker.
 * The package is installed with {@code npm ci} on first use. Skipped only when node is not installed.
 */
class OpenAiSdkIT {

    private static final Path NODE_DIR = Path.of("src", "test", "node");

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;

    @BeforeAll
    static void start() throws Exception {
        Assumptions.assumeTrue(onPath("node") && onPath("npm"),
                "node and npm are not installed: the OpenAI SDK test needs them (.ci/run installs them)");
        installSdk();
        stack = StackFixture.start(SharedKafka.freshTopics("openai-sdk", 2), dataDir, Map.of());
        api = new ApiClient(stack.port());
    }

    @AfterAll
    static void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void theOfficialSdkStreamsCompletesAndReportsErrorsUnchanged() throws Exception {
        JsonNode out = runNode("sdk-check.mjs", api.base() + "/v1");
        System.out.println("openai SDK " + out.path("sdkVersion").asText("?") + " saw: " + out);

        JsonNode stream = out.get("stream");
        assertEquals(PipelineIT.expectedText("stream me something", 7, 24), stream.get("text").asText(),
                "the SDK's chunks concatenate to the answer: " + stream);
        assertEquals(List.of("chat.completion.chunk"), strings(stream.get("objects")));
        assertEquals(1, stream.get("ids").size(), "one completion id across chunks: " + stream.get("ids"));
        assertEquals(List.of("assistant"), strings(stream.get("roles")));
        assertEquals(List.of("stop"), strings(stream.get("finishReasons")));
        assertEquals(24, stream.get("usage").get("completion_tokens").asInt(), stream.toString());
        assertEquals(stream.get("usage").get("prompt_tokens").asInt() + 24, stream.get("usage").get("total_tokens").asInt());
        String sessionId = stream.get("sessionId").asText();
        assertTrue(sessionId.startsWith("s_"), stream.toString());
        assertTrue(stream.get("resumeUrl").asText().startsWith("/v1/chat/completions/" + stream.get("ids").get(0).asText()),
                stream.toString());

        JsonNode whole = out.get("whole");
        assertEquals("chat.completion", whole.get("object").asText());
        assertEquals("assistant", whole.get("role").asText());
        assertEquals("length", whole.get("finishReason").asText(), "max_completion_tokens reached: " + whole);
        assertEquals(10, whole.get("usage").get("completion_tokens").asInt());
        assertTrue(whole.get("id").asText().startsWith("chatcmpl-" + sessionId + "."), "continued the named session: " + whole);
        assertEquals(2, turnsOf(sessionId), "both completions are turns of one session");

        assertEquals(PipelineIT.expectedText("helper", 11, 8), out.get("helper").get("content").asText());
        assertEquals("stop", out.get("helper").get("finishReason").asText());

        JsonNode error = out.get("error");
        assertTrue(error.get("isBadRequest").asBoolean(), "raised as the SDK's BadRequestError: " + error);
        assertEquals(400, error.get("status").asInt());
        assertEquals("invalid_request_error", error.get("type").asText());
        assertEquals("unknown_field", error.get("code").asText());
        assertEquals("top_p", error.get("param").asText());
    }

    /** The session's turns once the index shows both (it follows the log a moment behind). */
    private static int turnsOf(String sessionId) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int turns;
        do {
            turns = api.get("/v1/sessions/" + sessionId).json().get("turns").size();
            if (turns >= 2) {
                return turns;
            }
            Thread.sleep(50); // polling the index with a deadline
        } while (System.nanoTime() < deadline);
        return turns;
    }

    private static JsonNode runNode(String script, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("node", script));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(NODE_DIR.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        // The SDK sends its apiKey as `Authorization: Bearer`, exactly what tokenpipe checks: a submit key.
        builder.environment().put("TOKENPIPE_KEY", TestAuth.SUBMIT_KEY);
        Process process = builder.start();
        String stdout = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "node finished");
        assertEquals(0, process.exitValue(), "node " + script + " failed; its output: " + stdout);
        String last = stdout.strip().lines().reduce((a, b) -> b).orElse("");
        assertNotNull(last);
        return Json.MAPPER.readTree(last);
    }

    /** {@code npm ci}: exactly the versions in package-lock.json, once per checkout. */
    private static void installSdk() throws IOException, InterruptedException {
        if (Files.isDirectory(NODE_DIR.resolve("node_modules").resolve("openai"))) {
            return;
        }
        Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
                .directory(NODE_DIR.toFile()).redirectErrorStream(true).start();
        String output = new String(npm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!npm.waitFor(300, TimeUnit.SECONDS) || npm.exitValue() != 0) {
            throw new AssertionError("npm ci failed in " + NODE_DIR.toAbsolutePath() + ":\n" + output);
        }
    }

    private static boolean onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new java.util.ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
