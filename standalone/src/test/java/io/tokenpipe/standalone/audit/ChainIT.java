package io.tokenpipe.standalone.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.EventChain;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.privacy.SessionCipher;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.standalone.StackFixture;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseTestClient;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.crypto.SecretKey;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The hash chain on a real broker. A worker's turns verify in the transcript. A forger who holds the
 * session's key and can write to the stream topic (an insider: the chain is what stands against them,
 * since encryption alone does not) appends turns with a raw producer: an intact copy verifies, one
 * with a record altered or one removed does not, and the transcript names the record where it breaks.
 */
class ChainIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dir;
    private static Topics topics;
    private static Standalone stack;
    private static ApiClient api;
    private static KafkaProducer<String, byte[]> forger;

    @BeforeAll
    static void start() {
        topics = SharedKafka.freshTopics("chain", 2);
        stack = StackFixture.start(topics, dir, Map.of());
        api = new ApiClient(stack.port());
        forger = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(), Map.of(ProducerConfig.ACKS_CONFIG, "all")),
                new StringSerializer(), new ByteArraySerializer());
    }

    @AfterAll
    static void stop() {
        if (forger != null) {
            forger.close();
        }
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void aWorkersTurnsVerifyLinkByLink() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"first\",\"options\":{\"tokens\":8}}");
        api.submitPrompt(session, "{\"prompt\":\"second\",\"options\":{\"tokens\":5}}");
        awaitCompleted(session, 2);
        JsonNode turns = api.get("/v1/sessions/" + session + "/transcript").json().get("turns");
        assertEquals(2, turns.size());
        for (JsonNode turn : turns) {
            JsonNode chain = turn.get("chain");
            assertTrue(chain.get("verified").asBoolean(), chain.toString());
            assertEquals(turn.get("events").size(), chain.get("events").asInt());
            // The head is the last event's link, as carried in the record.
            assertEquals(turn.get("events").get(turn.get("events").size() - 1).get("chain").asText(), chain.get("head").asText());
        }
    }

    @Test
    void anIntactForgedTurnVerifiesSoTheForgeryItselfIsFaithful() throws Exception {
        String session = api.createSession();
        forge(session, "t_intact", -1, false);
        JsonNode chain = awaitTurn(session, "t_intact").get("chain");
        assertTrue(chain.get("verified").asBoolean(), chain.toString());
    }

    @Test
    void anAlteredRecordBreaksTheChainAtThatRecord() throws Exception {
        String session = api.createSession();
        List<Long> offsets = forge(session, "t_altered", 2, false);
        JsonNode turn = awaitTurn(session, "t_altered");
        JsonNode chain = turn.get("chain");
        assertFalse(chain.get("verified").asBoolean(), chain.toString());
        assertEquals(List.of(offsets.get(2)), offsetsOf(chain.get("broken_at_offsets")));
        assertTrue(turn.get("answer").asText().contains("TAMPERED"), "the altered text is what the log now says");
    }

    @Test
    void aRemovedRecordBreaksTheChainAtTheRecordAfterIt() throws Exception {
        String session = api.createSession();
        List<Long> offsets = forge(session, "t_removed", 2, true);
        JsonNode chain = awaitTurn(session, "t_removed").get("chain");
        assertFalse(chain.get("verified").asBoolean(), chain.toString());
        assertEquals(List.of(offsets.get(2)), offsetsOf(chain.get("broken_at_offsets")),
                "the record after the missing one (offsets list what was written)");
    }

    /**
     * Writes a turn of 6 events (started, 4 tokens, completed) into the session, sealed with its key and
     * chained as a worker would, then its marks. Event {@code tamper} is altered (its text changed, its
     * link kept) or, with {@code remove}, left out. Returns the offsets of the records written, in order.
     */
    private static List<Long> forge(String session, String turnId, int tamper, boolean remove) throws Exception {
        SecretKey key = RawTopics.key(topics.sessionKeys(), session);
        assertNotNull(key);
        int partition = Partitioning.partitionOf(session, topics.partitions());
        Instant now = Instant.now();
        List<StreamEvent> events = new ArrayList<>();
        events.add(new TurnStarted(1, session, turnId, 0, 1, now, "forger", "synthetic",
                List.of(new ChatMessage("user", "forged")), GenerationParams.DEFAULTS, "r_" + turnId, now, null));
        for (int i = 1; i <= 4; i++) {
            events.add(new TokenChunk(1, session, turnId, i, 1, now, " word" + i));
        }
        events.add(new TurnCompleted(1, session, turnId, 5, 1, now, "stop", null));
        byte[] link = EventChain.genesis();
        List<Long> offsets = new ArrayList<>();
        for (StreamEvent event : events) {
            byte[] value = SessionCipher.seal(key, session, Json.event(event));
            link = EventChain.next(link, value);
            if (event.index() == tamper) {
                if (remove) {
                    continue;
                }
                value = SessionCipher.seal(key, session, Json.event(new TokenChunk(1, session, turnId, event.index(), 1, now, " TAMPERED")));
            }
            Headers headers = EventHeaders.withType(event.type());
            headers.add(EventChain.HEADER, link);
            RecordMetadata written = forger.send(new ProducerRecord<>(topics.stream(), partition, session, value, headers)).get();
            offsets.add(written.offset());
            TurnMark mark = TurnMark.of(event, written.offset());
            if (mark != null) {
                forger.send(new ProducerRecord<>(topics.turns(), partition, session, Json.bytes(mark),
                        EventHeaders.withType(TurnMark.TYPE))).get();
            }
        }
        return offsets;
    }

    private static JsonNode awaitTurn(String session, String turnId) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            JsonNode transcript = api.get("/v1/sessions/" + session + "/transcript").json();
            for (JsonNode turn : transcript.path("turns")) {
                if (turnId.equals(turn.path("turn_id").asText()) && "completed".equals(turn.path("status").asText())) {
                    return turn;
                }
            }
            Thread.sleep(50); // polling until the index has read the forged turn's marks
        }
        return fail("the forged turn " + turnId + " never showed in the transcript");
    }

    private static void awaitCompleted(String session, int turns) throws Exception {
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvent(e -> e.event().equals("turn.completed")
                    && client.events().stream().filter(x -> x.event().equals("turn.completed")).count() >= turns, WAIT);
        }
    }

    private static List<Long> offsetsOf(JsonNode array) {
        List<Long> out = new ArrayList<>();
        if (array != null) {
            array.forEach(n -> out.add(n.asLong()));
        }
        return out;
    }
}
