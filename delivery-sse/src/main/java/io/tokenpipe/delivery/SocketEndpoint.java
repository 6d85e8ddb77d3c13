package io.tokenpipe.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.config.RoutesConfig;
import io.javalin.websocket.WsContext;
import io.javalin.websocket.WsMessageContext;
import io.tokenpipe.common.auth.AccessControl;
import io.tokenpipe.common.auth.AccessRules;
import io.tokenpipe.common.auth.Principal;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.id.Ids;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * {@code /v1/ws}: one WebSocket carrying many sessions. The client subscribes to sessions (each from
 * its last event id, or the beginning), unsubscribes, submits and cancels turns; down the socket come
 * the same events as each session's SSE stream, and an ack or an error (the HTTP API's codes) for
 * every frame it sent. Each subscription is an {@link SseStream} writing to a {@link SocketSink}: the
 * order, gap, duplicate and slow-client rules are the SSE stream's own. The protocol is in docs/events.md.
 */
final class SocketEndpoint {

    private static final Logger log = LoggerFactory.getLogger(SocketEndpoint.class);
    static final String PATH = "/v1/ws";

    static final Setting MAX_SUBSCRIPTIONS = Setting.of("WS_MAX_SUBSCRIPTIONS", "100",
            "Sessions one WebSocket may follow at once; a subscribe beyond it is refused (429 too_many_subscriptions). Each also counts as a stream against SSE_MAX_STREAMS and the per-credential limits.");

    private static final Map<String, Set<String>> FIELDS = Map.of(
            "subscribe", Set.of("type", "ref", "session_id", "last_event_id", "access_token"),
            "unsubscribe", Set.of("type", "ref", "session_id"),
            "cancel", Set.of("type", "ref", "session_id", "turn_id"),
            "submit", Set.of("type", "ref", "session_id", "idempotency_key", "turn"));

    private final SseEndpoint streams;
    private final StreamQuota quota;
    private final TurnCommands commands;
    private final Consumer<Principal> chargeWrite;
    private final Function<String, Principal> frameToken;
    private final Duration ping;
    private final int maxSubscriptions;
    private final Map<String, EventSocket> sockets = new ConcurrentHashMap<>();

    /**
     * @param chargeWrite charges a submit or cancel to its credential's write rate (429 when over it)
     * @param frameToken  verifies a subscribe frame's own read token (401 when invalid)
     */
    SocketEndpoint(SseEndpoint streams, StreamQuota quota, TurnCommands commands, Consumer<Principal> chargeWrite,
                   Function<String, Principal> frameToken, Duration ping, Env env) {
        this.streams = streams;
        this.quota = quota;
        this.commands = commands;
        this.chargeWrite = chargeWrite;
        this.frameToken = frameToken;
        this.ping = ping;
        this.maxSubscriptions = env.positiveInteger(MAX_SUBSCRIPTIONS);
    }

    void register(RoutesConfig routes) {
        routes.ws(PATH, ws -> {
            ws.onConnect(ctx -> {
                // Access control admitted the upgrade (AccessRules: /v1/ws); without auth the principal is "open".
                Principal principal = AccessControl.principal(ctx).orElse(Principal.open());
                sockets.put(ctx.sessionId(), new EventSocket(ctx, principal));
                // Pings keep proxies from closing a quiet socket and make a vanished client a failed write.
                ctx.enableAutomaticPings(ping.toMillis(), TimeUnit.MILLISECONDS);
            });
            ws.onMessage(this::onMessage);
            ws.onClose(ctx -> closed(ctx));
            ws.onError(ctx -> closed(ctx));
        });
    }

    /** Sockets open now. */
    int openSockets() {
        return sockets.size();
    }

    private void closed(WsContext ctx) {
        EventSocket socket = sockets.remove(ctx.sessionId());
        if (socket != null) {
            socket.onClosed();
        }
    }

