package io.tokenpipe.standalone;

import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** The embedded launcher's health includes its worker: a worker that stopped answering turns it red. */
class WorkerFailureHealthIT {

    @TempDir
    Path dataDir;

    @Test
    void aWorkerThatCannotWriteTurnsTheLaunchersHealthRed() throws Exception {
        Topics topics = SharedKafka.freshTopics("refused", 1);
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            // Smaller than the turn.started event below: the broker refuses it, for ever.
            admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topics.stream()),
                    List.of(new AlterConfigOp(new ConfigEntry(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "1000"),
                            AlterConfigOp.OpType.SET)))).all().get();
        }
        try (Standalone stack = StackFixture.start(topics, dataDir, Map.of())) {
            ApiClient api = new ApiClient(stack.port());
            assertEquals(200, awaitHealth(api, 200).status(), "the stack comes up healthy");
            String session = api.createSession();
            api.submitPrompt(session, "{\"prompt\": \"" + "x".repeat(3_000) + "\"}");

            ApiClient.Response health = awaitHealth(api, 503);
            assertEquals(503, health.status(), health.body());
            assertEquals("down", health.json().path("checks").path("inference_worker").asText(), health.body());
            assertNotNull(stack.worker().failure(), "the worker says why it stopped");
        }
    }

    private static ApiClient.Response awaitHealth(ApiClient api, int status) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        ApiClient.Response health = api.get("/health");
        while (health.status() != status && System.nanoTime() < deadline) {
            Thread.sleep(50); // polling: health has no change notification
            health = api.get("/health");
        }
        return health;
    }
}
