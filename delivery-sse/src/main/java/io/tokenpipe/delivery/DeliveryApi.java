package io.tokenpipe.delivery;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.PathIds;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.SessionIndex;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The read side of the HTTP API: a session's events as Server-Sent Events (live, resumed, or
 * replayed) and its transcript.
 */
public final class DeliveryApi implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DeliveryApi.class);
    private static final Pattern EVENT_ID = Pattern.compile("\\d{1,18}");

    private final DeliverySettings settings;
    private final Topics topics;
    private final int partitions;
    private final SessionIndex index;
    private final HistoryReader history;
    private final Subscriptions subscriptions = new Subscriptions();
    private final StreamTail tail;
    private final Transcripts transcripts;
    private final AtomicInteger open = new AtomicInteger();
    private final Set<SseStream> streams = ConcurrentHashMap.newKeySet();

    /** @param partitions the partition count of the topics (sessions are placed by hash over it) */
    public DeliveryApi(DeliverySettings settings, io.tokenpipe.common.kafka.KafkaSettings kafka, Topics topics,
                       int partitions, SessionIndex index) {
        this.settings = settings;
        this.topics = topics;
        this.partitions = partitions;
        this.index = index;
        this.history = new HistoryReader(kafka, topics.stream(), settings.historyReaders());
        this.tail = new StreamTail(kafka, topics.stream(), subscriptions, settings.recentEvents(), this::endStreams);
        this.transcripts = new Transcripts(topics, history);
    }

    public DeliveryApi start() {
        tail.start();
        return this;
    }

    public void register(RoutesConfig routes) {
        routes.get("/v1/sessions/{sessionId}/events", this::events);
        routes.get("/v1/sessions/{sessionId}/transcript", this::transcript);
    }

    public boolean healthy() {
        return tail.healthy();
    }

    /** Streams open on this node. */
    public int openStreams() {
        return open.get();
    }

    private void events(Context ctx) throws InterruptedException {
        String sessionId = sessionId(ctx);
        Long lastEventId = lastEventId(ctx);
        boolean follow = !"false".equalsIgnoreCase(ctx.queryParam("follow"));
        ReplayPlan plan = plan(sessionId, lastEventId);
        long after = lastEventId == null ? -1 : lastEventId;
        if (lastEventId != null) {
            checkResumable(plan.partition(), lastEventId);
        }
        if (open.incrementAndGet() > settings.maxStreams()) {
            open.decrementAndGet();
            throw new ApiException(503, "too_many_streams", "this node holds its maximum of streams; retry shortly", 2);
        }

        HttpServletResponse response = ctx.res();
        response.setStatus(200);
        response.setContentType("text/event-stream");
        response.setCharacterEncoding("UTF-8");
        // Proxies must neither cache nor buffer an event stream (nginx honours X-Accel-Buffering).
        response.setHeader("Cache-Control", "no-cache, no-transform");
        response.setHeader("X-Accel-Buffering", "no");
        SseStream stream = null;
        try {
            stream = new SseStream(sessionId, plan, after, follow, response.getOutputStream(), history,
                    tail.recent(plan.partition()), subscriptions, settings);
            streams.add(stream); // before the first byte, so endStreams() never misses a stream
            response.flushBuffer();
            SseStream started = stream;
            CompletableFuture<Void> done = stream.start().whenComplete((ok, error) -> {
                open.decrementAndGet();
                streams.remove(started);
            });
            ctx.future(() -> done);
        } catch (java.io.IOException e) {
            open.decrementAndGet();
            if (stream != null) {
                streams.remove(stream);
            }
            log.debug("client of {} left before its stream began", sessionId);
        }
    }

    private void transcript(Context ctx) throws InterruptedException {
        String sessionId = sessionId(ctx);
        IndexAnswer answer = lookup(sessionId);
        boolean withEvents = !"false".equalsIgnoreCase(ctx.queryParam("events"));
        ctx.json(transcripts.build(answer, withEvents));
    }

    /** Where to read from: the index's turn ranges, or (when the index cannot answer a resume) the bare partition. */
    private ReplayPlan plan(String sessionId, Long lastEventId) {
        try {
            return ReplayPlan.after(lookup(sessionId), lastEventId == null ? -1 : lastEventId);
        } catch (ApiException e) {
            if (e.status() == 503 && lastEventId != null) {
                // The client's position is all a resume needs: serve it even while the index is away.
                log.info("index unavailable; resuming {} from {} without it", sessionId, lastEventId);
                return ReplayPlan.unindexed(Partitioning.partitionOf(sessionId, partitions), lastEventId);
            }
            throw e;
        }
    }

    private IndexAnswer lookup(String sessionId) {
        return index.existing(sessionId);
    }

    /** A resume must point inside what the log holds: not past its end, not before what retention kept. */
    private void checkResumable(int partition, long lastEventId) throws InterruptedException {
        RecentEvents recent = tail.recent(partition);
        if (recent != null && lastEventId + 1 >= recent.coverageStart() && lastEventId < recent.next()) {
            return; // within the tail's memory: recent, and certainly retained
        }
        long end = history.end(partition);
        if (lastEventId >= end) {
            throw ApiException.badRequest("invalid_last_event_id", "Last-Event-ID " + lastEventId
                    + " is beyond the end of this session's stream; it did not come from this stream");
        }
        long start = history.start(partition);
        if (lastEventId + 1 < start) {
            throw new ApiException(410, "history_expired", "events after " + lastEventId
                    + " are no longer retained (the log starts at " + start + "); reload the session without Last-Event-ID");
        }
    }

    private static String sessionId(Context ctx) {
        return PathIds.sessionId(ctx);
    }

    /** The standard header, or the {@code last_event_id} query parameter for clients that cannot set headers. */
    static Long lastEventId(Context ctx) {
        String header = ctx.header("Last-Event-ID");
        String value = header != null && !header.isBlank() ? header.trim() : ctx.queryParam("last_event_id");
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

    /**
     * Ends every open stream; clients reconnect with their Last-Event-ID and continue where they were
     * (on this node or, behind a load balancer, another). For draining a node before maintenance.
     */
    public void endStreams() {
        streams.forEach(SseStream::end);
    }

    /** Ends every open stream so that clients reconnect (to another node), and stops reading. */
    @Override
    public void close() {
        endStreams();
        tail.close();
        history.close();
    }
}
