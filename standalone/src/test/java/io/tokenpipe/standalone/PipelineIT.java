package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole pipeline, one JVM, real broker, real HTTP and SSE clients: prompt in, tokens out. */
class PipelineIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;
    private static Topics topics;

    @BeforeAll
    static void start() {
        topics = SharedKafka.freshTopics("pipeline", 3);
        stack = StackFixture.start(topics, dataDir, Map.of());
        api = new ApiClient(stack.port());
    }

    @AfterAll
    static void stop() {
        stack.close();
    }

    @Test
    void aPromptStreamsStartedTokensAndCompletedWithTheModelsText() throws Exception {
        String session = api.createSession();
        String body = "{\"prompt\":\"Tell me about Kafka\",\"seed\":42,\"options\":{\"tokens\":30}}";
        String turn = api.submitPrompt(session, body);

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);

            assertEquals("turn.started", events.getFirst().event());
            assertEquals("turn.completed", events.getLast().event());
            assertEquals(30, events.stream().filter(e -> e.event().equals("token")).count());
            assertEquals(expectedText("Tell me about Kafka", 42, 30), text(events));
            for (SseEvent e : events) {
                assertEquals(turn, Json.MAPPER.readTree(e.data()).get("turn_id").asText());
            }
            assertStrictlyIncreasingIds(events);
            assertEquals(List.of(0, 1, 2), indexes(events).subList(0, 3));
        }
    }

    @Test
    void aClientThatDropsMidTurnResumesWithLastEventIdAndMissesNothing() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"a long answer please\",\"seed\":7,\"options\":{\"tokens\":80,\"tokens_per_second\":40}}");
        List<SseEvent> received = new ArrayList<>();

        try (SseTestClient first = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            received.addAll(first.awaitEvents(10, WAIT));
        }
        assertTrue(received.stream().noneMatch(e -> e.event().equals("turn.completed")), "dropped mid-turn");
        String lastId = received.getLast().id();
        try (SseTestClient resumed = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"),
                Map.of("Last-Event-ID", lastId))) {
            received.addAll(resumed.awaitEvent(e -> e.event().equals("turn.completed"), WAIT));
        }

        assertEquals(fullStream(session), received, "what the client got equals the whole stream: no gap, no duplicate");
        assertEquals(expectedText("a long answer please", 7, 80), text(received));
    }

    @Test
    void theLastEventIdQueryParameterResumesLikeTheHeader() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"q\",\"seed\":3,\"options\":{\"tokens\":20}}");
        List<SseEvent> full = awaitComplete(session);
        String middle = full.get(10).id();

        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?last_event_id=" + middle))) {
            List<SseEvent> rest = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            assertEquals(full.subList(11, full.size()), rest);
        }
    }

    @Test
    void aReplayAfterCompletionEqualsWhatWasSeenLiveAndEnds() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"first\",\"seed\":1,\"options\":{\"tokens\":15}}");
        List<SseEvent> live;
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            live = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
        }

        try (SseTestClient replay = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"))) {
            List<SseEvent> replayed = replay.awaitEnd(WAIT);
            assertEquals(live, replayed);
        }
    }

    @Test
    void aPageOpenedLateSeesEveryTurnFromTheSessionsBeginning() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"one\",\"options\":{\"tokens\":5}}");
        api.submitPrompt(session, "{\"prompt\":\"two\",\"options\":{\"tokens\":5}}");
        awaitTurnsCompleted(session, 2);

        try (SseTestClient late = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            List<SseEvent> events = late.awaitEvents(14, WAIT);
            assertEquals(2, events.stream().filter(e -> e.event().equals("turn.started")).count());
            assertEquals("one", lastUserMessage(events.getFirst()));
            assertStrictlyIncreasingIds(events);
        }
    }

    @Test
    void concurrentSessionsNeverInterleave() throws Exception {
        int sessions = 6;
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<List<SseEvent>>> results = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < sessions; i++) {
            String session = api.createSession();
            ids.add(session);
            results.add(pool.submit(() -> {
                try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
                    api.submitPrompt(session, "{\"prompt\":\"" + session + "\",\"options\":{\"tokens\":25}}");
                    api.submitPrompt(session, "{\"prompt\":\"again\",\"options\":{\"tokens\":10}}");
                    return client.awaitEvent(e -> e.event().equals("turn.completed")
                            && client.events().stream().filter(x -> x.event().equals("turn.completed")).count() == 2, WAIT);
                }
            }));
        }
        for (int i = 0; i < sessions; i++) {
            List<SseEvent> events = results.get(i).get();
            Set<String> sessionIds = new HashSet<>();
            for (SseEvent e : events) {
                sessionIds.add(Json.MAPPER.readTree(e.data()).get("session_id").asText());
            }
            assertEquals(Set.of(ids.get(i)), sessionIds, "a session's stream holds only its own events");
            assertStrictlyIncreasingIds(events);
            assertTurnsAreContiguous(events);
        }
        pool.shutdown();
    }

    @Test
    void theStreamCarriesRetryHintHeartbeatsAndAntiBufferingHeaders() throws Exception {
        String session = api.createSession();
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            assertEquals(200, client.status());
            assertTrue(client.header("Content-Type").startsWith("text/event-stream"));
            assertTrue(client.header("Cache-Control").contains("no-cache"));
            assertEquals("no", client.header("X-Accel-Buffering"));
            client.awaitComments(2, WAIT);
            assertEquals(1000L, client.retryMillis());
        }
    }

    @Test
    void aRetriedPostWithTheSameKeyStartsOneTurn() throws Exception {
        String session = api.createSession();
        String body = "{\"prompt\":\"only once\",\"options\":{\"tokens\":5}}";
        ApiClient.Response first = api.submitTurn(session, body, "key-1");
        ApiClient.Response retry = api.submitTurn(session, body, "key-1");
        ApiClient.Response changed = api.submitTurn(session, "{\"prompt\":\"something else\"}", "key-1");

        assertEquals(202, first.status());
        assertEquals(202, retry.status());
        assertEquals("true", retry.header("Idempotent-Replayed"));
        assertEquals(first.json().get("turn_id"), retry.json().get("turn_id"));
        assertEquals(422, changed.status());
        assertEquals("idempotency_key_reused", changed.errorCode());

        awaitTurnsCompleted(session, 1);
        JsonNode transcript = api.get("/v1/sessions/" + session + "/transcript").json();
        assertEquals(1, transcript.get("turns").size(), "one turn for the retried request");
    }

    @Test
    void aClientThatGoesAwayFreesItsStream() throws Exception {
        String session = api.createSession();
        int before = openStreams();
        SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"));
        client.awaitComments(1, WAIT);
        assertEquals(before + 1, openStreams());

        client.close();

        long deadline = System.nanoTime() + WAIT.toNanos();
        while (openStreams() > before && System.nanoTime() < deadline) {
            Thread.sleep(20); // the server notices at its next write (heartbeat every 500 ms here)
        }
        assertEquals(before, openStreams());
    }

    @Test
    void theTranscriptHoldsEachTurnsRequestAnswerOutcomeAndProvenance() throws Exception {
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"audit me\",\"seed\":5,\"max_tokens\":12,\"options\":{\"tokens\":40}}");
        List<SseEvent> live = awaitComplete(session);

        JsonNode transcript = api.get("/v1/sessions/" + session + "/transcript").json();
        JsonNode turn = transcript.get("turns").get(0);
        assertEquals("completed", turn.get("status").asText());
        assertEquals("length", turn.get("finish_reason").asText());
        assertEquals("audit me", turn.get("messages").get(0).get("content").asText());
        assertEquals(12, turn.get("params").get("max_tokens").asInt());
        assertEquals(text(live), turn.get("answer").asText());
        assertEquals(12, turn.get("usage").get("completion_tokens").asInt());
        assertEquals(topics.prompts(), turn.get("prompt").get("topic").asText());
        JsonNode events = turn.get("events");
        assertEquals(live.size(), events.size());
        for (int i = 0; i < live.size(); i++) {
            assertEquals(live.get(i).offset(), events.get(i).get("kafka").get("offset").asLong());
            assertEquals(topics.stream(), events.get(i).get("kafka").get("topic").asText());
        }
        assertNotNull(turn.get("timing").get("time_to_first_token_ms"));
    }

    // --- helpers ---

    private int openStreams() {
        return stack.deliveryStreams();
    }

    private List<SseEvent> awaitComplete(String session) throws Exception {
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            return client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
        }
    }

    private void awaitTurnsCompleted(String session, int turns) throws Exception {
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitEvent(e -> client.events().stream().filter(x -> x.event().equals("turn.completed")).count() >= turns, WAIT);
        }
    }

    private List<SseEvent> fullStream(String session) throws Exception {
        try (SseTestClient replay = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"))) {
            return replay.awaitEnd(WAIT);
        }
    }

    static String expectedText(String prompt, long seed, int tokens) throws Exception {
        StringBuilder text = new StringBuilder();
        new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0)).generate(new ChatRequest("synthetic",
                List.of(ChatMessage.user(prompt)), new GenerationParams(null, null, List.of(), seed, Map.of("tokens", tokens)),
                ""), t -> {
            text.append(t);
            return true;
        });
        return text.toString();
    }

    static String text(List<SseEvent> events) {
        return events.stream().filter(e -> e.event().equals("token"))
                .map(e -> Json.read(e.data(), JsonNode.class).get("text").asText()).collect(Collectors.joining());
    }

    static List<Integer> indexes(List<SseEvent> events) {
        return events.stream().map(e -> Json.read(e.data(), JsonNode.class).get("index").asInt()).toList();
    }

    static void assertStrictlyIncreasingIds(List<SseEvent> events) {
        for (int i = 1; i < events.size(); i++) {
            assertTrue(events.get(i).offset() > events.get(i - 1).offset(), "ids must increase: " + events);
        }
    }

    /** Within each turn, indexes run 0, 1, 2, … without gap; a turn ends before the next starts. */
    static void assertTurnsAreContiguous(List<SseEvent> events) {
        String turn = null;
        int expected = 0;
        for (SseEvent e : events) {
            JsonNode data = Json.read(e.data(), JsonNode.class);
            if (!data.get("turn_id").asText().equals(turn)) {
                assertEquals("turn.started", e.event(), "a turn begins with turn.started");
                turn = data.get("turn_id").asText();
                expected = 0;
            }
            assertEquals(expected++, data.get("index").asInt(), "index within turn " + turn);
        }
    }

    private static String lastUserMessage(SseEvent started) {
        JsonNode messages = Json.read(started.data(), JsonNode.class).get("messages");
        return messages.get(messages.size() - 1).get("content").asText();
    }

    @Test
    void emptyStreamOfANewSessionStaysOpen() throws Exception {
        String session = api.createSession();
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            client.awaitComments(1, WAIT);
            assertFalse(client.ended());
            assertTrue(client.events().isEmpty());
        }
    }
}
