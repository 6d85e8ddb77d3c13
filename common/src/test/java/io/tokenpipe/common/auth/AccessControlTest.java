package io.tokenpipe.common.auth;

import io.javalin.Javalin;
import io.tokenpipe.common.http.HttpDefaults;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The access check on a real server: the table decides, and a route the table does not name is closed. */
class AccessControlTest {

    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String ADMIN = ApiKeys.newKey();
    private static final String READER = ApiKeys.newKey();
    private Javalin http;

    private final java.util.concurrent.atomic.AtomicLong nanos = new java.util.concurrent.atomic.AtomicLong();

    private int start(boolean open) {
        ApiKeys keys = new ApiKeys(ApiKeys.entry("admin", EnumSet.of(Scope.ADMIN), ADMIN) + ";"
                + ApiKeys.entry("reader", EnumSet.of(Scope.READ), READER), null);
        AccessControl access = new AccessControl(open, keys,
                new ReadTokens(ReadTokens.randomSecret(), Duration.ofMinutes(1), Clock.systemUTC()), List.of(
                AccessRule.of("GET", "/health", Access.PUBLIC),
                AccessRule.of("GET", "/v1/sessions/{sessionId}/events", Access.keyWith(Scope.READ).orSessionToken()),
                AccessRule.of("POST", "/v1/write", Access.keyWith(Scope.READ))),
                new WriteRateLimit(1, nanos::get));
        tokens = access.tokens();
        http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            access.register(config.routes);
            config.routes.get("/health", ctx -> ctx.result("up"));
            config.routes.get("/v1/sessions/{sessionId}/events", ctx -> ctx.result("events of " + ctx.pathParam("sessionId")));
            config.routes.get("/v1/added-later", ctx -> ctx.result("secret"));
            config.routes.post("/v1/write", ctx -> ctx.status(202));
        }).start(0);
        return http.port();
    }

    private ReadTokens tokens;

    @AfterEach
    void stop() {
        http.stop();
    }

    private int status(String method, String path, String credential) throws Exception {
        return send(method, path, credential).statusCode();
    }

    private HttpResponse<String> send(String method, String path, String credential) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://localhost:" + http.port() + path))
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (credential != null) {
            request.header("Authorization", "Bearer " + credential);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aKeyOverItsWriteRateGets429WithRetryAfterAndOtherKeysAreStillServed() throws Exception {
        start(false);
        assertEquals(202, status("POST", "/v1/write", READER)); // a burst of twice the rate
        assertEquals(202, status("POST", "/v1/write", READER));
        HttpResponse<String> refused = send("POST", "/v1/write", READER);
        assertEquals(429, refused.statusCode());
        assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
        assertTrue(refused.body().contains("\"rate_limited\""), refused.body());
        assertEquals(202, status("POST", "/v1/write", ADMIN), "another key is not affected");
        assertEquals(200, status("GET", "/v1/sessions/s_one/events", READER), "reads are not counted");
        nanos.addAndGet(1_000_000_000L);
        assertEquals(202, status("POST", "/v1/write", READER), "a second later the key may write again");
    }

    @Test
    void aRouteWithoutALineInTheTableAnswersOnlyAdminKeys() throws Exception {
        start(false);
        assertEquals(401, status("GET", "/v1/added-later", null));
        assertEquals(403, status("GET", "/v1/added-later", READER));
        assertEquals(200, status("GET", "/v1/added-later", ADMIN));
        assertEquals(404, status("GET", "/v1/no-such-route", null), "unknown paths stay 404");
        assertEquals(200, status("GET", "/health", null));
    }

    @Test
    void aReadTokenOpensOnlyItsOwnSessionHoweverThePathIsSpelled() throws Exception {
        start(false);
        String token = tokens.issueRead("s_one").token();
        assertEquals(200, status("GET", "/v1/sessions/s_one/events", token));
        assertEquals(200, status("GET", "/v1/sessions/s_one/events/", token));
        assertEquals(200, status("GET", "/v1/sessions/s_%6Fne/events", token), "percent-encoding does not hide the session");
        assertEquals(403, status("GET", "/v1/sessions/s_two/events", token));
        assertEquals(200, status("GET", "/v1/sessions/s_two/events", READER));
    }

    @Test
    void openModeLetsEveryoneIn() throws Exception {
        start(true);
        assertEquals(200, status("GET", "/v1/added-later", null));
        assertEquals(200, status("GET", "/v1/sessions/s_two/events", null));
    }

    @Test
    void preflightsNeverNeedACredential() throws Exception {
        start(false);
        assertTrue(status("OPTIONS", "/v1/sessions/s_two/events", null) != 401, "a preflight is not refused for lacking a credential");
    }
}
