package io.tokenpipe.standalone;

import io.tokenpipe.common.auth.ReadTokens;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.testing.TestAuth;
import io.tokenpipe.testing.TopicProbe;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The authorization matrix: every public route × (no credential, a key without the scope, a read
 * token of another session, an expired token, a forged token, the right credential), with
 * authentication on as in production. A refused write writes nothing to Kafka.
 */
class AuthorizationIT {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    static Path dataDir;
    private static Standalone stack;
    private static Topics topics;
    private static ApiClient api;
    private static String session;
    private static String sessionToken;
    private static String otherToken;
    private static String expiredToken;
    private static String forgedToken;
    private static String turn;

    @BeforeAll
    static void start() throws Exception {
        topics = SharedKafka.freshTopics("authorization", 2);
        stack = StackFixture.start(topics, dataDir, Map.of("SSE_MAX_STREAMS_PER_SESSION_TOKEN", "2"));
        api = new ApiClient(stack.port());
        ApiClient.Response created = api.as(TestAuth.SUBMIT_KEY).post("/v1/sessions", "", Map.of());
        assertEquals(201, created.status(), created.body());
        session = created.json().get("session_id").asText();
        sessionToken = created.json().get("read_token").asText();
        assertNotNull(created.json().get("read_token_expires_at"));
        otherToken = api.as(TestAuth.SUBMIT_KEY).post("/v1/sessions", "", Map.of()).json().get("read_token").asText();
        ReadTokens sameSecretLongAgo = new ReadTokens(ReadTokens.secret(TestAuth.TOKEN_SECRET), Duration.ofMinutes(5),
                Clock.fixed(Instant.now().minus(Duration.ofHours(2)), ZoneOffset.UTC));
        expiredToken = sameSecretLongAgo.issueRead(session).token();
        ReadTokens anotherSecret = new ReadTokens(ReadTokens.randomSecret(), Duration.ofMinutes(5), Clock.systemUTC());
        forgedToken = anotherSecret.issueRead(session).token();
        // A turn long enough to still run when its cancel is tried (the right credential then gets 202, else 409).
        turn = api.as(TestAuth.SUBMIT_KEY).submitPrompt(session, "{\"prompt\":\"authz\",\"options\":{\"tokens\":400}}");
        try (SseTestClient events = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            events.awaitEvent(e -> e.event().equals("turn.started"), WAIT);
        }
    }

    @AfterAll
    static void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    /** One route: how to call it, and the statuses each credential gets. */
    private record Route(String method, String path, String body, Set<Integer> allowed) {
        ApiClient.Response call(String credential) {
            ApiClient client = api.as(credential);
            return method.equals("POST")
                    ? client.post(path, body, body.isEmpty() ? Map.of() : Map.of("Content-Type", "application/json"))
                    : client.get(path, Map.of());
        }
    }

    private static List<Route> writeRoutes() {
        return List.of(
                new Route("POST", "/v1/sessions", "", Set.of(201)),
                new Route("POST", "/v1/sessions/" + session + "/turns", "{\"prompt\":\"hi\",\"options\":{\"tokens\":3}}", Set.of(202)),
                new Route("POST", "/v1/sessions/" + session + "/turns/" + turn + "/cancel", "", Set.of(202, 409)),
                new Route("POST", "/v1/sessions/" + session + "/read-tokens", "", Set.of(201)),
                // The OpenAI-compatible endpoint creates a session and a turn: the same rule, errors in OpenAI's shape.
                new Route("POST", "/v1/chat/completions",
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"options\":{\"tokens\":3}}", Set.of(200)));
    }

    @Test
    void writeRoutesNeedASubmitKeyAndARefusalWritesNothing() {
        Map<TopicPartition, Long> before = writtenByRequests();
        for (Route route : writeRoutes()) {
            expect(route, null, 401, "unauthorized");
            expect(route, TestAuth.READ_KEY, 403, "insufficient_scope");
            expect(route, TestAuth.AUDIT_KEY, 403, "insufficient_scope");
            expect(route, sessionToken, 403, "insufficient_scope"); // a read token never writes, even to its own session
            expect(route, otherToken, 403, "insufficient_scope");
            expect(route, expiredToken, 401, "token_expired");
            expect(route, forgedToken, 401, "invalid_credential");
            expect(route, "tpk_not-a-configured-key-0123456789abcdefghijklmno", 401, "invalid_credential");
        }
        assertEquals(before, writtenByRequests(), "a refused request must not write to Kafka");

        for (Route route : writeRoutes()) {
            ApiClient.Response response = route.call(TestAuth.SUBMIT_KEY);
            assertTrue(route.allowed().contains(response.status()), route + " with a submit key: " + response.body());
        }
    }