    private void onMessage(WsMessageContext ctx) {
        EventSocket socket = sockets.get(ctx.sessionId());
        if (socket == null) {
            return;
        }
        String op = null;
        JsonNode ref = null;
        String sessionId = null;
        try {
            JsonNode frame;
            try {
                frame = Json.MAPPER.readTree(ctx.message());
            } catch (Exception e) {
                throw ApiException.badRequest("invalid_json", "a frame must be one JSON object");
            }
            if (frame == null || !frame.isObject()) {
                throw ApiException.badRequest("invalid_json", "a frame must be one JSON object");
            }
            ref = frame.get("ref");
            op = requiredText(frame, "type");
            Set<String> fields = FIELDS.get(op);
            if (fields == null) {
                String unknown = op;
                op = null;
                throw ApiException.badRequest("unknown_type", "unknown frame type '" + clip(unknown)
                        + "'; accepted: subscribe, unsubscribe, submit, cancel");
            }
            for (var names = frame.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!fields.contains(name)) {
                    throw ApiException.badRequest("unknown_field", "unknown field '" + clip(name) + "' in a " + op
                            + " frame; accepted: " + new java.util.TreeSet<>(fields));
                }
            }
            sessionId = requiredText(frame, "session_id");
            if (!Ids.isValid(sessionId)) {
                String invalid = sessionId;
                sessionId = null;
                throw ApiException.badRequest("invalid_session_id",
                        "a session id is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-' (got '" + clip(invalid) + "')");
            }
            switch (op) {
                case "subscribe" -> subscribe(socket, ref, sessionId, frame.get("last_event_id"),
                        frame.has("access_token") ? requiredText(frame, "access_token") : null);
                case "unsubscribe" -> unsubscribe(socket, ref, sessionId);
                case "cancel" -> cancel(socket, ref, sessionId, requiredText(frame, "turn_id"));
                case "submit" -> submit(socket, ref, sessionId, frame);
                default -> throw new IllegalStateException(op);
            }
        } catch (ApiException e) {
            socket.reply(SocketFrames.error(op, ref, sessionId, e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            socket.reply(SocketFrames.error(op, ref, sessionId, ApiException.unavailable("interrupted", "the node is stopping")));
        }
    }

    /**
     * @param token a read token for this session sent in the frame: a browser holding one token per
     *              session follows them all on one socket, though its URL carries only one
     */
    private void subscribe(EventSocket socket, JsonNode ref, String sessionId, JsonNode last, String token)
            throws InterruptedException {
        Principal principal = token == null ? socket.principal() : frameToken.apply(token);
        AccessRules.SESSION_EVENTS.check(principal, sessionId);
        Long lastEventId = SseEndpoint.eventId(last == null || last.isNull() ? null : last.asText());
        if (socket.subscriptions().containsKey(sessionId)) {
            throw new ApiException(409, "already_subscribed", "this socket already follows session " + sessionId
                    + "; unsubscribe first to subscribe from another position");
        }
        if (socket.subscriptions().size() >= maxSubscriptions) {
            throw new ApiException(429, "too_many_subscriptions", "this socket already follows " + maxSubscriptions
                    + " sessions (WS_MAX_SUBSCRIPTIONS); unsubscribe one or open another socket");
        }
        Runnable release = quota.acquire(principal);
        ReplayPlan plan;
        try {
            plan = streams.admit(sessionId, lastEventId);
        } catch (RuntimeException | InterruptedException e) {
            release.run();
            throw e;
        }
        EventSocket.Subscribed subscribed = new EventSocket.Subscribed();
        socket.subscriptions().put(sessionId, subscribed);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("last_event_id", lastEventId == null ? null : String.valueOf(lastEventId));
        // The ack goes before the stream starts, so it precedes the subscription's first event.
        socket.reply(SocketFrames.ack("subscribe", ref, sessionId, 200, body));
        subscribed.started = streams.start(sessionId, plan, lastEventId, true, new SocketSink(socket), () -> {
            release.run();
            socket.subscriptions().remove(sessionId, subscribed);
            if (!subscribed.unsubscribing && !socket.closed()) {
                // The node ended the stream (draining): as with SSE, the client reconnects and resumes.
                log.debug("stream of {} ended by the node; closing its socket", sessionId);
                socket.close(1012, "streams ended by the server; reconnect and resubscribe from your last event ids");
            }
        });
    }

    private void unsubscribe(EventSocket socket, JsonNode ref, String sessionId) {
        EventSocket.Subscribed subscribed = socket.subscriptions().get(sessionId);
        if (subscribed == null) {
            throw ApiException.notFound("not_subscribed", "this socket does not follow session " + sessionId);
        }
        subscribed.unsubscribing = true;
        SseEndpoint.Started started = subscribed.started;
        started.stream().end();
        // Acked once the stream has ended: no event of the session follows the ack.
        started.done().whenComplete((ok, error) -> socket.reply(SocketFrames.ack("unsubscribe", ref, sessionId, 200, Map.of())));
    }

    private void cancel(EventSocket socket, JsonNode ref, String sessionId, String turnId) {
        AccessRules.TURN_WRITE.check(socket.principal(), sessionId);
        chargeWrite.accept(socket.principal());
        socket.reply(SocketFrames.ack("cancel", ref, sessionId, 202, commands.cancel(sessionId, turnId)));
    }

    private void submit(EventSocket socket, JsonNode ref, String sessionId, JsonNode frame) {
        AccessRules.TURN_WRITE.check(socket.principal(), sessionId);
        JsonNode turn = frame.get("turn");
        if (turn == null || !turn.isObject()) {
            throw ApiException.badRequest("missing_field", "a submit frame needs 'turn': the body of POST /v1/sessions/{id}/turns");
        }
        JsonNode key = frame.get("idempotency_key");
        if (key != null && !key.isNull() && !key.isTextual()) {
            throw ApiException.badRequest("invalid_idempotency_key", "'idempotency_key' must be a string");
        }
        chargeWrite.accept(socket.principal());
        TurnCommands.Submitted submitted = commands.submit(sessionId, Json.bytes(turn),
                key == null || key.isNull() ? null : key.asText());
        Map<String, Object> body = new LinkedHashMap<>(submitted.body());
        body.put("idempotent_replayed", submitted.replayed());
        socket.reply(SocketFrames.ack("submit", ref, sessionId, 202, body));
    }

    private static String requiredText(JsonNode frame, String field) {
        JsonNode value = frame.get(field);
        if (value == null || value.isNull()) {
            throw ApiException.badRequest("missing_field", "the frame needs '" + field + "'");
        }
        if (!value.isTextual() || value.asText().isBlank()) {
            throw ApiException.badRequest("invalid_field", "'" + field + "' must be a non-empty string");
        }
        return value.asText();
    }

    private static String clip(String value) {
        return value.length() > 40 ? value.substring(0, 40) + "…" : value;
    }
}
