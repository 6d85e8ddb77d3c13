package io.tokenpipe.delivery;

import io.javalin.Javalin;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.log.InMemoryLog;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SSE endpoint over an in-memory log, with real clients over real sockets: the stream logic
 * (replay, live, resume, catch-up) without a broker.
 */
class SseEndpointTest {

    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String SESSION = "s_endpoint";

    private final InMemoryLog log = new InMemoryLog(3);
    private Javalin http;
    private ApiClient api;

    @BeforeEach
    void start() {
        // A live queue of 4 events: a client that falls behind must catch up from the log.
        DeliverySettings settings = new DeliverySettings(0, Duration.ofSeconds(30), Duration.ofSeconds(1), 4, 1, 100,
                "", List.of(), 16, 1 << 20, Duration.ofSeconds(5), 1 << 24, Duration.ofSeconds(30), 1 << 28);
        SseEndpoint endpoint = new SseEndpoint(log, (sessionId, lastEventId) -> {
            if (!Set.of(SESSION, "s_other").contains(sessionId)) {
                throw ApiException.notFound("session_not_found", "no session " + sessionId);
            }
            return ReplayPlan.unindexed(log.partitionOf(sessionId), lastEventId == null ? -1 : lastEventId);
        }, settings);
        http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            config.routes.get("/v1/sessions/{sessionId}/events", endpoint::handle);
        }).start(0);
        api = new ApiClient(http.port());
    }

    @AfterEach
    void stop() {
        http.stop();
    }

    @Test
    void aClientGetsWhatWasWrittenBeforeItCameThenEveryLiveEventOnceInOrder() throws Exception {
        append(SESSION, 1, 5);
        append("s_other", 1, 3); // another session of the same log: never sent to this client
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + SESSION + "/events"))) {
            client.awaitEvents(5, WAIT);
            append(SESSION, 6, 40);

            List<SseEvent> events = client.awaitEvents(40, WAIT);

            assertEquals(IntStream.rangeClosed(1, 40).boxed().toList(), indexes(events));
            assertIdsIncrease(events);
        }
    }

    @Test
    void aClientThatFallsFarBehindItsQueueCatchesUpWithoutLossOrDuplicate() throws Exception {
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + SESSION + "/events"))) {
            append(SESSION, 1, 1);
            client.awaitEvents(1, WAIT); // the stream is live now
            append(SESSION, 2, 2_000); // far more than the 4 events the live queue holds, in one burst

            List<SseEvent> events = client.awaitEvents(2_000, WAIT);

            assertEquals(IntStream.rangeClosed(1, 2_000).boxed().toList(), indexes(events));
        }
    }

    @Test
    void aResumeGetsExactlyWhatFollowsItsLastEventId() throws Exception {
        append(SESSION, 1, 10);
        String after;
        try (SseTestClient first = SseTestClient.connect(api.uri("/v1/sessions/" + SESSION + "/events?follow=false"))) {
            after = first.awaitEnd(WAIT).get(3).id(); // the client saw four events, then dropped
        }
        try (SseTestClient resumed = SseTestClient.connect(api.uri("/v1/sessions/" + SESSION + "/events?follow=false"),
                Map.of("Last-Event-ID", after))) {
            assertEquals(IntStream.rangeClosed(5, 10).boxed().toList(), indexes(resumed.awaitEnd(WAIT)));
        }
    }

    @Test
    void badPositionsAndUnknownSessionsAreRefusedWithAJsonError() {
        append(SESSION, 1, 3);
        assertEquals("invalid_last_event_id", api.get("/v1/sessions/" + SESSION + "/events",
                Map.of("Last-Event-ID", "banana")).errorCode());
        assertEquals("invalid_last_event_id", api.get("/v1/sessions/" + SESSION + "/events",
                Map.of("Last-Event-ID", "99999")).errorCode(), "beyond the end: it never came from this stream");
        ApiClient.Response unknown = api.get("/v1/sessions/s_nobody/events");
        assertEquals(404, unknown.status());
        assertEquals("session_not_found", unknown.errorCode());
    }

    @Test
    void anyLastEventIdIsServedOrRefusedWithA400NeverAnError() {
        append(SESSION, 1, 5);
        java.util.SplittableRandom random = new java.util.SplittableRandom(42);
        String[] shapes = {"", " ", "0", "4", "5", "-0", "+1", "00000000000000000001", "9223372036854775807",
                "9223372036854775808", "1.0", "0x1", "١", "1 2", "NaN"};
        for (int i = 0; i < 300; i++) {
            String value;
            if (i < shapes.length) {
                value = shapes[i];
            } else {
                StringBuilder b = new StringBuilder();
                int length = random.nextInt(0, 24);
                for (int c = 0; c < length; c++) {
                    b.append(random.nextInt(3) == 0 ? (char) random.nextInt('0', '9' + 1) : (char) random.nextInt(0x21, 0x7f));
                }
                value = b.toString();
            }
            // The JDK client sends only ASCII header values; other text goes in the query.
            boolean inQuery = random.nextBoolean() || !value.chars().allMatch(c -> c < 0x7f);
            String path = "/v1/sessions/" + SESSION + "/events?follow=false"
                    + (inQuery ? "&last_event_id=" + java.net.URLEncoder.encode(value, java.nio.charset.StandardCharsets.UTF_8) : "");
            ApiClient.Response response = inQuery ? api.get(path) : api.get(path, Map.of("Last-Event-ID", value));
            String where = "Last-Event-ID '" + value + "' in the " + (inQuery ? "query" : "header");
            assertTrue(response.status() == 200 || response.status() == 400, where + ": " + response.status() + " " + response.body());
            if (response.status() == 400) {
                assertEquals("invalid_last_event_id", response.errorCode(), where);
            }
        }
    }

    private void append(String session, int fromIndex, int toIndex) {
        for (int i = fromIndex; i <= toIndex; i++) {
            log.append(new TokenChunk(StreamEvent.VERSION, session, "t_1", i, 1, Instant.now(), "w" + i));
        }
    }

    private static List<Integer> indexes(List<SseEvent> events) {
        return events.stream().map(e -> Integer.parseInt(e.data().replaceAll(".*\"index\":(\\d+).*", "$1"))).toList();
    }

    private static void assertIdsIncrease(List<SseEvent> events) {
        for (int i = 1; i < events.size(); i++) {
            assertTrue(events.get(i).offset() > events.get(i - 1).offset(), "ids increase: " + events);
        }
    }
}