    @Test
    void readRoutesTakeTheirScopesOrThisSessionsReadToken() {
        List<Route> statusRoutes = List.of(
                new Route("GET", "/v1/sessions/" + session, "", Set.of(200)),
                new Route("GET", "/v1/sessions/" + session + "/turns/" + turn, "", Set.of(200)));
        for (Route route : statusRoutes) {
            expectRefusals(route);
            for (String right : List.of(TestAuth.SUBMIT_KEY, TestAuth.READ_KEY, TestAuth.AUDIT_KEY, TestAuth.ADMIN_KEY, sessionToken)) {
                assertEquals(200, route.call(right).status(), route + " with " + describe(right));
            }
        }

        Route events = new Route("GET", "/v1/sessions/" + session + "/events?follow=false", "", Set.of(200));
        expectRefusals(events);
        expect(events, TestAuth.SUBMIT_KEY, 403, "insufficient_scope");
        for (String right : List.of(TestAuth.READ_KEY, TestAuth.AUDIT_KEY, sessionToken)) {
            assertEquals(200, events.call(right).status(), "events with " + describe(right));
        }

        Route transcript = new Route("GET", "/v1/sessions/" + session + "/transcript?events=false", "", Set.of(200));
        expectRefusals(transcript);
        expect(transcript, TestAuth.SUBMIT_KEY, 403, "insufficient_scope");
        expect(transcript, TestAuth.READ_KEY, 403, "insufficient_scope");
        for (String right : List.of(TestAuth.AUDIT_KEY, sessionToken)) {
            ApiClient.Response response = transcript.call(right);
            assertEquals(200, response.status(), "transcript with " + describe(right));
            assertEquals(session, response.json().get("session_id").asText());
        }
    }

    @Test
    void aBrowserStreamCarriesItsReadTokenInTheQueryButAKeyIsRefusedThere() throws Exception {
        String path = "/v1/sessions/" + session + "/events?follow=false&access_token=";
        try (SseTestClient stream = SseTestClient.connectWith(api.uri(path + sessionToken), Map.of(), null)) {
            assertEquals(200, stream.status());
            List<SseEvent> all = stream.awaitEnd(WAIT);
            assertFalse(all.isEmpty(), "the session's events");
        }
        try (SseTestClient stream = SseTestClient.connectWith(api.uri(path + otherToken), Map.of(), null)) {
            assertEquals(403, stream.status());
            assertTrue(stream.body().contains("token_for_another_session"), stream.body());
        }
        try (SseTestClient stream = SseTestClient.connectWith(api.uri(path + expiredToken), Map.of(), null)) {
            assertEquals(401, stream.status());
            assertTrue(stream.body().contains("token_expired"), stream.body());
        }
        ApiClient.Response keyInUrl = api.as(null).get(path + TestAuth.ADMIN_KEY);
        assertEquals(401, keyInUrl.status());
        assertEquals("key_in_url", keyInUrl.errorCode());
        assertNotNull(keyInUrl.header("WWW-Authenticate"));
    }

    @Test
    void theIndexRouteBetweenNodesTakesOnlyANodeTokenAndOperatorRoutesAnAdminKey() {
        Route index = new Route("GET", "/internal/v1/session-index/" + session, "", Set.of(200));
        expect(index, null, 401, "unauthorized");
        expect(index, sessionToken, 403, "insufficient_scope");
        expect(index, TestAuth.READ_KEY, 403, "insufficient_scope");
        String nodeToken = new ReadTokens(ReadTokens.secret(TestAuth.TOKEN_SECRET), Duration.ofMinutes(5), Clock.systemUTC()).issueNode();
        assertEquals(200, index.call(nodeToken).status());
        // A node token is no read token.
        expect(new Route("GET", "/v1/sessions/" + session + "/events?follow=false", "", Set.of(200)), nodeToken, 403, "insufficient_scope");

        for (String path : List.of("/metrics", "/metrics/runtime", "/metrics/stages")) {
            Route metrics = new Route("GET", path, "", Set.of(200));
            expect(metrics, null, 401, "unauthorized");
            expect(metrics, TestAuth.AUDIT_KEY, 403, "insufficient_scope");
            expect(metrics, TestAuth.SUBMIT_KEY, 403, "insufficient_scope");
            assertEquals(200, metrics.call(TestAuth.METRICS_KEY).status(), path + " with a metrics key");
            assertEquals(200, metrics.call(TestAuth.ADMIN_KEY).status(), path + " with an admin key");
        }
    }

    @Test
    void theSessionSearchTakesAnAuditKeyAndTheAccessTrailAnAdminKey() {
        Route search = new Route("GET", "/v1/sessions?limit=1", "", Set.of(200));
        expect(search, null, 401, "unauthorized");
        for (String wrong : List.of(TestAuth.SUBMIT_KEY, TestAuth.READ_KEY, TestAuth.METRICS_KEY, sessionToken)) {
            expect(search, wrong, 403, "insufficient_scope");
        }
        assertEquals(200, search.call(TestAuth.AUDIT_KEY).status());
        assertEquals(200, search.call(TestAuth.ADMIN_KEY).status());

        Route trail = new Route("GET", "/v1/audit/trail?limit=1", "", Set.of(200));
        expect(trail, null, 401, "unauthorized");
        for (String wrong : List.of(TestAuth.SUBMIT_KEY, TestAuth.READ_KEY, TestAuth.AUDIT_KEY, TestAuth.METRICS_KEY, sessionToken)) {
            expect(trail, wrong, 403, "insufficient_scope");
        }
        assertEquals(200, trail.call(TestAuth.ADMIN_KEY).status());

        Route search2 = new Route("POST", "/internal/v1/session-search", "{\"limit\":1}", Set.of(200));
        expect(search2, TestAuth.AUDIT_KEY, 403, "insufficient_scope");
    }

