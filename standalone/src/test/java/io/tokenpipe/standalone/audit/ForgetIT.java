package io.tokenpipe.standalone.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.privacy.KafkaSessionKeys;
import io.tokenpipe.common.privacy.SessionCipher;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionDeletedException;
import io.tokenpipe.common.privacy.SessionKeys;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.standalone.StackFixture;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.WsTestClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.crypto.SecretKey;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Forgetting a session (crypto-shredding) on a real broker, with two nodes: the whole stack, and a
 * second delivery-sse node. The session's prompt and answer are never in Kafka in plain text; after
 * DELETE on one node, every read of it on both nodes answers 410, an open stream on the other node
 * ends, and the bytes left in Kafka no longer open for anyone reading the key topic.
 */
class ForgetIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String SECRET = "my-secret-prompt-xyzzy";

    @TempDir
    static Path dir;
    private static Topics topics;
    private static Standalone stack;
    private static DeliveryService otherNode;
    private static ApiClient api;
    private static ApiClient other;

    @BeforeAll
    static void start() {
        topics = SharedKafka.freshTopics("forget", 2);
        Map<String, String> env = new HashMap<>(StackFixture.env(topics, dir.resolve("a"), Map.of()));
        stack = Standalone.start(Env.of(env));
        env.put("DELIVERY_HTTP_PORT", "0");
        env.put("STATE_DIR", dir.resolve("b-state").toString());
        otherNode = DeliveryService.start(Env.of(env));
        api = new ApiClient(stack.port());
        other = new ApiClient(otherNode.port());
    }

    @AfterAll
    static void stop() {
        if (otherNode != null) {
            otherNode.close();
        }
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void aDeletedSessionIsGoneOnEveryNodeAndItsBytesInKafkaNoLongerOpen() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"" + SECRET + "\",\"seed\":7,\"options\":{\"tokens\":12}}");
        List<io.tokenpipe.testing.SseEvent> events;
        try (SseTestClient client = SseTestClient.connect(other.uri("/v1/sessions/" + session + "/events"))) {
            events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
        }
        String answerToken = Json(events.get(2).data()).get("text").asText().trim();
        assertTrue(events.getFirst().data().contains(SECRET), "the other node opens and serves the prompt");

        // Kafka holds ciphertext only: no prompt, no answer, in the prompts and stream topics.
        SecretKey key = RawTopics.key(topics.sessionKeys(), session);
        assertNotNull(key, "the session has a key in the key topic");
        List<ConsumerRecord<String, byte[]>> stream = RawTopics.records(topics.stream(), session);
        assertEquals(events.size(), stream.size());
        for (ConsumerRecord<String, byte[]> record : stream) {
            assertTrue(SessionCipher.sealed(record.value()), "sealed at offset " + record.offset());
            assertFalse(RawTopics.contains(record.value(), SECRET), "no prompt in plain text");
            assertFalse(RawTopics.contains(record.value(), session), "not even the session id inside the value");
            String opened = new String(SessionCipher.open(key, session, record.value()), StandardCharsets.UTF_8);
            assertTrue(opened.contains(session), "it opens with the session's key");
        }
        assertTrue(new String(SessionCipher.open(key, session, stream.get(2).value()), StandardCharsets.UTF_8).contains(answerToken));
        for (ConsumerRecord<String, byte[]> record : RawTopics.records(topics.prompts(), session)) {
            assertFalse(RawTopics.contains(record.value(), SECRET), "the prompt is sealed in the prompts topic too");
            assertTrue(RawTopics.contains(record.value(), "sealed_messages"));
        }

        // A stream left open on the other node, and one WebSocket subscription, before the delete.
        SseTestClient open = SseTestClient.connect(other.uri("/v1/sessions/" + session + "/events"));
        open.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);

        ApiClient.Response deleted = api.delete("/v1/sessions/" + session);
        assertEquals(200, deleted.status(), deleted.body());
        assertTrue(deleted.json().get("encrypted").asBoolean());

        open.awaitEnd(WAIT); // the other node ended it as soon as it read the deletion
        open.close();
        long lastId = Long.parseLong(events.getLast().id());
        for (ApiClient node : List.of(api, other)) {
            awaitGone(() -> node.get("/v1/sessions/" + session + "/events?follow=false", Map.of("Accept", "text/event-stream")));
            assertGone(node.get("/v1/sessions/" + session + "/transcript"));
            assertGone(node.get("/v1/sessions/" + session + "/events", Map.of("Accept", "text/event-stream",
                    "Last-Event-ID", Long.toString(lastId - 3))));
        }
        assertGone(api.get("/v1/sessions/" + session));
        assertGone(api.submitTurn(session, "{\"prompt\":\"more\"}", null));
        assertEquals(410, api.delete("/v1/sessions/" + session).status(), "deleting twice: already gone");
        try (WsTestClient socket = WsTestClient.connect(WsTestClient.uri(other.base(), null))) {
            socket.sendJson("type", "subscribe", "session_id", session, "ref", "s1");
            JsonNode refused = socket.awaitReply("s1", WAIT);
            assertEquals("session_deleted", refused.get("error").get("code").asText(), refused.toString());
            assertEquals(410, refused.get("error").get("status").asInt());
        }

        // The key topic now says "deleted" for the session, and has no key for it: a reader of the
        // topic (a node started now) cannot open the bytes still in the stream topic.
        JsonNode last = RawTopics.lastKeyRecord(topics.sessionKeys(), session);
        assertTrue(last.hasNonNull("deleted_at") && !last.has("key"), last.toString());
        assertNull(RawTopics.key(topics.sessionKeys(), session));
        try (KafkaSessionKeys fresh = new KafkaSessionKeys(SharedKafka.settings(), topics.sessionKeys(), true,
                Duration.ofSeconds(5), Clock.systemUTC()).start()) {
            assertEquals(SessionKeys.DELETED, fresh.known(session));
            SessionCodec codec = new SessionCodec(fresh);
            List<ConsumerRecord<String, byte[]>> after = RawTopics.records(topics.stream(), session);
            assertEquals(stream.size(), after.size(), "Kafka's log is not rewritten: the ciphertext stays until retention");
            for (ConsumerRecord<String, byte[]> record : after) {
                assertThrows(SessionDeletedException.class, () -> codec.openEvent(session, record.value()));
                assertFalse(RawTopics.contains(record.value(), SECRET));
                assertFalse(RawTopics.contains(record.value(), answerToken));
            }
        }
    }

    @Test
    void anotherSessionIsUntouched() throws Exception {
        String kept = api.createSession();
        String doomed = api.createSession();
        api.submitPrompt(kept, "{\"prompt\":\"keep me\",\"options\":{\"tokens\":3}}");
        assertEquals(200, api.delete("/v1/sessions/" + doomed).status());
        try (SseTestClient client = SseTestClient.connect(other.uri("/v1/sessions/" + kept + "/events"))) {
            client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
        }
        assertEquals(200, other.get("/v1/sessions/" + kept + "/transcript").status());
    }

    private static void awaitGone(Supplier<ApiClient.Response> request) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        ApiClient.Response response;
        do {
            response = request.get();
            if (response.status() == 410) {
                assertGone(response);
                return;
            }
            Thread.sleep(20); // polling the other node until it has read the deletion
        } while (System.nanoTime() < deadline);
        fail("still served after the delete: " + response.status() + " " + response.body());
    }

    private static void assertGone(ApiClient.Response response) {
        assertEquals(410, response.status(), response.body());
        assertEquals("session_deleted", response.errorCode(), response.body());
    }

    private static JsonNode Json(String data) throws Exception {
        return io.tokenpipe.common.event.Json.MAPPER.readTree(data);
    }
}
