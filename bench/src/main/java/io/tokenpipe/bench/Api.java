package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** The write side of the public API, asynchronously, as a fleet of clients calls it (JDK HTTP client). */
final class Api implements AutoCloseable {

    static {
        // Jetty closes idle connections after 30 s; the JDK client keeps them 1,200 s by default and would
        // send a POST on a connection the server has just closed ("header parser received no bytes").
        // Browsers retire idle connections sooner; so do we.
        if (System.getProperty("jdk.httpclient.keepalive.timeout") == null) {
            System.setProperty("jdk.httpclient.keepalive.timeout", "10");
        }
    }

    /** The largest max_tokens the ingest API accepts by default (MAX_TOKENS_LIMIT). */
    static final int MAX_TOKENS_LIMIT = 4096;

    private final URI base;
    private final List<InetSocketAddress> streamAddresses;
    private final ExecutorService executor;
    private final HttpClient http;

    Api(URI base) {
        this(base, List.of(new InetSocketAddress(base.getHost(), base.getPort())));
    }

    /** Writes go to {@code base}; event streams are opened on {@code streamAddresses} (delivery nodes). */
    Api(URI base, List<InetSocketAddress> streamAddresses) {
        this.base = base;
        this.streamAddresses = List.copyOf(streamAddresses);
        this.executor = Executors.newFixedThreadPool(2, Thread.ofPlatform().name("bench-http-", 0).daemon().factory());
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
                .connectTimeout(Duration.ofSeconds(10)).build();
    }

    URI base() {
        return base;
    }

    /** Where event streams are opened (the first delivery node of a cluster). */
    InetSocketAddress address() {
        return streamAddresses.getFirst();
    }

    List<InetSocketAddress> streamAddresses() {
        return streamAddresses;
    }

    HttpClient http() {
        return http;
    }

    CompletableFuture<HttpResponse<String>> createSession() {
        return http.sendAsync(HttpRequest.newBuilder(base.resolve("/v1/sessions")).timeout(Duration.ofSeconds(60))
                .header("Authorization", BenchKey.authorization())
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }

    CompletableFuture<HttpResponse<String>> submitTurn(String sessionId, String body, String idempotencyKey) {
        return http.sendAsync(HttpRequest.newBuilder(base.resolve("/v1/sessions/" + sessionId + "/turns"))
                .timeout(Duration.ofSeconds(60))
                .header("Authorization", BenchKey.authorization())
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", idempotencyKey)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A turn request for the synthetic model: exactly {@code tokens} tokens at the given pace. */
    static String turnBody(String prompt, long seed, int tokens, double rate, int ttftMs) {
        Map<String, Object> options = new LinkedHashMap<>();
        options.put("tokens", tokens);
        options.put("tokens_per_second", rate);
        options.put("time_to_first_token_ms", ttftMs);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("prompt", prompt);
        body.put("seed", seed);
        if (tokens <= MAX_TOKENS_LIMIT) {
            body.put("max_tokens", tokens);
        }
        body.put("options", options);
        return Json.string(body);
    }

    static String field(String json, String name) {
        JsonNode node = Json.read(json, JsonNode.class).get(name);
        return node == null ? null : node.asText();
    }

    @Override
    public void close() {
        http.shutdownNow();
        executor.shutdownNow();
    }
}
