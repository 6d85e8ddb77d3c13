package io.tokenpipe.delivery;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.micrometer.core.instrument.Timer;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.HttpErrors;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.log.SessionLog;
import io.tokenpipe.common.log.TurnLogContext;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.SessionIndex;
import io.tokenpipe.index.TurnRecord;
import io.tokenpipe.ingest.Submissions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * OpenAI's Chat Completions API over tokenpipe's pipeline, served by delivery-sse (it holds the
 * streams; it writes the prompt with ingest's {@link Submissions}).
 *
 * <ul>
 *   <li>{@code POST /v1/chat/completions}: creates a session (or continues the one named by the
 *       {@code Tokenpipe-Session-Id} header), submits the turn, and streams it as
 *       {@code chat.completion.chunk}s ({@code stream: true}) or answers one {@code chat.completion}
 *       once the turn has ended.</li>
 *   <li>{@code GET /v1/chat/completions/{completion_id}}: the same completion again; as a stream
 *       ({@code ?stream=true} or {@code Accept: text/event-stream}) it continues after
 *       {@code Last-Event-ID}, nothing lost or doubled.</li>
 * </ul>
 * Errors use OpenAI's error object ({@link HttpErrors} picks it for paths under {@code /v1/chat/}).
 */
public final class ChatCompletions {

    private static final Logger log = LoggerFactory.getLogger(ChatCompletions.class);
    /** Request and response header naming the session a completion belongs to. */
    public static final String SESSION_HEADER = "Tokenpipe-Session-Id";
    public static final String TURN_HEADER = "Tokenpipe-Turn-Id";
    public static final String RESUME_HEADER = "Tokenpipe-Resume-Url";
    static final String PATH = "/v1/chat/completions";
    private static final Timer SUBMIT = Metrics.latency(Metrics.SUBMIT,
            "A turn-submitting request arrived to its prompt acknowledged by Kafka");

    private final Submissions submissions;
    private final DeliveryApi delivery;
    private final SessionIndex index;
    private final SseEndpoint events;
    private final SessionLog sessionLog;
    private final long retryMillis;

    public ChatCompletions(Submissions submissions, DeliveryApi delivery, SessionIndex index) {
        this.submissions = submissions;
        this.delivery = delivery;
        this.index = index;
        this.events = delivery.events();
        this.sessionLog = delivery.sessionLog();
        this.retryMillis = delivery.settings().retry().toMillis();
    }

    public void register(RoutesConfig routes) {
        routes.post(PATH, this::create);
        routes.get(PATH + "/{completionId}", this::retrieve);
    }

    private void create(Context ctx) throws InterruptedException {
        long arrived = System.nanoTime();
        requireJson(ctx);
        ChatCompletionRequest request = ChatCompletionRequest.parse(ctx.bodyAsBytes(), ctx.header("Idempotency-Key"),
                submissions);
        String named = ctx.header(SESSION_HEADER);
        String sessionId;
        boolean created = named == null || named.isBlank();
        if (created) {
            sessionId = submissions.createSession(Map.of("api", "chat.completions")).sessionId();
        } else {
            sessionId = named.trim();
            if (!Ids.isValid(sessionId)) {
                throw ApiException.badRequest("invalid_session_id", SESSION_HEADER
                        + " must be a session id: 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
            }
        }
        int partition = sessionLog.partitionOf(sessionId);
        // Every event of a new turn is written after its prompt was acknowledged, so after the end of
        // the log as it is now: the stream starts there, with no need for the index to know the turn.
        long end = sessionLog.end(partition);
        Submissions.AcceptedTurn turn = submissions.submit(sessionId, request.turn(), created);
        SUBMIT.record(System.nanoTime() - arrived, TimeUnit.NANOSECONDS);
        Position from = turn.replayed() ? turnStart(sessionId, turn.turnId())
                : new Position(ReplayPlan.unindexed(partition, end - 1), end - 1);
        String completionId = ChatChunks.completionId(sessionId, turn.turnId());
        ctx.header(SESSION_HEADER, sessionId);
        ctx.header(TURN_HEADER, turn.turnId());
        ctx.header(RESUME_HEADER, PATH + "/" + completionId + "?stream=true" + (request.includeUsage() ? "&include_usage=true" : ""));
        if (turn.replayed()) {
            ctx.header("Idempotent-Replayed", "true");
        }
        try (TurnLogContext ids = TurnLogContext.of(sessionId, turn.turnId())) {
            log.debug("chat completion {} (stream: {})", completionId, request.stream());
            if (request.stream()) {
                delivery.withinQuota(ctx, onEnd -> events.stream(ctx, sessionId, from.plan(), from.after(), true,
                        new ChatChunkFormat(completionId, turn.turnId(), request.includeUsage(), -1, retryMillis), 0, onEnd));
            } else {
                answerWhole(ctx, sessionId, turn.turnId(), completionId, from);
            }
        }
    }

    private void retrieve(Context ctx) throws InterruptedException {
        long arrived = System.nanoTime();
        String completionId = ctx.pathParam("completionId");
        String[] ids = ids(completionId);
        Position from = turnStart(ids[0], ids[1]);
        String accept = ctx.header("Accept");
        boolean stream = "true".equalsIgnoreCase(ctx.queryParam("stream"))
                || (accept != null && accept.toLowerCase(Locale.ROOT).contains("text/event-stream"));
        if (!stream) {
            answerWhole(ctx, ids[0], ids[1], completionId, from);
            return;
        }
        Long lastEventId = SseEndpoint.lastEventId(ctx);
        if (lastEventId != null) {
            events.checkResumable(from.plan().partition(), lastEventId);
        }
        boolean includeUsage = "true".equalsIgnoreCase(ctx.queryParam("include_usage"));
        ctx.header(SESSION_HEADER, ids[0]);
        ctx.header(TURN_HEADER, ids[1]);
        delivery.withinQuota(ctx, onEnd -> events.stream(ctx, ids[0], from.plan(), from.after(), true,
                new ChatChunkFormat(completionId, ids[1], includeUsage, lastEventId == null ? -1 : lastEventId, retryMillis),
                lastEventId != null ? arrived : 0, onEnd));
    }

    /** Waits for the turn's end and answers one {@code chat.completion} (or the turn's error). */
    private void answerWhole(Context ctx, String sessionId, String turnId, String completionId, Position from) {
        CompletionCollector collector = new CompletionCollector(turnId);
        CompletableFuture<Void> done = events.follow(sessionId, from.plan(), from.after(), collector);
        ctx.future(() -> done.handle((ok, error) -> {
            TurnEvents turn = collector.turn();
            if (error != null || !turn.ended()) {
                // The node is shutting down (or the read failed): the turn goes on; its result stays retrievable.
                HttpErrors.write(ctx, 503, "stream_interrupted", "the answer was interrupted before the turn ended; "
                        + "retrieve it with GET " + PATH + "/" + completionId);
            } else if (turn.error() != null) {
                HttpErrors.write(ctx, 502, turn.error().path("code").asText("turn_failed"),
                        turn.error().path("message").asText("the turn failed"));
            } else {
                ctx.status(200).contentType("application/json").result(ChatChunks.bytes(ChatChunks.completion(completionId,
                        turn.created(), turn.model(), turn.text(), ChatChunks.finishReason(turn.finishReason()), turn.usage())));
            }
            return null;
        }));
    }

    /** Where to read a turn from: its {@code turn.started} if the index knows it, else what the index has not seen yet. */
    private Position turnStart(String sessionId, String turnId) {
        delivery.checkNotDeleted(sessionId);
        IndexAnswer answer = index.existing(sessionId);
        Optional<TurnRecord> turn = answer.session().turn(turnId);
        if (turn.isEmpty()) {
            answer = index.existing(sessionId, true);
            turn = answer.session().turn(turnId);
        }
        TurnRecord record = turn.orElseThrow(() -> ApiException.notFound("completion_not_found",
                "no chat completion " + ChatChunks.completionId(sessionId, turnId)));
        // A turn the index has not seen start begins at or after the index's next offset.
        long after = (record.startedOffset() != null ? record.startedOffset() : answer.streamNextOffset()) - 1;
        return new Position(ReplayPlan.after(answer, after), after);
    }

    /** {@code chatcmpl-<session id>.<turn id>} → both ids, or 404. */
    private static String[] ids(String completionId) {
        if (completionId.startsWith("chatcmpl-")) {
            String[] ids = completionId.substring("chatcmpl-".length()).split("\\.", -1);
            if (ids.length == 2 && Ids.isValid(ids[0]) && Ids.isValid(ids[1])) {
                return ids;
            }
        }
        throw ApiException.notFound("completion_not_found", "no chat completion '"
                + (completionId.length() > 160 ? completionId.substring(0, 160) + "…" : completionId) + "'");
    }

    private static void requireJson(Context ctx) {
        String type = ctx.contentType();
        String mime = type == null ? "" : type.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        if (!mime.equals("application/json") && !mime.endsWith("+json")) {
            throw new ApiException(415, "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json (got " + (type == null ? "none" : "'" + type + "'") + ")");
        }
    }

    /** A replay plan and the offset the stream starts after. */
    private record Position(ReplayPlan plan, long after) {
    }
}
