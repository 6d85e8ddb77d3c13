package io.tokenpipe.testing;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/** A plain HTTP client for tokenpipe's JSON API, over a real socket. */
public final class ApiClient {

    /** A response: status, headers, and the body parsed as JSON when it is JSON. */
    public record Response(int status, JsonNode json, String body, java.net.http.HttpHeaders headers) {

        public String header(String name) {
            return headers.firstValue(name).orElse(null);
        }

        /** The error code of a JSON error body. */
        public String errorCode() {
            return json == null ? null : json.path("error").path("code").asText(null);
        }
    }

    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    private final String base;
    private final String credential;

    /** A client that sends the test stacks' admin key ({@link TestAuth#ADMIN_KEY}). */
    public ApiClient(String base) {
        this(base, TestAuth.ADMIN_KEY);
    }

    private ApiClient(String base, String credential) {
        this.base = base;
        this.credential = credential;
    }

    /** The same server, with another API key or token; {@code null} for none at all. */
    public ApiClient as(String credential) {
        return new ApiClient(base, credential);
    }

    public ApiClient(int port) {
        this("http://localhost:" + port);
    }

    public String base() {
        return base;
    }

    public URI uri(String path) {
        return URI.create(base + path);
    }

    /** Creates a session and returns its id. */
    public String createSession() {
        Response response = post("/v1/sessions", "", Map.of());
        if (response.status() != 201) {
            throw new AssertionError("session not created: " + response.status() + " " + response.body());
        }
        return response.json().get("session_id").asText();
    }

    /** Submits a turn; returns the response (202 on success). */
    public Response submitTurn(String sessionId, String jsonBody, String idempotencyKey) {
        Map<String, String> headers = new java.util.HashMap<>();
        headers.put("Content-Type", "application/json");
        if (idempotencyKey != null) {
            headers.put("Idempotency-Key", idempotencyKey);
        }
        return post("/v1/sessions/" + sessionId + "/turns", jsonBody, headers);
    }

    /**
     * Submits a turn and returns its id, failing unless it is accepted. A 503 {@code index_unavailable}
     * (the session index rebalancing as nodes start) is retried for up to 10 s with the same
     * Idempotency-Key, as the API asks of clients; it can never start a second turn.
     */
    public String submitPrompt(String sessionId, String jsonBody) {
        String key = "submit-" + java.util.UUID.randomUUID();
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(10).toNanos();
        Response response = submitTurn(sessionId, jsonBody, key);
        while (response.status() == 503 && "index_unavailable".equals(response.errorCode()) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(200); // the API's Retry-After asks for a retry shortly
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            response = submitTurn(sessionId, jsonBody, key);
        }
        if (response.status() != 202) {
            throw new AssertionError("turn not accepted: " + response.status() + " " + response.body());
        }
        return response.json().get("turn_id").asText();
    }

    public Response post(String path, String body, Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(path)).POST(HttpRequest.BodyPublishers.ofString(body));
        withHeaders(request, headers);
        return send(request.build());
    }

    public Response get(String path, Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(path)).GET();
        withHeaders(request, headers);
        return send(request.build());
    }

    public Response delete(String path) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(path)).DELETE();
        withHeaders(request, Map.of());
        return send(request.build());
    }

    /** The headers given, and this client's credential unless they carry one of their own. */
    private void withHeaders(HttpRequest.Builder request, Map<String, String> headers) {
        headers.forEach(request::header);
        if (credential != null && headers.keySet().stream().noneMatch("Authorization"::equalsIgnoreCase)) {
            request.header("Authorization", TestAuth.bearer(credential));
        }
    }

    public Response get(String path) {
        return get(path, Map.of());
    }

    private static Response send(HttpRequest request) {
        try {
            HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
            JsonNode json = null;
            if (response.headers().firstValue("Content-Type").orElse("").contains("json") && !response.body().isEmpty()) {
                json = Json.MAPPER.readTree(response.body());
            }
            return new Response(response.statusCode(), json, response.body(), response.headers());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
