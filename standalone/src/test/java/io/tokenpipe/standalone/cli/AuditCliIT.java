package io.tokenpipe.standalone.cli;

import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.standalone.StackFixture;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TestAuth;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The auditors' CLI against a running stack, over HTTP. */
class AuditCliIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dataDir;
    private static Standalone stack;
    private static String session;
    private static String answer;
    private static String customer;

    @BeforeAll
    static void start() throws Exception {
        Topics topics = SharedKafka.freshTopics("audit-cli", 2);
        stack = StackFixture.start(topics, dataDir, Map.of());
        ApiClient submit = new ApiClient(stack.port()).as(TestAuth.SUBMIT_KEY);
        customer = "cli-" + System.nanoTime();
        ApiClient.Response created = submit.post("/v1/sessions", "{\"metadata\":{\"customer\":\"" + customer + "\"}}",
                Map.of("Content-Type", "application/json"));
        session = created.json().get("session_id").asText();
        submit.submitPrompt(session, "{\"prompt\":\"for the auditor\",\"options\":{\"tokens\":6,\"tokens_per_second\":50}}");
        try (SseTestClient events = SseTestClient.connect(submit.uri("/v1/sessions/" + session + "/events"))) {
            events.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            answer = String.join("", SseTestClient.dataOf(events.events(), "token").stream()
                    .map(d -> io.tokenpipe.common.event.Json.read(d.getBytes(StandardCharsets.UTF_8),
                            com.fasterxml.jackson.databind.JsonNode.class).get("text").asText()).toList());
        }
    }

    @AfterAll
    static void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    private record Run(int status, String out, String err) {
    }

    private static Run cli(String key, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Map<String, String> env = key == null ? Map.of("TOKENPIPE_URL", "http://localhost:" + stack.port())
                : Map.of("TOKENPIPE_URL", "http://localhost:" + stack.port(), "TOKENPIPE_API_KEY", key);
        int status = new AuditCli(env, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8))
                .run(args);
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void sessionsFindsTheSessionByItsMetadata() throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Run run = cli(TestAuth.AUDIT_KEY, "sessions", "--metadata", "customer=" + customer, "--status=completed");
        while (!run.out().contains(session) && System.nanoTime() < deadline) {
            Thread.sleep(100); // the index is a moment behind the turn's end
            run = cli(TestAuth.AUDIT_KEY, "sessions", "--metadata", "customer=" + customer, "--status=completed");
        }
        assertEquals(0, run.status(), run.err());
        assertTrue(run.out().contains(session), run.out());
        assertTrue(run.out().contains("completed/synthetic"), run.out());
        assertTrue(run.err().contains("1 session(s)"), run.err());
    }

    @Test
    void replayAtTheOriginalPacePrintsThePromptAndTheAnswer() {
        Run run = cli(TestAuth.AUDIT_KEY, "replay", session, "--pace", "original");

        assertEquals(0, run.status(), run.err());
        assertTrue(run.out().contains("user: for the auditor"), run.out());
        assertTrue(run.out().contains("assistant: " + answer + " [stop]"), run.out());
    }

    @Test
    void transcriptPrintsTheSessionAsJson() {
        Run run = cli(TestAuth.AUDIT_KEY, "transcript", session, "--no-events");

        assertEquals(0, run.status(), run.err());
        assertTrue(run.out().contains("\"session_id\" : \"" + session + "\""), run.out());
    }

    @Test
    void refusalsAndBadUsageSayWhyWithoutPrintingTheKey() {
        Run wrongScope = cli(TestAuth.READ_KEY, "sessions");
        assertEquals(1, wrongScope.status());
        assertTrue(wrongScope.err().contains("403 insufficient_scope"), wrongScope.err());
        assertFalse(wrongScope.err().contains(TestAuth.READ_KEY));

        Run badStatus = cli(TestAuth.AUDIT_KEY, "sessions", "--status", "done");
        assertEquals(1, badStatus.status());
        assertTrue(badStatus.err().contains("400 invalid_request"), badStatus.err());

        assertEquals(2, cli(null, "sessions").status());
        assertEquals(2, cli(TestAuth.AUDIT_KEY, "transcript").status());
        assertEquals(2, cli(TestAuth.AUDIT_KEY, "bogus").status());
        assertEquals(1, cli(TestAuth.AUDIT_KEY, "replay", "s_doesNotExist").status());
    }
}
