package io.tokenpipe.delivery;

import io.javalin.http.Context;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.PathIds;
import io.tokenpipe.common.log.SessionLog;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * {@code GET /v1/sessions/{sessionId}/events}: a session's events as Server-Sent Events, live,
 * resumed after a {@code Last-Event-ID}, or replayed. Works over any {@link SessionLog}: the
 * product's is Kafka's; the benchmark's control runs this same endpoint over an in-memory log.
 */
public final class SseEndpoint {

    private static final Logger log = LoggerFactory.getLogger(SseEndpoint.class);
    private static final Pattern EVENT_ID = Pattern.compile("\\d{1,18}");

    /** Where a session's stream reads from; throws an {@link ApiException} (404, 503) when it cannot be served. */
    @FunctionalInterface
    public interface Planner {
        ReplayPlan plan(String sessionId, Long lastEventId);
    }

    private final SessionLog sessionLog;
    private final Planner planner;
    private final DeliverySettings settings;
    private final AtomicInteger open = new AtomicInteger();
    private final Set<SseStream> streams = ConcurrentHashMap.newKeySet();

    public SseEndpoint(SessionLog sessionLog, Planner planner, DeliverySettings settings) {
        this.sessionLog = sessionLog;
        this.planner = planner;
        this.settings = settings;
    }

    /** Handles the request; the response stays open while the stream follows the session. */
    public void handle(Context ctx) throws InterruptedException {
        handle(ctx, () -> { });
    }

    /**
     * As {@link #handle(Context)}; {@code onEnd} runs once the stream has ended, when the request was
     * answered with a stream (this returned normally). When this throws, no stream began.
     */
    public void handle(Context ctx, Runnable onEnd) throws InterruptedException {
        handle(ctx, onEnd, null);
    }

    /**
     * As {@link #handle(Context, Runnable)}; with a {@code pacer}, a paced replay: what exists now, each
     * event at its time (it does not follow live events).
     */
    void handle(Context ctx, Runnable onEnd, Pacer pacer) throws InterruptedException {
        long arrived = System.nanoTime();
        String sessionId = PathIds.sessionId(ctx);
        Long lastEventId = lastEventId(ctx);
        boolean follow = pacer == null && !"false".equalsIgnoreCase(ctx.queryParam("follow"));
        ReplayPlan plan = plan(sessionId, lastEventId);
        stream(ctx, sessionId, plan, lastEventId == null ? -1 : lastEventId, follow,
                StreamFormat.nativeEvents(settings.retry().toMillis()), lastEventId != null ? arrived : 0, onEnd, pacer);
    }

    /**
     * Answers the request with the session's events after {@code after}, as {@code format} shows them,
     * following live when {@code follow} until the format is finished or the client goes away. Headers
     * set on the response before the call are kept.
     *
     * @param resumeArrivedNanos when a resuming request (one with Last-Event-ID) arrived, for the resume
     *                           latency metric; 0 for a stream that is not a resume
     * @param onEnd              runs once the stream has ended, when this returned normally
     */
    void stream(Context ctx, String sessionId, ReplayPlan plan, long after, boolean follow, StreamFormat format,
                long resumeArrivedNanos, Runnable onEnd) {
        stream(ctx, sessionId, plan, after, follow, format, resumeArrivedNanos, onEnd, null);
    }

    private void stream(Context ctx, String sessionId, ReplayPlan plan, long after, boolean follow, StreamFormat format,
                        long resumeArrivedNanos, Runnable onEnd, Pacer pacer) {
        reserveStream();
        HttpServletResponse response = ctx.res();
        response.setStatus(200);
        response.setContentType("text/event-stream");
        response.setCharacterEncoding("UTF-8");
        // Proxies must neither cache nor buffer an event stream (nginx honours X-Accel-Buffering).
        response.setHeader("Cache-Control", "no-cache, no-transform");
        response.setHeader("X-Accel-Buffering", "no");
        try {
            // The stream's first write (the format's preamble) commits these headers, after start()
            // registered it, so endStreams() never misses a stream that has begun.
            SseSink sink = new SseSink(response.getOutputStream());
            ctx.future(() -> start(sessionId, plan, after, follow, sink, format, resumeArrivedNanos, onEnd, pacer).done());
        } catch (IOException e) {
            open.decrementAndGet();
            onEnd.run();
            log.debug("client of {} left before its stream began", sessionId);
        }
    }

    /** A started stream: its completion, and how to end it early. */
    record Started(SseStream stream, CompletableFuture<Void> done) {
    }

    /**
     * Where the session's stream from {@code lastEventId} reads, once checked that it can be served
     * (404, 400, 410). Counts nothing against the node's maximum.
     */
    private ReplayPlan plan(String sessionId, Long lastEventId) throws InterruptedException {
        ReplayPlan plan = planner.plan(sessionId, lastEventId);
        if (lastEventId != null) {
            checkResumable(plan.partition(), lastEventId);
        } else {
            checkRetained(sessionLog, plan);
        }
        return plan;
    }

