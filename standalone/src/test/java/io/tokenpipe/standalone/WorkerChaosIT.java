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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chaos under load, short version: many sessions stream at once through two worker processes; one is
 * killed with SIGKILL mid-run and started again under the same worker id. Every session's client then
 * holds each of its turns exactly once, complete, in order, equal to the log.
 */
class WorkerChaosIT {

    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final int SESSIONS = 12;
    private static final int TURNS = 2;
    private static final int TOKENS = 60;

    @TempDir
    Path dirs;

    private Map<String, String> base;
    private final List<AutoCloseable> running = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();

    @BeforeEach
    void setUp() {
        Topics topics = SharedKafka.freshTopics("chaos", 4);
        base = new HashMap<>(StackFixture.env(topics, dirs, Map.of(
                "SYNTHETIC_TOKENS_PER_SECOND", "25",
                "INGEST_HTTP_PORT", "0", "DELIVERY_HTTP_PORT", "0")));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor();
        }
        for (AutoCloseable service : running.reversed()) {
            service.close();
        }
    }

    @Test
    void aWorkerKilledAndRestartedUnderLoadLosesDoublesAndReordersNothing() throws Exception {
        IngestService ingest = start(IngestService.start(env("ingest")));
        DeliveryService delivery = start(DeliveryService.start(env("delivery")));
        Process doomed = startWorker("w1");
        startWorker("w2");
        ApiClient api = new ApiClient(ingest.port());
        ApiClient reader = new ApiClient(delivery.port());

        List<String> sessions = new ArrayList<>();
        List<SseTestClient> clients = new ArrayList<>();
        try {
            for (int s = 0; s < SESSIONS; s++) {
                String session = api.createSession();
                sessions.add(session);
                clients.add(SseTestClient.connect(reader.uri("/v1/sessions/" + session + "/events")));
                for (int t = 0; t < TURNS; t++) {
                    api.submitPrompt(session, turnBody(s, t));
                }
            }
            // Mid-run: every session has started streaming, none can have finished both turns.
            for (SseTestClient client : clients) {
                client.awaitEvents(5, WAIT);
            }
            doomed.destroyForcibly(); // SIGKILL: no hand-over, no commit, no goodbye to the group
            doomed.waitFor();
            startWorker("w1"); // the same id: it fences its dead predecessor's transactions
            int faults = 2; // one kill, one restart

            int resumed = 0;
            for (int s = 0; s < SESSIONS; s++) {
                SseTestClient client = clients.get(s);
                List<SseEvent> live = client.awaitEvent(e -> client.events().stream()
                        .filter(x -> x.event().equals("turn.completed")).count() >= TURNS, WAIT);
                List<SseEvent> replay;
                try (SseTestClient full = SseTestClient.connect(reader.uri("/v1/sessions/" + sessions.get(s) + "/events?follow=false"))) {
                    replay = full.awaitEnd(WAIT);
                }
                assertEquals(replay, live, "session " + s + ": the client's events equal the log");
                PipelineIT.assertStrictlyIncreasingIds(live);
                PipelineIT.assertTurnsAreContiguous(live);
                List<String> turns = live.stream().filter(e -> e.event().equals("turn.started"))
                        .map(e -> turnId(e)).toList();
                assertEquals(TURNS, turns.size(), "session " + s + ": each turn once, in order");
                for (int t = 0; t < TURNS; t++) {
                    String turn = turns.get(t);
                    List<SseEvent> ofTurn = live.stream().filter(e -> turnId(e).equals(turn)).toList();
                    assertEquals(PipelineIT.expectedText(prompt(s, t), seed(s, t), TOKENS), PipelineIT.text(ofTurn),
                            "session " + s + " turn " + t + ": no token lost or doubled");
                    assertEquals("turn.completed", ofTurn.getLast().event());
                }
                resumed += (int) live.stream().filter(e -> e.event().equals("turn.resumed")).count();
            }
            System.out.printf("chaos: %d sessions x %d turns, faults injected: %d (SIGKILL + restart of w1), "
                    + "turns continued by another worker: %d%n", SESSIONS, TURNS, faults, resumed);
            assertTrue(resumed > 0, "the kill hit running turns (else this test proved nothing)");
        } finally {
            clients.forEach(SseTestClient::close);
        }
    }

    private static String prompt(int session, int turn) {
        return "chaos " + session + "." + turn;
    }

    private static long seed(int session, int turn) {
        return 100L * session + turn;
    }

    private static String turnBody(int session, int turn) {
        return "{\"prompt\":\"" + prompt(session, turn) + "\",\"seed\":" + seed(session, turn)
                + ",\"options\":{\"tokens\":" + TOKENS + "}}";
    }

    private static String turnId(SseEvent e) {
        return Json.read(e.data(), JsonNode.class).get("turn_id").asText();
    }

    private Process startWorker(String id) throws IOException, InterruptedException {
        Process process = WorkerProcess.start(dirs, id, env(id).asMap(), WAIT);
        processes.add(process);
        return process;
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
