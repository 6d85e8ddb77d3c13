package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.worker.WorkerService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A worker process is killed with SIGKILL in the middle of a turn. Another worker takes the
 * partition over; the client following the stream receives every token index exactly once, in
 * order, and the whole answer the model would have given.
 */
class WorkerFailoverIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dirs;

    private Map<String, String> base;
    private final List<AutoCloseable> running = new ArrayList<>();
    private Process doomed;

    @BeforeEach
    void setUp() {
        Topics topics = SharedKafka.freshTopics("failover", 2);
        base = new HashMap<>(StackFixture.env(topics, dirs, Map.of(
                "SYNTHETIC_TOKENS_PER_SECOND", "25",
                "INGEST_HTTP_PORT", "0", "DELIVERY_HTTP_PORT", "0")));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (doomed != null) {
            doomed.destroyForcibly().waitFor();
        }
        for (AutoCloseable service : running.reversed()) {
            service.close();
        }
    }

    @Test
    void aKilledWorkersTurnIsFinishedByAnotherWithEveryIndexOnce() throws Exception {
        IngestService ingest = start(IngestService.start(env("ingest")));
        DeliveryService delivery = start(DeliveryService.start(env("delivery")));
        doomed = WorkerProcess.start(dirs, "doomed", env("doomed").asMap(), WAIT);

        ApiClient api = new ApiClient(ingest.port());
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"outlive your worker\",\"seed\":21,\"options\":{\"tokens\":120}}");

        try (SseTestClient client = SseTestClient.connect(new ApiClient(delivery.port()).uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvents(15, WAIT);
            doomed.destroyForcibly(); // SIGKILL: no hand-over, no commit, no goodbye to the group
            doomed.waitFor();
            start(WorkerService.start(env("survivor")));

            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);

            assertEquals(IntStream.range(0, events.size()).boxed().toList(), PipelineIT.indexes(events),
                    "every index of the turn exactly once, in order");
            PipelineIT.assertStrictlyIncreasingIds(events);
            assertEquals(PipelineIT.expectedText("outlive your worker", 21, 120), PipelineIT.text(events),
                    "no token lost or doubled across the take-over");
            SseEvent resumed = events.stream().filter(e -> e.event().equals("turn.resumed")).findFirst().orElseThrow();
            JsonNode data = Json.MAPPER.readTree(resumed.data());
            assertEquals("worker_takeover", data.get("reason").asText());
            assertEquals("survivor", data.get("worker_id").asText());
            assertEquals(2, data.get("attempt").asInt());
        }
        JsonNode turn = new ApiClient(delivery.port()).get("/v1/sessions/" + session + "/transcript").json().get("turns").get(0);
        assertEquals(2, turn.get("attempts").asInt());
        assertTrue(turn.get("workers").toString().contains("doomed") && turn.get("workers").toString().contains("survivor"),
                "the transcript shows both workers: " + turn.get("workers"));
        // The survivor chained its events on from the last link the doomed worker landed.
        assertTrue(turn.get("chain").get("verified").asBoolean(), "the hash chain holds across the take-over: " + turn.get("chain"));
        assertEquals(turn.get("events").size(), turn.get("chain").get("events").asInt());
    }

    private Env env(String node) {
        Map<String, String> env = new HashMap<>(base);
        env.put("STATE_DIR", dirs.resolve(node).toString());
        env.put("WORKER_ID", node);
        env.put("WORKER_HTTP_PORT", "0");
        return Env.of(env);
    }

    private <T extends AutoCloseable> T start(T service) {
        running.add(service);
        return service;
    }
}
