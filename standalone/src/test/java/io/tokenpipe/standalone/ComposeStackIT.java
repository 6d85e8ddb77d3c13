package io.tokenpipe.standalone;

import io.tokenpipe.common.auth.AuthSettings;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.BrokerChoice;
import io.tokenpipe.testing.ComposeFile;
import io.tokenpipe.testing.DockerEngine;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TestAuth;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * docker-compose.yml for real: builds the image, starts the stack and waits until every service is
 * healthy, runs a turn through ingest-api and delivery-sse over the published ports with a cut and a
 * {@code Last-Event-ID} resume, scales the workers to two, and tears everything down, volumes too.
 *
 * <p>Runs only with {@code -Dtokenpipe.test.kafka=container}, and only where a Docker engine and
 * Compose v2 are; elsewhere it is skipped. Its own project name and free host ports keep it apart from
 * a stack the developer runs (the {@code tokenpipe:local} image is shared: it is rebuilt from this tree).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@ExtendWith(ComposeStackIT.OnlyWithDockerCompose.class)
class ComposeStackIT {

    /** The first build downloads Maven's dependencies inside Docker; later builds reuse that layer. */
    private static final Duration BUILD_AND_START = Duration.ofMinutes(20);
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String WORKER = "inference-worker";

    private static DockerCompose compose;
    private static ApiClient ingest;
    private static ApiClient delivery;

    /**
     * Decides for the class, so that a skip is reported test by test with its reason (an abort in
     * {@code @BeforeAll} would show as "Tests run: 0").
     */
    static final class OnlyWithDockerCompose implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            if (BrokerChoice.selected() != BrokerChoice.CONTAINER) {
                return ConditionEvaluationResult.disabled("the compose smoke test runs only with -D"
                        + BrokerChoice.PROPERTY + "=container (it needs Docker)");
            }
            if (!DockerEngine.available()) {
                return ConditionEvaluationResult.disabled("No Docker engine: the compose smoke test is skipped.");
            }
            if (!DockerCompose.installed()) {
                return ConditionEvaluationResult.disabled("docker compose (Compose v2) is not installed: "
                        + "the compose smoke test is skipped.");
            }
            return ConditionEvaluationResult.enabled("Docker and Compose v2 are here");
        }
    }

    @BeforeAll
    static void up() throws InterruptedException {
        ingest = new ApiClient(freePort());
        delivery = new ApiClient(freePort());
        compose = new DockerCompose(ComposeFile.path(), "tokenpipe-smoke-" + ProcessHandle.current().pid(), Map.of(
                "TOKENPIPE_INGEST_PORT", port(ingest),
                "TOKENPIPE_DELIVERY_PORT", port(delivery),
                "TOKENPIPE_PUBLIC_INGEST_URL", ingest.base(),
                "TOKENPIPE_PUBLIC_DELIVERY_URL", delivery.base(),
                // The stack refuses to start without a token secret, and every request without a key:
                // the test clients send TestAuth's admin key.
                "TOKENPIPE_API_KEYS", TestAuth.env().get(AuthSettings.API_KEYS.name()),
                "TOKENPIPE_AUTH_TOKEN_SECRET", TestAuth.TOKEN_SECRET),
                Path.of("target", "compose-smoke"));
        // --wait returns once every service's health check passes, and fails when one never does.
        compose.run(BUILD_AND_START, "up", "--build", "--detach", "--wait");
        awaitHealthy(ingest);
        awaitHealthy(delivery);
    }

    @AfterAll
    static void down() {
        if (compose != null) {
            compose.saveLogs();
            compose.run(Duration.ofMinutes(3), "down", "--volumes", "--remove-orphans", "--timeout", "30");
        }
    }

    @Test
    @Order(1)
    void aTurnThroughThePublishedPortsResumesAfterACutWithNothingLostOrDoubled() throws Exception {
        ApiClient.Response created = ingest.post("/v1/sessions", "", Map.of());
        assertEquals(201, created.status(), created.body());
        String session = created.json().get("session_id").asText();
        assertEquals(delivery.base() + events(session), created.json().get("events_url").asText(),
                "ingest-api's STREAM_BASE_URL comes from TOKENPIPE_PUBLIC_DELIVERY_URL");
        ingest.submitPrompt(session, "{\"prompt\":\"through compose\",\"seed\":17,\"options\":{\"tokens\":80,\"tokens_per_second\":40}}");

        List<SseEvent> received = new ArrayList<>();
        try (SseTestClient first = SseTestClient.connect(delivery.uri(events(session)))) {
            received.addAll(first.awaitEvents(10, WAIT));
        }
        assertTrue(received.stream().noneMatch(e -> e.event().equals("turn.completed")), "cut mid-turn");
        try (SseTestClient resumed = SseTestClient.connect(delivery.uri(events(session)),
                Map.of("Last-Event-ID", received.getLast().id()))) {
            received.addAll(resumed.awaitEvent(e -> e.event().equals("turn.completed"), WAIT));
        }

        try (SseTestClient replay = SseTestClient.connect(delivery.uri(events(session) + "?follow=false"))) {
            assertEquals(replay.awaitEnd(WAIT), received, "the client got the whole stream: no gap, no duplicate");
        }
        assertEquals(PipelineIT.expectedText("through compose", 17, 80), PipelineIT.text(received));
    }

    @Test
    @Order(2)
    void workersScaleToTwoAndTheNextTurnIsAnsweredInFull() throws Exception {
        assertEquals(1, compose.containers(WORKER).size(), "one worker as the compose file starts it");
        compose.run(BUILD_AND_START, "up", "--detach", "--wait", "--scale", WORKER + "=2");
        assertEquals(2, compose.containers(WORKER).size(), "two healthy workers after scaling");

        String session = ingest.createSession();
        ingest.submitPrompt(session, "{\"prompt\":\"after scaling\",\"seed\":4,\"options\":{\"tokens\":30}}");
        try (SseTestClient client = SseTestClient.connect(delivery.uri(events(session)))) {
            List<SseEvent> turn = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertEquals(PipelineIT.expectedText("after scaling", 4, 30), PipelineIT.text(turn));
        }
    }

    private static String events(String session) {
        return "/v1/sessions/" + session + "/events";
    }

    /** Polls a published port's /health until it answers 200 (the first request may meet Docker's proxy starting). */
    private static void awaitHealthy(ApiClient service) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            try {
                ApiClient.Response health = service.get("/health");
                if (health.status() == 200) {
                    return;
                }
                last = health.status() + " " + health.body();
            } catch (RuntimeException e) {
                last = e.toString();
            }
            Thread.sleep(250); // polling another process's port
        }
        throw new AssertionError(service.base() + "/health never answered 200: " + last);
    }

    private static String port(ApiClient service) {
        return service.base().substring(service.base().lastIndexOf(':') + 1);
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
