package io.tokenpipe.standalone;

import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseTestClient;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A session whose events retention removed is answered 410 {@code history_expired} on every read
 * path, not only on a resume: a fresh stream, a replay and a transcript would otherwise come back
 * partial (or empty) without a word.
 */
class ExpiredHistoryIT {

    @TempDir
    Path dataDir;

    @Test
    void everyReadPathOfASessionWhoseEventsExpiredAnswers410() throws Exception {
        Topics topics = SharedKafka.freshTopics("expired", 1);
        // One worker group for both stacks: the second must not answer the first one's prompt again.
        Map<String, String> workers = Map.of("WORKER_GROUP_ID", "workers-expired-" + System.nanoTime());
        String session;
        try (Standalone stack = StackFixture.start(topics, dataDir.resolve("before"), workers)) {
            ApiClient api = new ApiClient(stack.port());
            session = api.createSession();
            String turn = api.submitPrompt(session, "{\"prompt\": \"soon forgotten\"}");
            try (SseTestClient stream = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
                stream.awaitEvent(e -> e.event().equals("turn.completed") && e.data().contains(turn), Duration.ofSeconds(30));
            }
        }

        // Retention removes the session's events (the index, on its own topics, still knows the turn).
        TopicPartition stream = new TopicPartition(topics.stream(), 0);
        try (Admin admin = Admin.create(SharedKafka.settings().admin())) {
            long end = admin.listOffsets(Map.of(stream, OffsetSpec.latest())).partitionResult(stream).get().offset();
            admin.deleteRecords(Map.of(stream, RecordsToDelete.beforeOffset(end))).all().get();
        }

        // A node started since: its memory of recent events does not hold the session either.
        try (Standalone stack = StackFixture.start(topics, dataDir.resolve("after"), workers)) {
            ApiClient api = new ApiClient(stack.port());
            String events = "/v1/sessions/" + session + "/events";
            awaitIndexed(api, "/v1/sessions/" + session + "/transcript");

            expectExpired(api.get("/v1/sessions/" + session + "/transcript"));
            for (String path : new String[]{events, events + "?follow=false", events + "?last_event_id=0"}) {
                try (SseTestClient client = SseTestClient.connect(api.uri(path))) {
                    assertEquals(410, client.status(), path);
                    assertTrue(client.body().contains("history_expired"), path);
                }
            }
        }
    }

    /** The new node's index rebuilds from its topics; until it has, lookups answer 503. */
    private static void awaitIndexed(ApiClient api, String path) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (api.get(path).status() == 503) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the index did not answer within 30 s");
            }
            Thread.sleep(100); // polling: the index has no readiness notification over HTTP
        }
    }

    private static void expectExpired(ApiClient.Response response) {
        assertEquals(410, response.status(), response.body());
        assertEquals("history_expired", response.errorCode(), response.body());
    }
}
