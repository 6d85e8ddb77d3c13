package io.tokenpipe.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * A real SSE client over a real socket (the JDK's HTTP client), parsing the stream the way the
 * EventSource specification does: {@code id}, {@code event}, multi-line {@code data}, {@code retry},
 * comments. Events are collected by a reader thread; tests wait on them with timeouts.
 */
public final class SseTestClient implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    private final HttpResponse<InputStream> response;
    private final List<SseEvent> events = new CopyOnWriteArrayList<>();
    private final AtomicInteger comments = new AtomicInteger();
    private final Object signal = new Object();
    private final Thread reader;
    private volatile Long retryMillis;
    private volatile boolean ended;
    private volatile Throwable failure;

    private SseTestClient(HttpResponse<InputStream> response) {
        this.response = response;
        // An error response is not a stream: leave its body to body().
        this.reader = response.statusCode() == 200
                ? Thread.ofVirtual().name("sse-test-reader").start(this::readLoop)
                : null;
        if (reader == null) {
            ended = true;
        }
    }

    /**
     * Opens the stream; returns once the response status and headers have arrived. Sends the test
     * stacks' admin key ({@link TestAuth#ADMIN_KEY}) unless {@code headers} carry an Authorization of
     * their own, or the URI an {@code access_token}.
     */
    public static SseTestClient connect(URI uri, Map<String, String> headers) {
        boolean ownCredential = headers.keySet().stream().anyMatch("Authorization"::equalsIgnoreCase)
                || (uri.getRawQuery() != null && uri.getRawQuery().contains("access_token="));
        return connectWith(uri, headers, ownCredential ? null : TestAuth.ADMIN_KEY);
    }

    /** Opens the stream with this credential (an API key or read token), or none when {@code null}. */
    public static SseTestClient connectWith(URI uri, Map<String, String> headers, String credential) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).GET().header("Accept", "text/event-stream");
        headers.forEach(request::header);
        if (credential != null) {
            request.header("Authorization", TestAuth.bearer(credential));
        }
        return open(request);
    }

    /**
     * POSTs {@code body} (JSON) and reads the response as a stream (OpenAI's {@code POST /v1/chat/completions}),
     * with the test stacks' admin key unless {@code headers} carry an Authorization of their own.
     */
    public static SseTestClient post(URI uri, String body, Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json").header("Accept", "text/event-stream");
        headers.forEach(request::header);
        if (headers.keySet().stream().noneMatch("Authorization"::equalsIgnoreCase)) {
            request.header("Authorization", TestAuth.bearer(TestAuth.ADMIN_KEY));
        }
        return open(request);
    }

    /** Sends the request and returns once the response status and headers have arrived. */
    private static SseTestClient open(HttpRequest.Builder request) {
        try {
            return new SseTestClient(HTTP.send(request.build(), HttpResponse.BodyHandlers.ofInputStream()));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static SseTestClient connect(URI uri) {
        return connect(uri, Map.of());
    }

    public int status() {
        return response.statusCode();
    }

    public String header(String name) {
        return response.headers().firstValue(name).orElse(null);
    }

    /** The body, for a response that is not a stream (an error). */
    public String body() throws IOException {
        return new String(response.body().readAllBytes(), StandardCharsets.UTF_8);
    }

    public List<SseEvent> events() {
        return List.copyOf(events);
    }

    public int comments() {
        return comments.get();
    }

    public Long retryMillis() {
        return retryMillis;
    }

    /** True once the server ended the stream. */
    public boolean ended() {
        return ended;
    }

    /** Waits until an event matches, and returns every event received so far. */
    public List<SseEvent> awaitEvent(Predicate<SseEvent> until, Duration timeout) throws TimeoutException {
        return await(() -> events.stream().anyMatch(until), timeout, "an event matching the condition");
    }

    /** Waits until {@code count} events have arrived. */
    public List<SseEvent> awaitEvents(int count, Duration timeout) throws TimeoutException {
        return await(() -> events.size() >= count, timeout, count + " events");
    }

    /** Waits until at least {@code count} comment lines (heartbeats) have arrived. */
    public void awaitComments(int count, Duration timeout) throws TimeoutException {
        await(() -> comments.get() >= count, timeout, count + " comments");
    }

    /** Waits until the server closes the stream. */
    public List<SseEvent> awaitEnd(Duration timeout) throws TimeoutException {
        return await(() -> ended, timeout, "the end of the stream");
    }

    private List<SseEvent> await(java.util.function.BooleanSupplier condition, Duration timeout, String what)
            throws TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (signal) {
            while (!condition.getAsBoolean()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException("no " + what + " within " + timeout + "; received " + events.size()
                            + " events" + (ended ? ", stream ended" : "") + (failure != null ? ", failed: " + failure : "")
                            + ": " + events);
                }
                try {
                    signal.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
        }
        return List.copyOf(events);
    }

    /** Drops the connection, as a client whose network went away would. */
    @Override
    public void close() {
        try {
            response.body().close();
        } catch (IOException e) {
            // closing is all we wanted
        }
        if (reader != null) {
            reader.interrupt();
        }
    }

    private void readLoop() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            String id = null;
            String lastId = null;
            String event = null;
            StringBuilder data = null;
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    if (id != null) {
                        lastId = id;
                    }
                    if (data != null) {
                        events.add(new SseEvent(lastId, event == null ? "message" : event, data.toString()));
                        notifyWaiters();
                    }
                    id = null;
                    event = null;
                    data = null;
                    continue;
                }
                if (line.startsWith(":")) {
                    comments.incrementAndGet();
                    notifyWaiters();
                    continue;
                }
                int colon = line.indexOf(':');
                String field = colon < 0 ? line : line.substring(0, colon);
                String value = colon < 0 ? "" : line.substring(colon + 1);
                if (value.startsWith(" ")) {
                    value = value.substring(1);
                }
                switch (field) {
                    case "id" -> id = value;
                    case "event" -> event = value;
                    case "data" -> data = data == null ? new StringBuilder(value) : data.append('\n').append(value);
                    case "retry" -> retryMillis = Long.parseLong(value);
                    default -> { /* ignored, as the spec says */ }
                }
            }
        } catch (IOException e) {
            failure = e;
        } finally {
            ended = true;
            notifyWaiters();
        }
    }

    private void notifyWaiters() {
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    /** Every event's data, for events of one type. */
    public static List<String> dataOf(List<SseEvent> events, String type) {
        List<String> out = new ArrayList<>();
        for (SseEvent e : events) {
            if (e.event().equals(type)) {
                out.add(e.data());
            }
        }
        return out;
    }
}