    /**
     * Checks that the session's stream can be served from {@code lastEventId} (404, 400, 410) and
     * counts it against the node's maximum (503). Follow with {@link #start}, or {@link #unadmit()}.
     */
    ReplayPlan admit(String sessionId, Long lastEventId) throws InterruptedException {
        ReplayPlan plan = plan(sessionId, lastEventId);
        reserveStream();
        return plan;
    }

    /** Gives back an admission that no stream followed. */
    void unadmit() {
        open.decrementAndGet();
    }

    /**
     * Starts an admitted stream of tokenpipe's own events writing to {@code sink}; {@code onEnd} runs
     * once it has ended. The same stream logic serves SSE responses and WebSocket subscriptions, so
     * both follow the same rules.
     */
    Started start(String sessionId, ReplayPlan plan, Long lastEventId, boolean follow, StreamSink sink, Runnable onEnd) {
        return start(sessionId, plan, lastEventId == null ? -1 : lastEventId, follow, sink,
                StreamFormat.nativeEvents(settings.retry().toMillis()), 0, onEnd, null);
    }

    private Started start(String sessionId, ReplayPlan plan, long after, boolean follow, StreamSink sink,
                          StreamFormat format, long resumeArrivedNanos, Runnable onEnd, Pacer pacer) {
        SseStream stream = new SseStream(sessionId, plan, after, follow, sink, sessionLog, settings, format)
                .resumeRequestedAt(resumeArrivedNanos).paced(pacer);
        streams.add(stream); // before the first byte, so endStreams() never misses a stream
        CompletableFuture<Void> done = stream.start().whenComplete((ok, error) -> {
            open.decrementAndGet();
            streams.remove(stream);
            onEnd.run();
        });
        return new Started(stream, done);
    }

    /**
     * Follows the session's events after {@code after} without a client socket, until {@code format}
     * is finished (it collects what it needs); for answers sent whole once a turn has ended.
     */
    CompletableFuture<Void> follow(String sessionId, ReplayPlan plan, long after, StreamFormat format) {
        reserveStream();
        return start(sessionId, plan, after, true, new SseSink(OutputStream.nullOutputStream()), format, 0, () -> { }, null)
                .done();
    }

    private void reserveStream() {
        if (open.incrementAndGet() > settings.maxStreams()) {
            open.decrementAndGet();
            throw new ApiException(503, "too_many_streams", "this node holds its maximum of streams; retry shortly", 2);
        }
    }

    /** Streams open now. */
    public int openStreams() {
        return open.get();
    }

    /**
     * Ends every open stream; clients reconnect with their Last-Event-ID and continue where they were
     * (on this node or, behind a load balancer, another).
     */
    public void endStreams() {
        streams.forEach(SseStream::end);
    }

    /** A resume must point inside what the log holds: not past its end, not before what retention kept. */
    void checkResumable(int partition, long lastEventId) throws InterruptedException {
        if (sessionLog.holdsRecent(partition, lastEventId + 1)) {
            return; // within the log's memory: recent, and certainly retained
        }
        long end = sessionLog.end(partition);
        if (lastEventId >= end) {
            throw ApiException.badRequest("invalid_last_event_id", "Last-Event-ID " + lastEventId
                    + " is beyond the end of this session's stream; it did not come from this stream");
        }
        long start = sessionLog.start(partition);
        if (lastEventId + 1 < start) {
            throw new ApiException(410, "history_expired", "events after " + lastEventId
                    + " are no longer retained (the log starts at " + start + "); reload the session without Last-Event-ID");
        }
    }

    /**
     * A replay from the session's start must find its first event still in the log: otherwise the
     * client would get a partial session without a word. 410, as for a resume past retention.
     */
    static void checkRetained(SessionLog sessionLog, ReplayPlan plan) throws InterruptedException {
        long first = plan.firstKnown();
        if (first < 0 || sessionLog.holdsRecent(plan.partition(), first)) {
            return;
        }
        long start = sessionLog.start(plan.partition());
        if (first < start) {
            throw new ApiException(410, "history_expired", "this session's events from offset " + first
                    + " on are no longer all retained (the log starts at " + start + ")");
        }
    }

    /** The standard header, or the {@code last_event_id} query parameter for clients that cannot set headers. */
    static Long lastEventId(Context ctx) {
        String header = ctx.header("Last-Event-ID");
        return eventId(header != null && !header.isBlank() ? header.trim() : ctx.queryParam("last_event_id"));
    }

    /** A client's last event id as it sent it; {@code null} when absent; 400 when it cannot be one of ours. */
    static Long eventId(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        if (!EVENT_ID.matcher(value.trim()).matches()) {
            throw ApiException.badRequest("invalid_last_event_id",
                    "Last-Event-ID must be the id of an event of this stream (a non-negative integer), got '"
                            + (value.length() > 40 ? value.substring(0, 40) + "…" : value) + "'");
        }
        return Long.parseLong(value.trim());
    }
}
