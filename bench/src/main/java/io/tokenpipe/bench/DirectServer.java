package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.tokenpipe.common.auth.AccessControl;
import io.tokenpipe.common.auth.AuthSettings;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.Health;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.http.PathIds;
import io.tokenpipe.common.http.RuntimeMetrics;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.InMemoryLog;
import io.tokenpipe.delivery.DeliverySettings;
import io.tokenpipe.delivery.ReplayPlan;
import io.tokenpipe.delivery.SseEndpoint;
import io.tokenpipe.worker.WorkerService;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.turn.Cancellations;
import io.tokenpipe.worker.turn.SessionLanes;
import io.tokenpipe.worker.turn.TurnJob;
import io.tokenpipe.worker.turn.TurnRunner;

import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The benchmark's control: the product's turn and stream code with the Kafka hop taken out. Turns
 * run in the worker's {@link SessionLanes} and {@link TurnRunner} (the same synthetic model, stop
 * filter and max-tokens limit); their events go to an {@link InMemoryLog} instead of a partition
 * writer; clients are served by delivery-sse's own {@link SseEndpoint} (the same per-stream threads,
 * bounded queues, resume logic and SSE framing) reading that log instead of the stream topic.
 *
 * <p>What it leaves out is exactly what Kafka adds: the broker and its log (nothing is durable),
 * the prompts topic and the workers' consumer group (a turn is handed to its lane on the POST's
 * thread), the transactional partition writers (no fencing, no take-over), the live tail and
 * history readers, and the session index (a session is a map entry; ingest-api's full validation
 * and idempotency checks are reduced to what the benchmark's clients send). Not a product: a
 * yardstick for what the Kafka hop costs.
 */
public final class DirectServer {

    private final Map<String, Session> sessions = new ConcurrentHashMap<>();
    private final Clock clock = Clock.systemUTC();
    private final InMemoryLog log;
    private final SessionLanes lanes;
    private final SseEndpoint events;
    private final ModelRegistry models;
    private final AtomicInteger inflight = new AtomicInteger();
    private final AccessControl access;
    private Javalin http;

    /** A session: which requests it has seen (its idempotency keys), and their turns. */
    private static final class Session {
        final String id;
        final Map<String, String> requests = new ConcurrentHashMap<>();

        Session(String id) {
            this.id = id;
        }
    }

    DirectServer(Env env) {
        this.log = new InMemoryLog(Topics.from(env).partitions());
        this.models = WorkerService.models(env);
        TurnRunner runner = new TurnRunner(models, "direct", clock, 0);
        this.lanes = new SessionLanes(runner, new Cancellations(), inflight);
        this.events = new SseEndpoint(log, this::plan, DeliverySettings.from(env));
        // The same checks as the product's nodes, so the comparison does not flatter Kafka's side.
        this.access = AccessControl.from(AuthSettings.from(env), true, clock);
    }

    public static void main(String[] args) {
        Env env = Env.system();
        int port = Integer.parseInt(env.asMap().getOrDefault("TOKENPIPE_HTTP_PORT", "8080"));
        DirectServer server = new DirectServer(env).start(port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::stop, "direct-shutdown"));
        System.out.println("direct server (no Kafka) listening on port " + server.port());
    }

    DirectServer start(int port) {
        http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            access.register(config.routes);
            config.routes.post("/v1/sessions", this::createSession);
            config.routes.post("/v1/sessions/{sessionId}/turns", this::submitTurn);
            config.routes.get("/v1/sessions/{sessionId}/events", events::handle);
            Health.register(config.routes, Map.of("direct", () -> true));
            RuntimeMetrics.register(config.routes, Map.of(
                    "open_streams", events::openStreams,
                    "inflight_turns", inflight::get));
        }).start(port);
        return this;
    }

    int port() {
        return http.port();
    }

    void stop() {
        events.endStreams();
        lanes.stopAll();
        http.stop();
        models.close();
    }

    private void createSession(Context ctx) {
        String id = Ids.newSessionId();
        Instant now = clock.instant();
        sessions.put(id, new Session(id));
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("session_id", id);
        response.put("created_at", now);
        response.put("metadata", Map.of());
        response.put("turns_url", "/v1/sessions/" + id + "/turns");
        response.put("events_url", "/v1/sessions/" + id + "/events");
        ctx.status(201).header("Location", "/v1/sessions/" + id).json(response);
    }

    private void submitTurn(Context ctx) {
        Session session = session(PathIds.sessionId(ctx));
        String type = ctx.contentType();
        String mime = type == null ? "" : type.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        if (!mime.equals("application/json") && !mime.endsWith("+json")) {
            throw new ApiException(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
        }
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(ctx.bodyAsBytes());
        } catch (IOException e) {
            throw ApiException.badRequest("malformed_json", "the body is not JSON");
        }
        if (root == null || !root.isObject()) {
            throw ApiException.badRequest("malformed_json", "the body is not a JSON object");
        }
        List<ChatMessage> messages = new ArrayList<>();
        if (root.hasNonNull("messages")) {
            for (JsonNode m : root.get("messages")) {
                messages.add(new ChatMessage(m.path("role").asText("user"), m.path("content").asText("")));
            }
        } else if (root.hasNonNull("prompt")) {
            messages.add(ChatMessage.user(root.get("prompt").asText()));
        } else {
            throw ApiException.badRequest("invalid_request", "'prompt' or 'messages' is required");
        }
        Map<String, Object> options = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> f : root.path("options").properties()) {
            JsonNode v = f.getValue();
            options.put(f.getKey(), v.isNumber() ? v.numberValue() : v.isBoolean() ? (Object) v.asBoolean() : v.asText());
        }
        List<String> stop = new ArrayList<>();
        JsonNode stopNode = root.path("stop");
        if (stopNode.isTextual()) {
            stop.add(stopNode.asText());
        } else if (stopNode.isArray()) {
            stopNode.forEach(s -> stop.add(s.asText()));
        }
        GenerationParams params = new GenerationParams(
                root.hasNonNull("max_tokens") ? root.get("max_tokens").asInt() : null,
                root.hasNonNull("temperature") ? root.get("temperature").asDouble() : null,
                stop,
                root.hasNonNull("seed") ? root.get("seed").asLong() : null,
                options);
        String key = ctx.header("Idempotency-Key");
        if (key == null && root.hasNonNull("client_request_id")) {
            key = root.get("client_request_id").asText();
        }
        String clientRequestId = key != null ? key : Ids.newRequestId();
        String turnId = Ids.turnId(session.id, clientRequestId);
        Instant now = clock.instant();
        PromptSubmitted prompt = new PromptSubmitted(PromptSubmitted.VERSION, session.id, turnId, clientRequestId, null,
                root.path("model").asText("synthetic"), messages, params, now);
        if (session.requests.putIfAbsent(clientRequestId, turnId) == null) {
            lanes.submit(session.id, log.partitionOf(session.id), new TurnJob(prompt, null, log, null));
        } else {
            ctx.header("Idempotent-Replayed", "true");
        }
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("session_id", session.id);
        response.put("turn_id", turnId);
        response.put("client_request_id", clientRequestId);
        response.put("status", "queued");
        response.put("submitted_at", now);
        response.put("events_url", "/v1/sessions/" + session.id + "/events");
        ctx.status(202).json(response);
    }

    /** A stream reads the whole session (or what follows its Last-Event-ID) from the in-memory log. */
    private ReplayPlan plan(String sessionId, Long lastEventId) {
        session(sessionId);
        return ReplayPlan.unindexed(log.partitionOf(sessionId), lastEventId == null ? -1 : lastEventId);
    }

    private Session session(String id) {
        Session s = sessions.get(id);
        if (s == null) {
            throw ApiException.notFound("session_not_found", "no session " + id);
        }
        return s;
    }
}
