package io.tokenpipe.testing;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * A real WebSocket client over a real socket (the JDK's {@link WebSocket}) for delivery's
 * {@code /v1/ws}: collects every text frame as JSON; tests wait on them with timeouts.
 */
public final class WsTestClient implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private final List<JsonNode> frames = new CopyOnWriteArrayList<>();
    private final Object signal = new Object();
    private volatile WebSocket socket;
    private volatile Integer closeStatus;
    private final java.util.concurrent.atomic.AtomicInteger pings = new java.util.concurrent.atomic.AtomicInteger();

    private WsTestClient() {
    }

    /**
     * Opens {@code ws://…/v1/ws} with {@code Authorization: Bearer credential} ({@code null}: none, e.g.
     * when the URI carries {@code access_token}). Throws when the upgrade is refused.
     */
    public static WsTestClient connect(URI uri, String credential) throws ExecutionException, InterruptedException, TimeoutException {
        WsTestClient client = new WsTestClient();
        WebSocket.Builder builder = HTTP.newWebSocketBuilder();
        if (credential != null) {
            builder.header("Authorization", TestAuth.bearer(credential));
        }
        client.socket = builder.buildAsync(uri, client.new Listener()).get(10, TimeUnit.SECONDS);
        return client;
    }

    /** Connects with the test stacks' admin key. */
    public static WsTestClient connect(URI uri) throws ExecutionException, InterruptedException, TimeoutException {
        return connect(uri, TestAuth.ADMIN_KEY);
    }

    /** {@code http://host:port} → {@code ws://host:port/v1/ws}, plus a query string when given. */
    public static URI uri(String httpBase, String query) {
        return URI.create(httpBase.replaceFirst("^http", "ws") + "/v1/ws" + (query == null ? "" : "?" + query));
    }

    /** Sends one text frame (any text: tests send bad ones too). */
    public void send(String text) {
        try {
            socket.sendText(text, true).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("could not send " + text, e);
        }
    }

    /** Sends a JSON frame built from alternating keys and values. */
    public void sendJson(Object... keysAndValues) {
        java.util.Map<String, Object> frame = new java.util.LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            frame.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        send(Json.string(frame));
    }

    public List<JsonNode> frames() {
        return List.copyOf(frames);
    }

    /** The event frames of one session, as SSE events (id, event, data as JSON text). */
    public List<SseEvent> events(String sessionId) {
        return frames.stream().filter(f -> f.path("type").asText().equals("event") && f.path("session_id").asText().equals(sessionId))
                .map(f -> new SseEvent(f.get("id").asText(), f.get("event").asText(), f.get("data").toString())).toList();
    }

    /** Waits for a frame that matches; returns it. */
    public JsonNode awaitFrame(Predicate<JsonNode> until, Duration timeout) throws TimeoutException {
        await(() -> frames.stream().anyMatch(until), timeout, "a frame matching the condition");
        return frames.stream().filter(until).findFirst().orElseThrow();
    }

    /** Waits for the reply ({@code ack} or {@code error}) to the frame sent with this {@code ref}. */
    public JsonNode awaitReply(String ref, Duration timeout) throws TimeoutException {
        return awaitFrame(f -> ref.equals(f.path("ref").asText(null)), timeout);
    }

    /** Waits until one of a session's events matches; returns the session's events so far. */
    public List<SseEvent> awaitEvent(String sessionId, Predicate<SseEvent> until, Duration timeout) throws TimeoutException {
        await(() -> events(sessionId).stream().anyMatch(until), timeout, "an event of " + sessionId + " matching the condition");
        return events(sessionId);
    }

    /** Waits until the server has pinged this socket {@code count} times (the JDK answers each with a pong). */
    public void awaitPings(int count, Duration timeout) throws TimeoutException {
        await(() -> pings.get() >= count, timeout, count + " pings");
    }

    /** Waits until the server closed the socket; its close status. */
    public int awaitClosed(Duration timeout) throws TimeoutException {
        await(() -> closeStatus != null, timeout, "the socket's close");
        return closeStatus;
    }

    private void await(java.util.function.BooleanSupplier condition, Duration timeout, String what) throws TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (signal) {
            while (!condition.getAsBoolean()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException("no " + what + " within " + timeout + "; received " + frames.size()
                            + " frames" + (closeStatus != null ? ", closed " + closeStatus : "") + ": "
                            + frames.subList(Math.max(0, frames.size() - 10), frames.size()));
                }
                try {
                    signal.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    /** Drops the connection without a close handshake, as a client whose network went away would. */
    public void abort() {
        socket.abort();
    }

    @Override
    public void close() {
        socket.abort();
    }

    private final class Listener implements WebSocket.Listener {
        private final StringBuilder partial = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                JsonNode frame;
                try {
                    frame = Json.MAPPER.readTree(partial.toString());
                } catch (Exception e) {
                    frame = Json.MAPPER.getNodeFactory().textNode("not JSON: " + partial);
                }
                partial.setLength(0);
                frames.add(frame);
                synchronized (signal) {
                    signal.notifyAll();
                }
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closeStatus = statusCode;
            synchronized (signal) {
                signal.notifyAll();
            }
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletionStage<?> onPing(WebSocket webSocket, java.nio.ByteBuffer message) {
            pings.incrementAndGet();
            synchronized (signal) {
                signal.notifyAll();
            }
            return WebSocket.Listener.super.onPing(webSocket, message); // pongs, and requests the next message
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closeStatus = -1;
            synchronized (signal) {
                signal.notifyAll();
            }
        }
    }
}
