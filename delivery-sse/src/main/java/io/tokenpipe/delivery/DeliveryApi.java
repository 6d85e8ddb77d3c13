package io.tokenpipe.delivery;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.tokenpipe.common.auth.AccessControl;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.PathIds;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.SessionLog;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionKeys;
import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.SessionIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The read side of the HTTP API: a session's events as Server-Sent Events (live, resumed, or
 * replayed) and its transcript, read from the stream topic through the session index.
 */
public final class DeliveryApi implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DeliveryApi.class);

    private final DeliverySettings settings;
    private final SessionIndex index;
    private final KafkaSessionLog sessionLog;
    private final SseEndpoint events;
    private final Transcripts transcripts;
    private final StreamQuota quota;
    private final AuditSettings audit;
    private final AccessTrail trail;
    private final AuditApi auditApi;
    private final Env env;
    private final SessionKeys keys;
    private volatile SocketEndpoint socket;
    private final Metrics.AutoCloseableGauge openStreamsGauge;

    /** Every environment variable the delivery API reads besides {@link DeliverySettings}. */
    public static final List<Setting> QUOTA_SETTINGS = java.util.stream.Stream.of(StreamQuota.SETTINGS,
            List.of(SocketEndpoint.MAX_SUBSCRIPTIONS), AuditSettings.SETTINGS).flatMap(List::stream).toList();

    /** @param partitions the partition count of the topics (sessions are placed by hash over it) */
    public DeliveryApi(DeliverySettings settings, KafkaSettings kafka, Topics topics, int partitions, SessionIndex index) {
        this(settings, kafka, topics, partitions, index, Env.of(Map.of()), SessionKeys.none());
    }

    /**
     * @param env  where the per-credential stream limits are read from ({@link #QUOTA_SETTINGS})
     * @param keys the sessions' keys: events of encrypted sessions are opened with them, and a session
     *             whose key is shredded is refused (410) and its open streams ended, the moment this node learns of it
     */
    public DeliveryApi(DeliverySettings settings, KafkaSettings kafka, Topics topics, int partitions, SessionIndex index,
                       Env env, SessionKeys keys) {
        this.keys = keys;
        this.quota = StreamQuota.from(env);
        this.settings = settings;
        this.env = env;
        this.index = index;
        this.sessionLog = new KafkaSessionLog(kafka, topics.stream(), partitions, settings, this::endStreams,
                new SessionCodec(keys));
        this.events = new SseEndpoint(sessionLog, this::plan, settings);
        this.transcripts = new Transcripts(topics, sessionLog, settings.transcriptMaxBytes());
        this.audit = AuditSettings.from(env);
        this.trail = new AccessTrail(kafka, topics.auditTrail(), audit.trailWriteTimeout(), java.time.Clock.systemUTC());
        this.auditApi = new AuditApi(index, trail);
        this.openStreamsGauge = Metrics.gauge(Metrics.OPEN_STREAMS, "Event streams open on delivery nodes", events::openStreams);
        keys.onDeleted(this::forget);
    }

    /**
     * A session was deleted (here or on another node): what this node opened of it leaves memory, and its
     * open streams end; clients that reconnect are answered 410 {@code session_deleted}.
     */
    private void forget(String sessionId) {
        sessionLog.forget(sessionId);
        events.endStreams(sessionId);
    }

    /** 410 {@code session_deleted} for a deleted session. */
    void checkNotDeleted(String sessionId) {
        keys.checkNotDeleted(sessionId);
    }

    public DeliveryApi start() {
        sessionLog.start();
        return this;
    }

    /** The routes; the WebSocket answers submit and cancel with an error (delivery-sse runs no ingest). */
    public void register(RoutesConfig routes) {
        routes.get("/v1/sessions/{sessionId}/events", this::events);
        routes.get("/v1/sessions/{sessionId}/transcript", this::transcript);
        auditApi.register(routes);
        socket = new SocketEndpoint(events, quota, TurnCommands.NONE, principal -> { }, token -> {
            throw ApiException.badRequest("unknown_field", "access_token in frames needs access control on this node");
        }, settings.heartbeat(), env);
        socket.register(routes);
    }

    /**
     * The routes, with the WebSocket's submit and cancel served by {@code commands} (the standalone's
     * ingest-api's own code: {@link IngestTurns}), each charged to its credential's write
     * rate, and read tokens in subscribe frames verified by {@code access}.
     */
    public void register(RoutesConfig routes, TurnCommands commands, AccessControl access) {
        routes.get("/v1/sessions/{sessionId}/events", this::events);
        routes.get("/v1/sessions/{sessionId}/transcript", this::transcript);
        auditApi.register(routes);
        socket = new SocketEndpoint(events, quota, commands, access::chargeWrite, access::verifyReadToken,
                settings.heartbeat(), env);
        socket.register(routes);
    }

    DeliverySettings settings() {
        return settings;
    }

    SseEndpoint events() {
        return events;
    }

    SessionLog sessionLog() {
        return sessionLog;
    }

    public boolean healthy() {
        return sessionLog.healthy();
    }

    /** Streams open on this node. */
    public int openStreams() {
        return events.openStreams();
    }

    /** The stream partitions this node's live tail reads now: those its clients follow (and the recently left). */
    public Set<Integer> tailPartitions() {
        return sessionLog.tail().assigned();
    }

    /** Records of {@code partition} this node's live tail has read since it started. */
    public long tailRecordsRead(int partition) {
        return sessionLog.tail().recordsRead(partition);
    }

    /** The live tail's reads so far, for {@code /metrics/runtime}: partitions read now, records and bytes read. */
    public Map<String, java.util.function.Supplier<Object>> tailGauges() {
        StreamTail tail = sessionLog.tail();
        return Map.of("tail_partitions", () -> tail.assigned().size(),
                "tail_records_read", tail::recordsRead,
                "tail_bytes_read", tail::bytesRead);
    }

    /** WebSockets open on this node (each may follow many sessions; those count in {@link #openStreams()}). */
    public int openSockets() {
        SocketEndpoint s = socket;
        return s == null ? 0 : s.openSockets();
    }

    /** A stream, counted against its credential's quota while it is open. */
    private void events(Context ctx) throws InterruptedException {
        Pacer pacer = Pacer.of(ctx.queryParam("pace"), ctx.queryParam("max_gap_ms"), audit.paceMaxGap(), settings.heartbeat());
        String follow = ctx.queryParam("follow");
        if (pacer != null && follow != null && !follow.equalsIgnoreCase("false")) {
            throw ApiException.badRequest("invalid_request", "a paced replay replays what exists: it cannot follow (drop follow)");
        }
        if (pacer != null || "false".equalsIgnoreCase(follow)) {
            // A replay is an audit read: recorded before it is served (a live follow is a user's reading).
            String sessionId = PathIds.sessionId(ctx);
            keys.checkNotDeleted(sessionId); // 410 before the index's 404: a deleted session's record is gone there
            index.existing(sessionId);
            Map<String, String> detail = new java.util.TreeMap<>();
            ctx.queryParamMap().forEach((name, values) -> {
                if (!name.equals(AccessControl.TOKEN_PARAM)) {
                    detail.put(name, values.getFirst());
                }
            });
            Long lastEventId = SseEndpoint.lastEventId(ctx);
            if (lastEventId != null) {
                detail.put("last_event_id", lastEventId.toString());
            }
            trail.record(principal(ctx), AccessTrail.REPLAY, sessionId, detail);
        }
        withinQuota(ctx, release -> events.handle(ctx, release, pacer));
    }

    private static io.tokenpipe.common.auth.Principal principal(Context ctx) {
        return AccessControl.principal(ctx).orElse(io.tokenpipe.common.auth.Principal.open());
    }

    /** What answers a request with a stream; {@code onEnd} runs once that stream has ended. */
    interface StreamStart {
        void start(Runnable onEnd) throws InterruptedException;
    }

    /**
     * Starts a stream counted against the request's credential's quota (429 beyond it) until it ends;
     * every route that opens a stream goes through here, so no route bypasses the limit.
     */
    void withinQuota(Context ctx, StreamStart start) throws InterruptedException {
        Runnable release = AccessControl.principal(ctx).map(quota::acquire).orElse(() -> { });
        boolean started = false;
        try {
            start.start(release);
            started = true;
        } finally {
            if (!started) {
                release.run();
            }
        }
    }

    private void transcript(Context ctx) throws InterruptedException {
        String sessionId = PathIds.sessionId(ctx);
        keys.checkNotDeleted(sessionId);
        IndexAnswer answer = index.existing(sessionId);
        boolean withEvents = !"false".equalsIgnoreCase(ctx.queryParam("events"));
        trail.record(principal(ctx), AccessTrail.TRANSCRIPT, sessionId, Map.of("events", Boolean.toString(withEvents)));
        ctx.json(transcripts.build(answer, withEvents));
    }

    /** Where to read from: the index's turn ranges, or (when the index cannot answer a resume) the bare partition. */
    private ReplayPlan plan(String sessionId, Long lastEventId) {
        keys.checkNotDeleted(sessionId); // streams, replays, resumes and WebSocket subscriptions come here
        try {
            return ReplayPlan.after(index.existing(sessionId), lastEventId == null ? -1 : lastEventId);
        } catch (ApiException e) {
            if (e.status() == 503 && lastEventId != null) {
                // The client's position is all a resume needs: serve it even while the index is away.
                log.info("index unavailable; resuming {} from {} without it", sessionId, lastEventId);
                return ReplayPlan.unindexed(sessionLog.partitionOf(sessionId), lastEventId);
            }
            throw e;
        }
    }

    /**
     * Ends every open stream; clients reconnect with their Last-Event-ID and continue where they were
     * (on this node or, behind a load balancer, another). For draining a node before maintenance.
     */
    public void endStreams() {
        events.endStreams();
    }

    /** Ends every open stream so that clients reconnect (to another node), and stops reading. */
    @Override
    public void close() {
        endStreams();
        sessionLog.close();
        trail.close();
        openStreamsGauge.close();
    }
}
