package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.kafka.embedded.EmbeddedKafkaBroker;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TestAuth;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The broker goes away in the middle of a streamed answer and comes back on the same data and port
 * (what a broker restart looks like to its clients). Needs a broker of its own, not the shared one.
 */
class BrokerRestartIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String FIRST_PROMPT = "keep talking while the broker restarts";
    private static final String SECOND_PROMPT = "submitted while the broker was down";

    @TempDir
    Path dataDir;

    /**
     * {@code refusalsWhileDown}: how many submissions (2 s each) are refused before the broker comes back.
     * One is a quick restart: the worker's producer simply retries. Four keep the broker away longer than
     * the worker's write timeout (3 s) and transaction timeout (4 s): the writer replaces its producer
     * while the broker is down, and the coordinator aborts the open transaction once it is back.
     */
    @ParameterizedTest(name = "broker down for {0} refused submission(s)")
    @ValueSource(ints = {1, 4})
    void aTurnStreamingThroughABrokerRestartLosesAndDoublesNothing(int refusalsWhileDown) throws Exception {
        Path kafkaDir = dataDir.resolve("kafka");
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(kafkaDir, 0);
        int brokerPort = Integer.parseInt(broker.bootstrapServers().substring(broker.bootstrapServers().lastIndexOf(':') + 1));
        Topics topics = Topics.defaults().withPartitions(2).withPrefix("restart-");
        try (Standalone stack = Standalone.start(Env.of(env(broker.bootstrapServers(), topics)))) {
            ApiClient api = new ApiClient(stack.port());
            String session = api.createSession();
            // 300 tokens at 20 per second: the turn is still running when the broker goes away.
            api.submitPrompt(session, "{\"prompt\":\"" + FIRST_PROMPT + "\",\"seed\":11,"
                    + "\"options\":{\"tokens\":300,\"tokens_per_second\":20}}");

            try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
                client.awaitEvents(10, WAIT);
                broker.close();

                // Down: each submission is refused with a JSON error the client can retry on.
                for (int i = 0; i < refusalsWhileDown; i++) {
                    ApiClient.Response refused = api.submitTurn(session, secondTurn(), "second-turn");
                    assertEquals(503, refused.status(), refused.body());
                    assertNotNull(refused.errorCode(), "a JSON error body: " + refused.body());
                    assertNotNull(refused.header("Retry-After"), "503 says when to retry");
                }
                assertFalse(client.ended(), "the stream stalls; it does not end");
                assertTrue(client.events().stream().noneMatch(e -> e.event().equals("turn.completed")),
                        "the broker went down mid-turn");

                broker = EmbeddedKafkaBroker.start(kafkaDir, brokerPort);

                // Back: the same submission (same Idempotency-Key) is accepted, once.
                ApiClient.Response accepted = awaitAccepted(api, session);
                assertEquals(202, accepted.status(), accepted.body());

                List<SseEvent> live = client.awaitEvent(e -> client.events().stream()
                        .filter(x -> x.event().equals("turn.completed")).count() >= 2, WAIT);
                assertFalse(client.ended(), "the same connection carried the whole stream");

                List<SseEvent> replay;
                try (SseTestClient full = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"))) {
                    replay = full.awaitEnd(WAIT);
                }
                assertEquals(replay, live, "what the client saw equals the log: nothing lost, nothing doubled");
                PipelineIT.assertStrictlyIncreasingIds(live);
                PipelineIT.assertTurnsAreContiguous(live);
                List<String> turns = live.stream().filter(e -> e.event().equals("turn.started"))
                        .map(e -> Json.read(e.data(), JsonNode.class).get("turn_id").asText()).toList();
                assertEquals(2, turns.size(), "two turns, the refused-then-retried one once: " + turns);
                assertEquals(PipelineIT.expectedText(FIRST_PROMPT, 11, 300), PipelineIT.text(ofTurn(live, turns.get(0))));
                assertEquals(PipelineIT.expectedText(SECOND_PROMPT, 12, 15), PipelineIT.text(ofTurn(live, turns.get(1))));

                assertEquals(200, awaitHealthy(api).status(), "health is green again after the restart");
            }
        } finally {
            broker.close();
        }
    }

    private static String secondTurn() {
        return "{\"prompt\":\"" + SECOND_PROMPT + "\",\"seed\":12,\"options\":{\"tokens\":15}}";
    }

    /** Retries the refused submission as a client would, until the broker takes it. */
    private static ApiClient.Response awaitAccepted(ApiClient api, String session) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        ApiClient.Response response = api.submitTurn(session, secondTurn(), "second-turn");
        while (response.status() == 503 && System.nanoTime() < deadline) {
            Thread.sleep(200); // a client's back-off before it retries
            response = api.submitTurn(session, secondTurn(), "second-turn");
        }
        return response;
    }

    private static ApiClient.Response awaitHealthy(ApiClient api) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        ApiClient.Response health = api.get("/health");
        while (health.status() != 200 && System.nanoTime() < deadline) {
            Thread.sleep(100); // polling: health has no change notification
            health = api.get("/health");
        }
        return health;
    }

    private static List<SseEvent> ofTurn(List<SseEvent> events, String turn) {
        return events.stream().filter(e -> Json.read(e.data(), JsonNode.class).get("turn_id").asText().equals(turn)).toList();
    }

    private Map<String, String> env(String bootstrap, Topics topics) {
        Map<String, String> env = new HashMap<>(TestAuth.env());
        env.put(KafkaSettings.BOOTSTRAP_SERVERS.name(), bootstrap);
        env.put(Topics.SESSIONS.name(), topics.sessions());
        env.put(Topics.PROMPTS.name(), topics.prompts());
        env.put(Topics.STREAM.name(), topics.stream());
        env.put(Topics.TURNS.name(), topics.turns());
        env.put(Topics.CONTROL.name(), topics.control());
        env.put(Topics.PARTITIONS.name(), Integer.toString(topics.partitions()));
        env.put("TOKENPIPE_HTTP_PORT", "0");
        env.put("TOKENPIPE_DATA_DIR", dataDir.toString());
        env.put("INDEX_SESSION_TIMEOUT_MS", "6000");
        env.put("WORKER_SESSION_TIMEOUT_MS", "3000");
        env.put("SSE_HEARTBEAT_MS", "500");
        // A refused write answers after 2 s instead of 10.
        env.put("INGEST_KAFKA_WRITE_TIMEOUT_MS", "2000");
        // Short enough that a long outage outlasts them (see the parameter).
        env.put("WORKER_WRITE_TIMEOUT_MS", "3000");
        env.put("WORKER_TRANSACTION_TIMEOUT_MS", "4000");
        return env;
    }
}
