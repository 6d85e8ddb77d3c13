package io.tokenpipe.standalone.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.standalone.StackFixture;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Sessions past SESSION_RETENTION_MS are deleted by the node whose index holds them, through the
 * same path as DELETE: the key shredded, the record tombstoned, every read 410.
 */
class SessionRetentionIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path dir;
    private static Topics topics;
    private static Standalone stack;
    private static ApiClient api;

    @BeforeAll
    static void start() {
        topics = SharedKafka.freshTopics("retention", 2);
        stack = StackFixture.start(topics, dir, Map.of("SESSION_RETENTION_MS", "1500", "SESSION_SWEEP_INTERVAL_MS", "200"));
        api = new ApiClient(stack.port());
    }

    @AfterAll
    static void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void aSessionOlderThanTheRetentionIsDeletedAsByDelete() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"short-lived\",\"options\":{\"tokens\":3}}");
        long deadline = System.nanoTime() + WAIT.toNanos();
        ApiClient.Response response;
        do {
            response = api.get("/v1/sessions/" + session + "/transcript");
            if (response.status() == 410) {
                break;
            }
            Thread.sleep(100); // polling for the sweeper's outcome
        } while (System.nanoTime() < deadline);
        assertEquals(410, response.status(), response.body());
        assertEquals("session_deleted", response.errorCode());
        JsonNode last = RawTopics.lastKeyRecord(topics.sessionKeys(), session);
        assertTrue(last.hasNonNull("deleted_at") && !last.has("key"), "the key is shredded: " + last);
        // The session's record in the sessions topic ends with a tombstone.
        var records = RawTopics.records(topics.sessions(), session);
        assertTrue(records.getLast().value() == null, "tombstoned in the sessions topic");
        if (records.size() < 2) {
            fail("the session's creation record should precede its tombstone (compaction has not run yet)");
        }
    }
}
