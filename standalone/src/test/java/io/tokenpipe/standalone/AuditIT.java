package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TestAuth;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The auditors' tools over HTTP on a whole stack: finding sessions, replaying one at its original
 * pace, and the access trail every such read leaves.
 */
class AuditIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    /** How late the server may write a paced event after its due time, by its own clock. */
    private static final long LATENESS_TOLERANCE_MS = 1_000;

    @TempDir
    static Path dataDir;
    private static Standalone stack;
    private static Topics topics;
    private static ApiClient audit;
    private static ApiClient admin;
    private static String customer;
    private static final List<String> sessions = new ArrayList<>();
    private static String pacedSession;

    @BeforeAll
    static void start() throws Exception {
        topics = SharedKafka.freshTopics("audit", 2);
        stack = StackFixture.start(topics, dataDir, Map.of());
        ApiClient submit = new ApiClient(stack.port()).as(TestAuth.SUBMIT_KEY);
        audit = new ApiClient(stack.port()).as(TestAuth.AUDIT_KEY);
        admin = new ApiClient(stack.port()).as(TestAuth.ADMIN_KEY);
        customer = "c-" + System.nanoTime();
        for (int i = 0; i < 5; i++) {
            ApiClient.Response created = submit.post("/v1/sessions",
                    "{\"metadata\":{\"customer\":\"" + customer + "\",\"n\":\"" + i + "\"}}", Map.of("Content-Type", "application/json"));
            assertEquals(201, created.status(), created.body());
            sessions.add(created.json().get("session_id").asText());
        }
        // One session answers at a known pace: 12 tokens, 10 a second (gaps of about 100 ms).
        pacedSession = sessions.get(2);
        submit.submitPrompt(pacedSession, "{\"prompt\":\"pace\",\"options\":{\"tokens\":12,\"tokens_per_second\":10}}");
        awaitCompleted(pacedSession);
    }

    @AfterAll
    static void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void anAuditorFindsSessionsByMetadataPagedAcrossPageBoundaries() throws Exception {
        List<String> seen = new ArrayList<>();
        String cursor = null;
        long deadline = System.nanoTime() + WAIT.toNanos();
        do {
            String path = "/v1/sessions?limit=2&metadata.customer=" + customer + (cursor == null ? "" : "&cursor=" + cursor);
            ApiClient.Response page = audit.get(path);
            assertEquals(200, page.status(), page.body());
            assertTrue(page.json().get("sessions").size() <= 2);
            page.json().get("sessions").forEach(s -> seen.add(s.get("session_id").asText()));
            JsonNode next = page.json().get("next_cursor");
            cursor = next == null || next.isNull() ? null : next.asText();
            if (cursor == null && seen.size() < sessions.size() && System.nanoTime() < deadline) {
                seen.clear(); // the index has not caught up with every creation yet: search again
                Thread.sleep(100); // poll interval
            }
        } while (cursor != null || (seen.size() < sessions.size() && System.nanoTime() < deadline));
        assertEquals(sessions, seen, "each session once, in creation order");

        ApiClient.Response completed = audit.get("/v1/sessions?status=completed&model=synthetic&metadata.customer=" + customer);
        assertEquals(200, completed.status(), completed.body());
        assertEquals(1, completed.json().get("sessions").size(), completed.body());
        JsonNode found = completed.json().get("sessions").get(0);
        assertEquals(pacedSession, found.get("session_id").asText());
        assertEquals("2", found.get("metadata").get("n").asText());
        assertEquals("synthetic", found.get("turns").get(0).get("model").asText());
        assertEquals("/v1/sessions/" + pacedSession + "/transcript", found.get("transcript_url").asText());

        String future = URLEncoder.encode(Instant.now().plus(Duration.ofDays(1)).toString(), StandardCharsets.UTF_8);
        ApiClient.Response none = audit.get("/v1/sessions?from=" + future + "&metadata.customer=" + customer);
        assertEquals(0, none.json().get("sessions").size(), none.body());
    }

    @Test
    void badSearchParametersAre400WithAJsonError() {
        Map<String, String> refused = new HashMap<>();
        refused.put("/v1/sessions?from=yesterday", "invalid_request");
        refused.put("/v1/sessions?from=2026-03-02T15:00:00Z&to=2026-03-02T14:00:00Z", "invalid_request");
        refused.put("/v1/sessions?status=done", "invalid_request");
        refused.put("/v1/sessions?limit=0", "invalid_request");
        refused.put("/v1/sessions?limit=201", "invalid_request");
        refused.put("/v1/sessions?limit=ten", "invalid_request");
        refused.put("/v1/sessions?cursor=bm90LWEtY3Vyc29y", "invalid_cursor");
        refused.put("/v1/sessions?cursor=%25%25", "invalid_cursor");
        refused.put("/v1/sessions?modle=synthetic", "unknown_parameter");
        refused.put("/v1/sessions?metadata.=x", "invalid_request");
        refused.put("/v1/sessions?model=a&model=b", "invalid_request");
        refused.put("/v1/audit/trail?after=x", "invalid_cursor");
        refused.put("/v1/audit/trail?limit=-3", "invalid_request");
        refused.put("/v1/audit/trail?sinse=2026-01-01T00:00:00Z", "unknown_parameter");
        refused.forEach((path, code) -> {
            ApiClient.Response response = admin.get(path);
            assertEquals(400, response.status(), path + ": " + response.body());
            assertEquals(code, response.errorCode(), path + ": " + response.body());
        });
        String events = "/v1/sessions/" + pacedSession + "/events";
        for (String query : List.of("?pace=fast", "?pace=0", "?pace=101", "?pace=original&follow=true",
                "?pace=original&max_gap_ms=-1", "?pace=original&max_gap_ms=60001", "?max_gap_ms=100")) {
            ApiClient.Response response = audit.get(events + query);
            assertEquals(400, response.status(), query + ": " + response.body());
            assertNotNull(response.errorCode(), query + ": " + response.body());
        }
    }

    @Test
    void aPacedReplayKeepsTheOriginalGapsBetweenEventsAsKafkaRecordedThem() throws Exception {
        List<SseEvent> all = replay("?pace=original");
        Map<Long, Long> recorded = kafkaTimestamps(pacedSession);
        List<SseEvent> events = all.stream().filter(e -> !e.event().equals("pace")).toList();
        List<JsonNode> marks = marks(all);

        assertTrue(events.size() >= 14, "turn.started, 12 tokens, turn.completed: " + events.size());
        assertEquals(events.size(), marks.size(), "every event comes with its pace mark");
        long first = recorded.get(events.getFirst().offset());
        long due = 0;
        for (int i = 0; i < events.size(); i++) {
            JsonNode mark = marks.get(i);
            long offset = events.get(i).offset();
            assertEquals(offset, mark.get("offset").asLong(), "a mark comes just before its event");
            assertEquals(recorded.get(offset) - first, mark.get("original_ms").asLong(), "original time from Kafka's timestamps");
            if (i > 0) {
                due += recorded.get(offset) - recorded.get(events.get(i - 1).offset());
            }
            assertEquals(due, mark.get("due_ms").asLong(), "due exactly as long after the first event as originally");
            assertFalse(mark.get("capped").asBoolean());
            long sent = mark.get("sent_ms").asLong();
            assertTrue(sent >= due, "never before its time: sent " + sent + " due " + due);
            assertTrue(sent - due <= LATENESS_TOLERANCE_MS, "written within the tolerance of its time: sent " + sent + " due " + due);
        }
        assertTrue(due >= 500, "12 tokens at 10 a second span about a second: " + due);
        assertEquals(List.of(events.getLast().id()), List.of(String.valueOf(events.getLast().offset())));
    }

    @Test
    void aSpeedFactorAndAGapCapShortenThePausesAndSaySo() throws Exception {
        // The cap is half the longest gap Kafka recorded: at least that gap is capped, however the worker's
        // writes were spaced on this machine (a loaded one sends a turn's tokens in bursts).
        Map<Long, Long> recorded = kafkaTimestamps(pacedSession);
        List<Long> times = recorded.keySet().stream().sorted().map(recorded::get).toList();
        long longest = 0;
        for (int i = 1; i < times.size(); i++) {
            longest = Math.max(longest, times.get(i) - times.get(i - 1));
        }
        assertTrue(longest >= 2, "a turn of 12 tokens at 10 a second has gaps between its events: " + times);
        long cap = longest / 2;
        List<SseEvent> all = replay("?pace=4&max_gap_ms=" + cap);
        List<SseEvent> events = all.stream().filter(e -> !e.event().equals("pace")).toList();
        List<JsonNode> marks = marks(all);

        double due = 0;
        boolean anyCapped = false;
        for (int i = 1; i < events.size(); i++) {
            long gap = recorded.get(events.get(i).offset()) - recorded.get(events.get(i - 1).offset());
            JsonNode mark = marks.get(i);
            assertEquals(gap, mark.get("gap_ms").asLong(), "the original gap, as recorded");
            assertEquals(gap > cap, mark.get("capped").asBoolean(), "capped exactly when the gap exceeds max_gap_ms");
            anyCapped |= gap > cap;
            due += Math.min(gap, cap) / 4.0;
            assertEquals(Math.round(due), mark.get("due_ms").asLong());
            // Times are whole milliseconds: a quarter gap's fraction may round due_ms up past sent_ms.
            assertTrue(mark.get("sent_ms").asLong() >= (long) Math.floor(due), "never before its time");
        }
        assertTrue(anyCapped, "the longest gap exceeds a cap of half of it");
    }

    @Test
    void everyAuditReadIsInTheAccessTrailWithTheKeysNameNeverTheKey() throws Exception {
        long before = lastPosition();
        assertEquals(200, audit.get("/v1/sessions?limit=1&metadata.customer=" + customer).status());
        assertEquals(200, audit.get("/v1/sessions/" + sessions.get(0) + "/transcript?events=false").status());
        try (SseTestClient replay = SseTestClient.connectWith(
                audit.uri("/v1/sessions/" + sessions.get(1) + "/events?follow=false"), Map.of(), TestAuth.AUDIT_KEY)) {
            replay.awaitEnd(WAIT);
        }

        ApiClient.Response page = admin.get("/v1/audit/trail?after=" + before + "&limit=10");
        assertEquals(200, page.status(), page.body());
        assertFalse(page.body().contains(TestAuth.AUDIT_KEY), "the trail names keys, never holds them");
        List<JsonNode> entries = new ArrayList<>();
        page.json().get("entries").forEach(entries::add);
        assertEquals(List.of("sessions.search", "session.transcript", "session.replay"),
                entries.stream().map(e -> e.get("action").asText()).toList(), page.body());
        for (JsonNode entry : entries) {
            assertEquals("test-audit", entry.get("actor").get("name").asText());
            assertEquals("api_key", entry.get("actor").get("kind").asText());
            assertTrue(entry.get("position").asLong() > before);
            assertNotNull(Instant.parse(entry.get("at").asText()));
        }
        assertEquals(customer, entries.get(0).get("detail").get("metadata.customer").asText());
        assertEquals(sessions.get(0), entries.get(1).get("session_id").asText());
        assertEquals("false", entries.get(1).get("detail").get("events").asText());
        assertEquals(sessions.get(1), entries.get(2).get("session_id").asText());
        assertEquals("false", entries.get(2).get("detail").get("follow").asText());

        // Paged: one at a time, each once.
        ApiClient.Response one = admin.get("/v1/audit/trail?after=" + before + "&limit=1");
        long next = one.json().get("next_after").asLong();
        ApiClient.Response two = admin.get("/v1/audit/trail?after=" + next + "&limit=1");
        assertEquals(entries.get(1).get("position").asLong(), two.json().get("entries").get(0).get("position").asLong());
    }

    @Test
    void aLiveStreamIsNoAuditReadAndLeavesNoTrail() throws Exception {
        long before = lastPosition();
        String token = new ApiClient(stack.port()).as(TestAuth.SUBMIT_KEY)
                .post("/v1/sessions/" + sessions.get(3) + "/read-tokens", "", Map.of()).json().get("read_token").asText();
        try (SseTestClient live = SseTestClient.connectWith(audit.uri("/v1/sessions/" + sessions.get(3) + "/events"), Map.of(), token)) {
            live.awaitComments(2, WAIT); // the stream is open (retry line counted or heartbeats)
        }
        assertEquals(200, audit.get("/v1/sessions?limit=1").status()); // a marker after it
        ApiClient.Response page = admin.get("/v1/audit/trail?after=" + before);
        List<String> actions = new ArrayList<>();
        page.json().get("entries").forEach(e -> actions.add(e.get("action").asText() + ":" + e.path("session_id").asText("")));
        assertFalse(actions.contains("session.replay:" + sessions.get(3)), actions.toString());
    }

    private static long lastPosition() {
        long last = -1;
        while (true) {
            ApiClient.Response page = admin.get("/v1/audit/trail?limit=200&after=" + last);
            assertEquals(200, page.status(), page.body());
            for (JsonNode entry : page.json().get("entries")) {
                last = entry.get("position").asLong();
            }
            JsonNode next = page.json().get("next_after");
            if (next == null || next.isNull()) {
                return last;
            }
        }
    }

    private static List<SseEvent> replay(String query) throws Exception {
        try (SseTestClient replay = SseTestClient.connectWith(
                audit.uri("/v1/sessions/" + pacedSession + "/events" + query), Map.of(), TestAuth.AUDIT_KEY)) {
            assertEquals(200, replay.status());
            return replay.awaitEnd(WAIT);
        }
    }

    private static List<JsonNode> marks(List<SseEvent> events) {
        return events.stream().filter(e -> e.event().equals("pace")).map(e -> Json.read(e.data().getBytes(StandardCharsets.UTF_8),
                JsonNode.class)).toList();
    }

    /** The Kafka timestamp of each of the session's records in the stream topic, by offset. */
    private static Map<Long, Long> kafkaTimestamps(String sessionId) {
        TopicPartition partition = new TopicPartition(topics.stream(), Partitioning.partitionOf(sessionId, topics.partitions()));
        Map<Long, Long> out = new HashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(),
                Map.of("enable.auto.commit", false, "isolation.level", "read_uncommitted")),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(Set.of(partition));
            consumer.seekToBeginning(Set.of(partition));
            long end = consumer.endOffsets(Set.of(partition)).get(partition);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (consumer.position(partition) < end && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    if (sessionId.equals(record.key())) {
                        out.put(record.offset(), record.timestamp());
                    }
                }
            }
        }
        return out;
    }

    private static void awaitCompleted(String sessionId) throws Exception {
        try (SseTestClient events = SseTestClient.connect(audit.uri("/v1/sessions/" + sessionId + "/events"))) {
            events.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
        }
    }
}
