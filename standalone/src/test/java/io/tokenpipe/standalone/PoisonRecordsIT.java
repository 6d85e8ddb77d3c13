package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A record no reader can use (no value, not JSON, an unknown type, a wrong version), written straight
 * into every topic by a plain producer, never stops a partition or a stream: each reader skips it,
 * counts it, and goes on.
 */
class PoisonRecordsIT {

    @TempDir
    Path dataDir;

    @Test
    void poisonInEveryTopicIsSkippedAndCountedWhileTheSessionGoesOn() throws Exception {
        // One partition: the poison lies among the session's own records in every topic.
        Topics topics = SharedKafka.freshTopics("poison", 1);
        try (Standalone stack = StackFixture.start(topics, dataDir, Map.of());
             KafkaProducer<String, byte[]> raw = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(),
                     Map.of("acks", "all")), new StringSerializer(), new ByteArraySerializer())) {
            ApiClient api = new ApiClient(stack.port());
            String session = api.createSession();
            String first = api.submitPrompt(session, "{\"prompt\": \"before the poison\"}");
            try (SseTestClient live = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
                live.awaitEvent(e -> isEnd(e, first), Duration.ofSeconds(30));

                for (String topic : List.of(topics.sessions(), topics.prompts(), topics.turns(), topics.control())) {
                    poison(raw, topic, session);
                }
                send(raw, topics.prompts(), session, "{\"v\": 1, \"session_id\": \"" + session
                        + "\", \"model\": \"synthetic\", \"messages\": [{\"role\": \"user\", \"content\": \"no turn id\"}]}",
                        "prompt.submitted");

                String second = api.submitPrompt(session, "{\"prompt\": \"after the poison\", \"options\": {\"tokens\": 200}}");
                // In the stream, the poison lands amid the second turn's events, where every read of it passes.
                live.awaitEvent(e -> e.event().equals(TokenChunk.TYPE) && e.data().contains(second), Duration.ofSeconds(30));
                poison(raw, topics.stream(), session);
                live.awaitEvent(e -> isEnd(e, second), Duration.ofSeconds(30));
                assertTrue(tokens(live.events(), second) > 0, "the live stream carried the second turn's tokens");
            }

            // A fresh replay and the transcript read past the poison too.
            try (SseTestClient replay = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"))) {
                List<SseEvent> events = replay.awaitEnd(Duration.ofSeconds(30));
                assertEquals(2, events.stream().filter(e -> e.event().equals("turn.completed")).count(),
                        () -> "both turns replayed: " + events);
            }
            ApiClient.Response transcript = api.get("/v1/sessions/" + session + "/transcript");
            assertEquals(200, transcript.status(), transcript.body());
            JsonNode turns = transcript.json().path("turns");
            assertEquals(2, count(turns, "completed"), transcript.body());

            ApiClient.Response metrics = api.get("/metrics/runtime");
            JsonNode skipped = metrics.json().path("skipped_records");
            for (String reader : List.of("stream_tail", "history_reader", "prompt_consumer", "session_index", "cancel_listener",
                    "transcripts")) {
                assertTrue(skipped.path(reader).asLong() > 0, () -> reader + " counted what it skipped: " + skipped);
            }
            assertEquals(200, api.get("/health").status(), "every reader is still up");
        }
    }

    /** No value, not JSON, an unknown type of a future version, and (where a topic takes it) no key. */
    private void poison(KafkaProducer<String, byte[]> raw, String topic, String session) throws Exception {
        send(raw, topic, session, null, "turn.completed");
        send(raw, topic, session, "not json at all", "turn.completed");
        send(raw, topic, session, "{\"v\": 99, \"type\": \"from.the.future\", \"session_id\": \"" + session + "\"}",
                "from.the.future");
        if (!topic.endsWith("sessions")) { // a compacted topic refuses records without a key
            send(raw, topic, null, "{broken", null); // no key: a watermark on the turns topic
        }
    }

    private static void send(KafkaProducer<String, byte[]> raw, String topic, String key, String value, String type)
            throws Exception {
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, 0, key,
                value == null ? null : value.getBytes(StandardCharsets.UTF_8));
        if (type != null) {
            EventHeaders.withType(type).forEach(h -> record.headers().add(h));
        }
        raw.send(record).get();
    }

    private static boolean isEnd(SseEvent event, String turnId) {
        return event.event().equals("turn.completed") && event.data().contains(turnId);
    }

    private static long tokens(List<SseEvent> events, String turnId) {
        return events.stream().filter(e -> e.event().equals(TokenChunk.TYPE) && e.data().contains(turnId)).count();
    }

    private static int count(JsonNode turns, String status) {
        int n = 0;
        for (JsonNode turn : turns) {
            if (status.equals(turn.path("status").asText())) {
                n++;
            }
        }
        return n;
    }
}
