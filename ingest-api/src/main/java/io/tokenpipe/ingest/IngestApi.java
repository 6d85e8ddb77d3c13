package io.tokenpipe.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.micrometer.core.instrument.Timer;
import io.tokenpipe.common.auth.ReadTokens;
import io.tokenpipe.common.event.TurnCancelRequested;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.PathIds;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionEraser;
import io.tokenpipe.common.privacy.SessionKeys;
import io.tokenpipe.index.SessionIndex;
import io.tokenpipe.index.SessionRecord;
import io.tokenpipe.index.TurnRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The write side of the HTTP API: create sessions, submit turns, and read a session's turn list.
 * Every refusal happens before anything is written to Kafka.
 */
public final class IngestApi {

    private static final Logger log = LoggerFactory.getLogger(IngestApi.class);
    static final int MAX_METADATA_ENTRIES = 16;
    private static final Timer SUBMIT = Metrics.latency(Metrics.SUBMIT,
            "A turn-submitting request arrived to its prompt acknowledged by Kafka (POST to 202)");

    private final IngestSettings settings;
    private final Topics topics;
    private final KafkaWriter writer;
    private final SessionIndex index;
    private final Submissions submissions;
    private final ReadTokens readTokens;
    private final Clock clock;
    private final SessionEraser eraser;

    /**
     * @param readTokens signs the per-session read tokens handed out with a session
     * @param keys       the sessions' data keys: new sessions get one, deleting a session shreds it
     */
    public IngestApi(IngestSettings settings, Topics topics, org.apache.kafka.clients.producer.Producer<String, byte[]> producer,
                     SessionIndex index, ReadTokens readTokens, Clock clock, SessionKeys keys) {
        this.eraser = new SessionEraser(keys, producer, topics, settings.kafkaWriteTimeout());
        this.settings = settings;
        this.topics = topics;
        this.writer = new KafkaWriter(producer, settings.kafkaWriteTimeout());
        this.index = index;
        this.submissions = new Submissions(settings, topics, producer, index, clock, new SessionCodec(keys));
        this.readTokens = readTokens;
        this.clock = clock;
    }

    /** Session creation and turn submission, for other endpoints that create turns (the OpenAI one). */
    public Submissions submissions() {
        return submissions;
    }

    public void register(RoutesConfig routes) {
        routes.post("/v1/sessions", this::createSession);
        routes.get("/v1/sessions/{sessionId}", this::getSession);
        routes.post("/v1/sessions/{sessionId}/turns", this::submitTurn);
        routes.get("/v1/sessions/{sessionId}/turns/{turnId}", this::getTurn);
        routes.post("/v1/sessions/{sessionId}/turns/{turnId}/cancel", this::cancelTurn);
        routes.post("/v1/sessions/{sessionId}/read-tokens", this::issueReadToken);
        routes.delete("/v1/sessions/{sessionId}", this::deleteSession);
    }

    /**
     * Forgets a session (crypto-shredding): its running turns are cancelled, its key destroyed (its
     * prompts and answers in Kafka no longer open), its record and index entries removed. Every read of
     * it answers 410 {@code session_deleted} from then on.
     */
    private void deleteSession(Context ctx) {
        String sessionId = sessionId(ctx);
        SessionRecord session = existingSession(sessionId);
        for (TurnRecord turn : session.turns()) {
            if (!turn.finished()) { // no model time spent on an answer nobody can read
                writer.write(topics.control(), sessionId, TurnCancelRequested.TYPE,
                        new TurnCancelRequested(TurnCancelRequested.VERSION, sessionId, turn.turnId(), clock.instant()));
            }
        }
        boolean encrypted = eraser.keys().fresh(sessionId) instanceof SessionKeys.Present;
        eraser.erase(sessionId);
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("session_id", sessionId);
        response.put("status", "deleted");
        response.put("encrypted", encrypted); // false: its content stays readable in Kafka until retention removes it
        response.put("deleted_at", clock.instant());
        ctx.json(response);
    }

    private void createSession(Context ctx) {
        Map<String, String> metadata = Map.of();
        byte[] body = ctx.bodyAsBytes();
        if (body.length > 0) {
            requireJson(ctx);
            metadata = metadata(TurnRequestParser.object(body));
        }
        Submissions.CreatedSession created = submissions.createSession(metadata);
        String sessionId = created.sessionId();
        Instant now = created.createdAt();
        log.debug("created session {}", sessionId);
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("session_id", sessionId);
        response.put("created_at", now);
        response.put("metadata", metadata);
        response.put("turns_url", "/v1/sessions/" + sessionId + "/turns");
        response.put("events_url", streamUrl(sessionId, "/events"));
        response.put("transcript_url", streamUrl(sessionId, "/transcript"));
        putReadToken(response, sessionId);
        ctx.status(201).header("Location", "/v1/sessions/" + sessionId).json(response);
    }

    /**
     * A new read token for an existing session: for a page that reopens a session, or whose token
     * expired. The token can be handed to an end user: it reads that one session and nothing else.
     */
    private void issueReadToken(Context ctx) {
        String sessionId = sessionId(ctx);
        existingSession(sessionId);
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("session_id", sessionId);
        putReadToken(response, sessionId);
        response.put("events_url", streamUrl(sessionId, "/events"));
        ctx.status(201).json(response);
    }

    private void putReadToken(Map<String, Object> response, String sessionId) {
        ReadTokens.Issued token = readTokens.issueRead(sessionId);
        response.put("read_token", token.token());
        response.put("read_token_expires_at", token.expiresAt());
    }

