package io.tokenpipe.standalone;

import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A transcript is built whole in memory: one larger than TRANSCRIPT_MAX_BYTES is refused with 413,
 * while the session stays readable as a stream and smaller sessions' transcripts are still served.
 */
class TranscriptLimitIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dataDir;

    @Test
    void aTranscriptOverTheLimitIs413AndTheSessionStillReplaysAsAStream() throws Exception {
        try (Standalone stack = StackFixture.start(SharedKafka.freshTopics("transcript-limit", 1), dataDir,
                Map.of("TRANSCRIPT_MAX_BYTES", "4000"))) {
            ApiClient api = new ApiClient(stack.port());
            String small = completedSession(api, 3);
            String large = completedSession(api, 60); // ~60 token events of ~200 bytes: well over 4,000

            ApiClient.Response refused = api.get("/v1/sessions/" + large + "/transcript");
            assertEquals(413, refused.status(), refused.body());
            assertEquals("transcript_too_large", refused.errorCode());
            try (SseTestClient replay = SseTestClient.connect(api.uri("/v1/sessions/" + large + "/events?follow=false"))) {
                List<SseEvent> events = replay.awaitEnd(WAIT);
                assertEquals(62, events.size(), "turn.started, 60 tokens, turn.completed");
            }

            ApiClient.Response served = api.get("/v1/sessions/" + small + "/transcript");
            assertEquals(200, served.status(), served.body());
        }
    }

    private static String completedSession(ApiClient api, int tokens) throws Exception {
        String session = api.createSession();
        String turn = api.submitPrompt(session, "{\"prompt\":\"limits\",\"options\":{\"tokens\":" + tokens
                + ",\"tokens_per_second\":1000}}");
        try (SseTestClient stream = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            stream.awaitEvent(e -> e.event().equals("turn.completed") && e.data().contains(turn), WAIT);
        }
        return session;
    }
}
