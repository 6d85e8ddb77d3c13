package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.event.ErrorInfo;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.http.Health;
import io.tokenpipe.common.http.RuntimeMetrics;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;
import io.tokenpipe.worker.turn.StopSequenceFilter;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The benchmark's baseline: the same HTTP API subset, HTTP server (Javalin/Jetty, same defaults),
 * synthetic model, event JSON and SSE framing as the real stack, with the Kafka hop short-circuited.
 * A turn runs on a virtual thread; each event is serialised as the worker does ({@link Json#bytes})
 * and appended to the session's in-memory log, whose position is the SSE id, then handed to the
 * session's open streams, each written by its own virtual thread from a bounded queue exactly as
 * delivery-sse's SseStream does (subscribe, replay the log, then live; skip what was already sent).
 *
 * <p>What it omits, on purpose: the broker and its log (no durability: a restart loses everything),
 * the session index (lookups are a map get), the transactional writer (no group commit, no fencing),
 * the prompts topic and consumer group (the turn starts on the POST's thread), read_committed
 * fetches and the live tail, history readers, transcripts, cancellation, retention and idempotency
 * across restarts. Not a product: a yardstick for what Kafka costs.
 */
public final class DirectServer {

    private static final Pattern EVENT_ID = Pattern.compile("\\d{1,18}");
    private static final byte[] HEARTBEAT = ": heartbeat\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final int HISTORY_BATCH = 500;
    private static final int LIVE_BATCH = 256;

    private final Map<String, Session> sessions = new ConcurrentHashMap<>();
    private final SyntheticModel model;
    private final Clock clock = Clock.systemUTC();
    private final long heartbeatMillis;
    private final long retryMillis;
    private final int queueEvents;
    private final int maxStreams;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger inflight = new AtomicInteger();
    private Javalin http;

    DirectServer(Env env) {
        this.model = new SyntheticModel(SyntheticSettings.from(env));
        this.heartbeatMillis = Long.parseLong(env.asMap().getOrDefault("SSE_HEARTBEAT_MS", "15000"));
        this.retryMillis = Long.parseLong(env.asMap().getOrDefault("SSE_RETRY_MS", "1000"));
        this.queueEvents = Integer.parseInt(env.asMap().getOrDefault("SSE_CLIENT_QUEUE_EVENTS", "1024"));
        this.maxStreams = Integer.parseInt(env.asMap().getOrDefault("SSE_MAX_STREAMS", "20000"));
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
            config.routes.post("/v1/sessions", this::createSession);
            config.routes.post("/v1/sessions/{sessionId}/turns", this::submitTurn);
            config.routes.get("/v1/sessions/{sessionId}/events", this::events);
            Health.register(config.routes, Map.of("direct", () -> true));
            RuntimeMetrics.register(config.routes, Map.of(
                    "open_streams", open::get,
                    "inflight_turns", inflight::get));
        }).start(port);
        return this;
    }

    int port() {
        return http.port();
    }

    void stop() {
        for (Session s : sessions.values()) {
            s.endStreams();
        }
        http.stop();
    }

    // --- write side ------------------------------------------------------------------------------

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

    private record Turn(String turnId, String clientRequestId, String model, List<ChatMessage> messages,
                        GenerationParams params, Instant submittedAt) {
    }

    private void submitTurn(Context ctx) {
        Session session = session(ctx);
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
        Turn turn = new Turn(turnId, clientRequestId, root.path("model").asText("synthetic"), messages, params, now);
        boolean fresh = session.submit(turn, () -> runTurn(session, turn));
        if (!fresh) {
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

    /** As the worker's TurnRunner: turn.started, the tokens through the stop filter and max_tokens, one final event. */
    private void runTurn(Session session, Turn turn) {
        inflight.incrementAndGet();
        try {
            int[] index = {0};
            int[] tokens = {0};
            session.append(new TurnStarted(StreamEvent.VERSION, session.id, turn.turnId(), index[0], 1, clock.instant(),
                    "direct", turn.model(), turn.messages(), turn.params(), turn.clientRequestId(), turn.submittedAt(), null));
            Integer maxTokens = turn.params().maxTokens();
            StopSequenceFilter filter = new StopSequenceFilter(turn.params().stop(), text -> {
                tokens[0]++;
                session.append(new TokenChunk(StreamEvent.VERSION, session.id, turn.turnId(), ++index[0], 1,
                        clock.instant(), text));
                return maxTokens == null || tokens[0] < maxTokens;
            });
            try {
                ModelResult result = model.generate(new ChatRequest(turn.model(), turn.messages(), turn.params(), ""), filter);
                boolean lengthReached = maxTokens != null && tokens[0] >= maxTokens;
                if (!filter.stopped() && !lengthReached) {
                    filter.flush();
                }
                String finish = filter.stopped() ? "stop" : lengthReached ? "length" : result.finishReason();
                session.append(new TurnCompleted(StreamEvent.VERSION, session.id, turn.turnId(), ++index[0], 1,
                        clock.instant(), finish, result.usage() != null ? result.usage() : Usage.of(0, tokens[0])));
            } catch (ModelException e) {
                session.append(new TurnFailed(StreamEvent.VERSION, session.id, turn.turnId(), ++index[0], 1,
                        clock.instant(), new ErrorInfo(e.code(), e.getMessage())));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            inflight.decrementAndGet();
        }
    }

    // --- read side -------------------------------------------------------------------------------

    private void events(Context ctx) {
        Session session = session(ctx);
        String header = ctx.header("Last-Event-ID");
        String value = header != null && !header.isBlank() ? header.trim() : ctx.queryParam("last_event_id");
        long after = -1;
        if (value != null && !value.isBlank()) {
            if (!EVENT_ID.matcher(value.trim()).matches()) {
                throw ApiException.badRequest("invalid_last_event_id", "Last-Event-ID must be a non-negative integer");
            }
            after = Long.parseLong(value.trim());
            if (after >= session.size()) {
                throw ApiException.badRequest("invalid_last_event_id", "Last-Event-ID " + after
                        + " is beyond the end of this session's stream");
            }
        }
        boolean follow = !"false".equalsIgnoreCase(ctx.queryParam("follow"));
        if (open.incrementAndGet() > maxStreams) {
            open.decrementAndGet();
            ctx.header("Retry-After", "2");
            throw ApiException.unavailable("too_many_streams", "this node holds its maximum of streams; retry shortly");
        }
        HttpServletResponse response = ctx.res();
        response.setStatus(200);
        response.setContentType("text/event-stream");
        response.setCharacterEncoding("UTF-8");
        response.setHeader("Cache-Control", "no-cache, no-transform");
        response.setHeader("X-Accel-Buffering", "no");
        try {
            Stream stream = new Stream(session, after, follow, response.getOutputStream());
            response.flushBuffer();
            CompletableFuture<Void> done = stream.start().whenComplete((ok, error) -> open.decrementAndGet());
            ctx.future(() -> done);
        } catch (IOException e) {
            open.decrementAndGet();
        }
    }

    private Session session(Context ctx) {
        String id = ctx.pathParam("sessionId");
        if (!Ids.isValid(id)) {
            throw ApiException.badRequest("invalid_session_id", "a session id is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
        }
        Session s = sessions.get(id);
        if (s == null) {
            throw ApiException.notFound("session_not_found", "no session " + id);
        }
        return s;
    }

    static byte[] frame(long id, String type, byte[] json) {
        // The same framing as delivery-sse's SseFrames (our JSON is one line).
        StringBuilder f = new StringBuilder(json.length + 64);
        f.append("id: ").append(id).append('\n');
        f.append("event: ").append(type).append('\n');
        f.append("data: ").append(new String(json, StandardCharsets.UTF_8)).append('\n');
        f.append('\n');
        return f.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** A session: its event log in memory (position = SSE id), its open streams, its turns in order. */
    private final class Session {
        final String id;
        private final List<byte[]> log = new ArrayList<>();
        private final List<Stream> streams = new ArrayList<>();
        private final Map<String, Turn> turnsByKey = new ConcurrentHashMap<>();
        private final ArrayDeque<Runnable> queued = new ArrayDeque<>();
        private boolean running;

        Session(String id) {
            this.id = id;
        }

        /** Queues the turn behind the session's earlier ones; false when the key was seen (nothing new starts). */
        boolean submit(Turn turn, Runnable job) {
            if (turnsByKey.putIfAbsent(turn.clientRequestId(), turn) != null) {
                return false;
            }
            synchronized (this) {
                queued.add(job);
                if (!running) {
                    running = true;
                    Thread.ofVirtual().name("turns-" + id).start(this::drain);
                }
            }
            return true;
        }

        private void drain() {
            while (true) {
                Runnable next;
                synchronized (this) {
                    next = queued.poll();
                    if (next == null) {
                        running = false;
                        return;
                    }
                }
                next.run();
            }
        }

        void append(StreamEvent event) {
            byte[] json = Json.bytes(event);
            synchronized (this) {
                long offset = log.size();
                byte[] frame = frame(offset, event.type(), json);
                log.add(frame);
                for (Stream s : streams) {
                    s.offer(offset, frame);
                }
            }
        }

        synchronized int size() {
            return log.size();
        }

        synchronized void subscribe(Stream s) {
            streams.add(s);
        }

        synchronized void unsubscribe(Stream s) {
            streams.remove(s);
        }

        /** Frames [from, min(to, from + max)). */
        synchronized List<byte[]> read(long from, long to, int max) {
            int end = (int) Math.min(Math.min(to, log.size()), from + max);
            return from >= end ? List.of() : new ArrayList<>(log.subList((int) from, end));
        }

        synchronized void endStreams() {
            streams.forEach(Stream::end);
        }
    }

    /** One client's stream, as delivery-sse's SseStream: its own virtual thread, a bounded live queue. */
    private final class Stream {
        private record Live(long offset, byte[] frame) {
        }

        private final Session session;
        private final boolean follow;
        private final OutputStream out;
        private final ArrayBlockingQueue<Live> live = new ArrayBlockingQueue<>(queueEvents);
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private volatile boolean overflowed;
        private volatile Thread thread;
        private long lastSent;

        Stream(Session session, long after, boolean follow, OutputStream out) {
            this.session = session;
            this.lastSent = after;
            this.follow = follow;
            this.out = out;
        }

        CompletableFuture<Void> start() {
            thread = Thread.ofVirtual().name("sse-" + session.id).start(this::run);
            return done;
        }

        void end() {
            Thread t = thread;
            if (t != null) {
                t.interrupt();
            }
        }

        void offer(long offset, byte[] frame) {
            if (!live.offer(new Live(offset, frame))) {
                overflowed = true;
            }
        }

        private void run() {
            try {
                out.write(("retry: " + retryMillis + "\n\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                if (follow) {
                    session.subscribe(this);
                }
                copy(lastSent + 1, session.size());
                if (follow) {
                    followLive();
                }
            } catch (IOException | InterruptedException e) {
                // the client went away, or the server is stopping
            } finally {
                session.unsubscribe(this);
                done.complete(null);
            }
        }

        private void followLive() throws IOException, InterruptedException {
            while (true) {
                if (overflowed) {
                    overflowed = false;
                    live.clear();
                    copy(lastSent + 1, session.size());
                    continue;
                }
                Live next = live.poll(heartbeatMillis, TimeUnit.MILLISECONDS);
                if (next == null) {
                    out.write(HEARTBEAT);
                    out.flush();
                    continue;
                }
                int sent = 0;
                do {
                    send(next.offset(), next.frame());
                } while (++sent < LIVE_BATCH && (next = live.poll()) != null);
                out.flush();
            }
        }

        private void copy(long from, long to) throws IOException {
            long position = Math.max(from, lastSent + 1);
            while (position < to) {
                List<byte[]> batch = session.read(position, to, HISTORY_BATCH);
                if (batch.isEmpty()) {
                    break;
                }
                for (byte[] frame : batch) {
                    send(position++, frame);
                }
                out.flush();
            }
        }

        private void send(long offset, byte[] frame) throws IOException {
            if (offset > lastSent) {
                out.write(frame);
                lastSent = offset;
            }
        }
    }
}