    private void submitTurn(Context ctx) {
        long arrived = System.nanoTime();
        String sessionId = sessionId(ctx);
        requireJson(ctx);
        Submitted submitted = submit(sessionId, ctx.bodyAsBytes(), ctx.header("Idempotency-Key"));
        if (submitted.replayed()) {
            ctx.header("Idempotent-Replayed", "true");
        } else {
            ctx.header("Location", "/v1/sessions/" + sessionId + "/turns/" + submitted.body().get("turn_id"));
        }
        ctx.status(202).json(submitted.body());
        SUBMIT.record(System.nanoTime() - arrived, TimeUnit.NANOSECONDS);
    }

    /** What a submit answered: the 202 body, and whether it is an earlier submit's answer replayed (same key). */
    public record Submitted(Map<String, Object> body, boolean replayed) {
    }

    /**
     * Submits a turn (the body of {@code POST /v1/sessions/{id}/turns}) to a valid session id through
     * {@link Submissions}: the HTTP route and delivery's WebSocket both come here. Throws
     * {@link ApiException} for every refusal, before anything is written.
     */
    public Submitted submit(String sessionId, byte[] body, String idempotencyKey) {
        TurnRequest request = submissions.parse(body, idempotencyKey);
        Submissions.AcceptedTurn turn = submissions.submit(sessionId, request, false);
        return new Submitted(turnAccepted(sessionId, turn.turnId(), turn.clientRequestId(), turn.status(),
                turn.submittedAt()), turn.replayed());
    }

    private void getSession(Context ctx) {
        SessionRecord session = existingSession(sessionId(ctx));
        ctx.json(session);
    }

    private void getTurn(Context ctx) {
        ctx.json(existingTurn(sessionId(ctx), ctx.pathParam("turnId")));
    }

    /**
     * Asks the worker running (or about to run) the turn to stop. The turn then ends with
     * finish_reason "cancelled"; the text streamed so far stays. Cancelling twice is harmless.
     */
    private void cancelTurn(Context ctx) {
        ctx.status(202).json(cancel(sessionId(ctx), ctx.pathParam("turnId")));
    }

    /** Cancels a turn of a valid session id (the HTTP route and delivery's WebSocket); the 202 body. */
    public Map<String, Object> cancel(String sessionId, String turnId) {
        TurnRecord turn = existingTurn(sessionId, turnId);
        if (turn.finished()) {
            throw new ApiException(409, "turn_finished", "turn " + turnId + " already ended (" + turn.status().json()
                    + (turn.finishReason() == null ? "" : ", " + turn.finishReason()) + ")");
        }
        writer.write(topics.control(), sessionId, TurnCancelRequested.TYPE,
                new TurnCancelRequested(TurnCancelRequested.VERSION, sessionId, turnId, clock.instant()));
        return Map.of("session_id", sessionId, "turn_id", turnId, "status", "cancelling");
    }

    private SessionRecord existingSession(String sessionId) {
        eraser.keys().checkNotDeleted(sessionId);
        return index.existing(sessionId).session();
    }

    /** A turn of a session; a turn the index does not show yet is looked for again, freshly, before 404. */
    private TurnRecord existingTurn(String sessionId, String turnId) {
        Optional<TurnRecord> turn = existingSession(sessionId).turn(turnId);
        if (turn.isEmpty()) {
            turn = index.existing(sessionId, true).session().turn(turnId);
        }
        return turn.orElseThrow(() -> ApiException.notFound("turn_not_found", "session " + sessionId + " has no turn " + turnId));
    }

    private Map<String, Object> turnAccepted(String sessionId, String turnId, String clientRequestId, String status,
                                             Instant submittedAt) {
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("session_id", sessionId);
        response.put("turn_id", turnId);
        response.put("client_request_id", clientRequestId);
        response.put("status", status);
        response.put("submitted_at", submittedAt);
        response.put("events_url", streamUrl(sessionId, "/events"));
        response.put("transcript_url", streamUrl(sessionId, "/transcript"));
        return response;
    }

    private String streamUrl(String sessionId, String suffix) {
        return settings.streamBaseUrl() + "/v1/sessions/" + sessionId + suffix;
    }

    private static String sessionId(Context ctx) {
        return PathIds.sessionId(ctx);
    }

    private static void requireJson(Context ctx) {
        String type = ctx.contentType();
        String mime = type == null ? "" : type.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
        if (!mime.equals("application/json") && !mime.endsWith("+json")) {
            throw new ApiException(415, "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json (got " + (type == null ? "none" : "'" + type + "'") + ")");
        }
    }

    private static Map<String, String> metadata(ObjectNode root) {
        for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!name.equals("metadata")) {
                throw ApiException.badRequest("unknown_field", "unknown field '" + name + "'; accepted: [metadata]");
            }
        }
        JsonNode node = root.get("metadata");
        if (node == null || node.isNull()) {
            return Map.of();
        }
        if (!node.isObject() || node.size() > MAX_METADATA_ENTRIES) {
            throw ApiException.badRequest("invalid_request", "'metadata' must be an object of at most "
                    + MAX_METADATA_ENTRIES + " string values");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> fields = node.fields(); fields.hasNext(); ) {
            Map.Entry<String, JsonNode> field = fields.next();
            if (!field.getValue().isTextual() || field.getKey().length() > 64 || field.getValue().asText().length() > 512) {
                throw ApiException.badRequest("invalid_request",
                        "'metadata." + field.getKey() + "' must be a string of at most 512 characters (keys at most 64)");
            }
            metadata.put(field.getKey(), field.getValue().asText());
        }
        return metadata;
    }
}