    @Test
    void healthAndTheWebPageNeedNoCredentialAndThePageIsLockedDown() {
        assertEquals(200, api.as(null).get("/health").status());
        ApiClient.Response page = api.as(null).get("/");
        assertEquals(200, page.status());
        String csp = page.header("Content-Security-Policy");
        assertNotNull(csp, "the page has a CSP");
        assertTrue(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), csp);
        assertEquals("nosniff", page.header("X-Content-Type-Options"));
        assertEquals(200, api.as(null).get("/app.js").status());
        assertEquals(200, api.as(null).get("/web-config.js").status());
        // No CORS unless configured: a foreign page cannot even read an answer.
        ApiClient.Response foreign = api.get("/health", Map.of("Origin", "https://evil.example"));
        assertEquals(null, foreign.header("Access-Control-Allow-Origin"));
    }

    @Test
    void aSessionsReadTokensHoldAFewStreamsAtOnceAndOthersAreStillServed() throws Exception {
        // A session of its own, so that the streams held here count against no other test.
        ApiClient.Response created = api.as(TestAuth.SUBMIT_KEY).post("/v1/sessions", "", Map.of());
        String session = created.json().get("session_id").asText();
        String sessionToken = created.json().get("read_token").asText();
        URI live = api.uri("/v1/sessions/" + session + "/events");
        try (SseTestClient first = SseTestClient.connectWith(live, Map.of(), sessionToken);
             SseTestClient second = SseTestClient.connectWith(live, Map.of(), sessionToken)) {
            assertEquals(200, first.status());
            assertEquals(200, second.status());
            try (SseTestClient third = SseTestClient.connectWith(live, Map.of(), sessionToken)) {
                assertEquals(429, third.status());
                assertEquals("2", third.header("Retry-After"));
                assertTrue(third.body().contains("too_many_streams_for_credential"), third.body());
            }
            try (SseTestClient other = SseTestClient.connect(live)) {
                assertEquals(200, other.status(), "a key's streams are counted apart");
            }
        }
        // The closed streams are uncounted once the server notices (its next heartbeat write fails).
        long deadline = System.nanoTime() + WAIT.toNanos();
        int status;
        do {
            try (SseTestClient again = SseTestClient.connectWith(api.uri("/v1/sessions/" + session + "/events?follow=false"),
                    Map.of(), sessionToken)) {
                status = again.status();
            }
            if (status != 200) {
                Thread.sleep(50); // poll again: the release waits for the server's next heartbeat (500 ms here)
            }
        } while (status != 200 && System.nanoTime() < deadline);
        assertEquals(200, status, "streams are released when they end");
    }

    /** The end offsets of the topics requests write to (the stream and turns topics are the worker's, busy with a turn). */
    private static Map<TopicPartition, Long> writtenByRequests() {
        Map<TopicPartition, Long> ends = new java.util.HashMap<>(TopicProbe.endOffsets(topics));
        ends.keySet().removeIf(tp -> tp.topic().equals(topics.stream()) || tp.topic().equals(topics.turns()));
        return ends;
    }

    private static void expectRefusals(Route route) {
        expect(route, null, 401, "unauthorized");
        expect(route, otherToken, 403, "token_for_another_session");
        expect(route, expiredToken, 401, "token_expired");
        expect(route, forgedToken, 401, "invalid_credential");
    }

    private static void expect(Route route, String credential, int status, String code) {
        ApiClient.Response response = route.call(credential);
        assertEquals(status, response.status(), () -> route + " with " + describe(credential) + ": " + response.body());
        assertEquals(code, response.errorCode(), () -> route + " with " + describe(credential) + ": " + response.body());
        if (status == 401) {
            assertNotNull(response.header("WWW-Authenticate"), route + ": a 401 names the scheme");
        }
    }

    private static String describe(String credential) {
        if (credential == null) {
            return "no credential";
        }
        List<String> names = new ArrayList<>();
        Map.of(TestAuth.ADMIN_KEY, "admin key", TestAuth.SUBMIT_KEY, "submit key", TestAuth.READ_KEY, "read key",
                TestAuth.AUDIT_KEY, "audit key").forEach((k, v) -> {
            if (k.equals(credential)) {
                names.add(v);
            }
        });
        if (credential.equals(sessionToken)) {
            names.add("this session's read token");
        } else if (credential.equals(otherToken)) {
            names.add("another session's read token");
        } else if (credential.equals(expiredToken)) {
            names.add("an expired token");
        } else if (credential.equals(forgedToken)) {
            names.add("a forged token");
        }
        return names.isEmpty() ? "another credential" : names.getFirst();
    }
}
