package io.tokenpipe.bench;

import org.HdrHistogram.Histogram;

import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * One workload against one server: N sessions opened evenly over the ramp; each opens its event
 * stream, submits one turn once the stream is open, and checks every event it receives; a share
 * of them drop mid-turn and resume with Last-Event-ID. Every stream stays open until every turn
 * has completed and the hold time has passed, as browsers would keep them.
 */
final class LoadRun {

    /** What to run. */
    record Workload(String label, int sessions, int tokens, double rate, int ttftMs, double rampSeconds, int dropped,
                    int dropPauseMs, double holdSeconds, double timeoutSeconds, long seed) {
    }

    static final long HIGHEST_MICROS = 3_600_000_000L;

    static Histogram histogram() {
        return new Histogram(HIGHEST_MICROS, 3);
    }

    /** Counters of what went wrong; all zero in a correct run. */
    static final class Correctness {
        long lost;            // events of a turn the client never received
        long duplicated;      // events received twice (same id, or same index under a new id)
        long reordered;       // events that arrived after a later one
        long textMismatch;    // sessions whose text differs from the model's
        long incomplete;      // sessions whose accepted turn did not complete before the timeout
        long failedSessions;  // sessions that hit an HTTP error (after retries) or a failed turn
        long foreignEvents;   // events of another turn or session
        long replayMismatch;  // sessions whose received events differ from a follow=false replay
        long replayChecked;

        boolean ok() {
            return lost == 0 && duplicated == 0 && reordered == 0 && textMismatch == 0 && incomplete == 0
                    && failedSessions == 0 && foreignEvents == 0 && replayMismatch == 0;
        }

        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("ok", ok());
            m.put("lost_events", lost);
            m.put("duplicated_events", duplicated);
            m.put("reordered_events", reordered);
            m.put("text_mismatches", textMismatch);
            m.put("incomplete_sessions", incomplete);
            m.put("failed_sessions", failedSessions);
            m.put("foreign_events", foreignEvents);
            m.put("replay_mismatches", replayMismatch);
            m.put("replay_checked_sessions", replayChecked);
            return m;
        }
    }

    /** What a run measured. */
    static final class Result {
        Workload workload;
        Histogram chunkLatency = histogram();
        Histogram ttftRaw = histogram();
        Histogram ttftOurs = histogram();
        Histogram resume = histogram();
        Histogram accept = histogram(); // POST turn -> 202
        Histogram connect = histogram(); // GET events -> retry line
        long negativeLatencies;
        long chunks;
        long events;
        long heartbeats;
        long acceptedTurns;
        long createdSessions;
        long httpRetries;
        long unexpectedDisconnects;
        long resumes;
        long startMicros;
        long firstAcceptMicros;
        long lastAcceptMicros;
        long allCompletedMicros;
        long endMicros;
        long[] chunksPerSecond;
        long clientBytes;
        Correctness correctness = new Correctness();
        List<String> errors = new ArrayList<>();
        Map<String, Long> errorKinds = new LinkedHashMap<>();
        List<String> sessionIds = new ArrayList<>();
        /** Per completed turn: {accepted, completed, longest wait between two tokens} in µs. */
        List<long[]> turnWindows = new ArrayList<>();
        /** Per failing session: its connections and what each delivered, and the log's version (replay). */
        List<String> anomalies = new ArrayList<>();

        double loadSeconds() {
            return Math.max(1e-3, (allCompletedMicros - startMicros) / 1e6);
        }
    }

    private final Workload w;
    private final InetSocketAddress address;
    private final List<InetSocketAddress> streamAddresses;
    private final Api api;
    private final List<ClientLoop> loops;
    private final ScheduledExecutorService scheduler;
    private final Consumer<String> progress;
    private volatile KafkaProbe probe;
    private final Map<ClientLoop, LoopStats> loopStats = new IdentityHashMap<>();
    private final Client[] clients;
    private final CountDownLatch finished;
    private final AtomicInteger created = new AtomicInteger();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicInteger completed = new AtomicInteger();
    private final AtomicInteger failed = new AtomicInteger();
    private final AtomicLong httpRetries = new AtomicLong();
    private final AtomicLong unexpectedDisconnects = new AtomicLong();
    private final Map<String, AtomicLong> errorKinds = new ConcurrentHashMap<>();
    private final List<String> errorSamples = Collections.synchronizedList(new ArrayList<>());
    private final List<String> anomalies = new ArrayList<>();
    private volatile boolean closing;
    private long startMicros;
    /** Non-null when the clients follow their sessions over WebSockets instead of SSE. */
    private final WsTransport ws;

    /** Per-loop measurements, touched only by the loop's thread. */
    private static final class LoopStats {
        final Histogram chunkLatency = histogram();
        long negative;
        long chunks;
        long events;
        long heartbeats;
        long[] perSecond;
    }

    LoadRun(Workload w, Api api, List<ClientLoop> loops, ScheduledExecutorService scheduler, Consumer<String> progress) {
        this(w, api, loops, scheduler, progress, 0);
    }

    /**
     * @param sessionsPerSocket 0: each client follows its session over SSE; otherwise over WebSockets
     *                          (/v1/ws), this many clients sharing one socket
     */
    LoadRun(Workload w, Api api, List<ClientLoop> loops, ScheduledExecutorService scheduler, Consumer<String> progress,
            int sessionsPerSocket) {
        this.w = w;
        this.ws = sessionsPerSocket > 0 ? new WsTransport(api.base(), w.sessions(), sessionsPerSocket, scheduler) : null;
        this.api = api;
        this.address = api.address();
        this.streamAddresses = api.streamAddresses();
        this.loops = loops;
        this.scheduler = scheduler;
        this.progress = progress;
        int seconds = (int) Math.ceil(w.timeoutSeconds() + w.holdSeconds() + 120);
        for (ClientLoop loop : loops) {
            LoopStats s = new LoopStats();
            s.perSecond = new long[seconds];
            loopStats.put(loop, s);
        }
        this.clients = new Client[w.sessions()];
        this.finished = new CountDownLatch(w.sessions());
        Random random = new Random(w.seed());
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < w.sessions(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, random);
        BitSet drops = new BitSet();
        for (int i = 0; i < w.dropped(); i++) {
            drops.set(order.get(i));
        }
        int missedWanted = (int) Math.ceil(w.dropPauseMs() / 1000.0 * w.rate()) + 1;
        int upper = w.tokens() - missedWanted - 1;
        if (upper < 1) {
            upper = Math.max(1, w.tokens() / 2);
        }
        for (int i = 0; i < w.sessions(); i++) {
            int dropAfter = drops.get(i) ? 1 + random.nextInt(upper) : -1;
            // The clients of one socket share its loop.
            int slot = ws == null ? i : ws.group(i);
            clients[i] = new Client(i, loops.get(slot % loops.size()), dropAfter);
        }
    }

    void probe(KafkaProbe probe) {
        this.probe = probe;
    }

    Result run(Runnable duringHold) throws InterruptedException {
        startMicros = ClientLoop.nowMicros();
        long startNanos = System.nanoTime();
        long rampNanos = (long) (w.rampSeconds() * 1e9);
        Thread starter = Thread.ofPlatform().name("bench-ramp").daemon().start(() -> {
            for (int i = 0; i < clients.length; i++) {
                long due = startNanos + (clients.length <= 1 ? 0 : rampNanos * i / clients.length);
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
                clients[i].start();
            }
        });
        long deadline = System.nanoTime() + (long) (w.timeoutSeconds() * 1e9);
        long nextReport = System.nanoTime() + 5_000_000_000L;
        while (!finished.await(200, TimeUnit.MILLISECONDS)) {
            if (System.nanoTime() > deadline) {
                progress.accept(w.label() + ": timeout after " + w.timeoutSeconds() + " s; "
                        + finished.getCount() + " sessions did not finish");
                break;
            }
            if (System.nanoTime() > nextReport) {
                nextReport += 5_000_000_000L;
                progress.accept(status());
            }
        }
        starter.join(5_000);
        long allCompleted = ClientLoop.nowMicros();
        progress.accept(status());
        if (w.holdSeconds() > 0 || duringHold != null) {
            long holdUntil = System.nanoTime() + (long) (w.holdSeconds() * 1e9);
            if (duringHold != null) {
                duringHold.run();
            }
            long left = holdUntil - System.nanoTime();
            if (left > 0) {
                Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
            }
        }
        closing = true;
        long end = ClientLoop.nowMicros();
        for (Client c : clients) {
            c.loop.execute(c::closeStream);
        }
        barrier();
        if (ws != null) {
            ws.close();
            barrier();
        }
        return collect(allCompleted, end);
    }

    String status() {
        long chunks = 0;
        for (LoopStats s : loopStats.values()) {
            chunks += s.chunks; // racy read, for progress only
        }
        return String.format("%s: %d/%d sessions created, %d turns accepted, %d completed, %d failed, %d chunks received",
                w.label(), created.get(), clients.length, accepted.get(), completed.get(), failed.get(), chunks);
    }

    /** Waits until every loop has run everything handed to it so far (and publishes its writes to us). */
    private void barrier() throws InterruptedException {
        CountDownLatch done = new CountDownLatch(loops.size());
        for (ClientLoop loop : loops) {
            loop.execute(done::countDown);
        }
        done.await(10, TimeUnit.SECONDS);
    }

    private void error(String kind, String message) {
        errorKinds.computeIfAbsent(kind, k -> new AtomicLong()).incrementAndGet();
        if (errorSamples.size() < 20) {
            errorSamples.add(message);
        }
    }

    private Result collect(long allCompleted, long end) {
        Result r = new Result();
        r.workload = w;
        r.startMicros = startMicros;
        r.allCompletedMicros = allCompleted;
        r.endMicros = end;
        int seconds = 0;
        for (LoopStats s : loopStats.values()) {
            r.chunkLatency.add(s.chunkLatency);
            r.negativeLatencies += s.negative;
            r.chunks += s.chunks;
            r.events += s.events;
            r.heartbeats += s.heartbeats;
            seconds = Math.max(seconds, s.perSecond.length);
        }
        r.chunksPerSecond = new long[seconds];
        for (LoopStats s : loopStats.values()) {
            for (int i = 0; i < s.perSecond.length; i++) {
                r.chunksPerSecond[i] += s.perSecond[i];
            }
        }
        for (ClientLoop loop : loops) {
            r.clientBytes += loop.bytesRead();
        }
        if (ws != null) {
            r.clientBytes += ws.bytesRead();
        }
        r.httpRetries = httpRetries.get();
        r.unexpectedDisconnects = unexpectedDisconnects.get();
        r.createdSessions = created.get();
        r.acceptedTurns = accepted.get();
        long firstAccept = Long.MAX_VALUE;
        long lastAccept = 0;
        Correctness k = r.correctness;
        for (Client c : clients) {
            if (c.sessionId != null) {
                r.sessionIds.add(c.sessionId);
            }
            if (c.acceptedMicros > 0) {
                firstAccept = Math.min(firstAccept, c.acceptedMicros);
                lastAccept = Math.max(lastAccept, c.acceptedMicros);
                r.accept.recordValue(clamp(c.acceptedMicros - c.submitMicros));
                if (c.firstTokenMicros > 0) {
                    long raw = c.firstTokenMicros - c.acceptedMicros;
                    if (raw < 0) {
                        r.negativeLatencies++;
                    }
                    r.ttftRaw.recordValue(clamp(raw));
                    r.ttftOurs.recordValue(clamp(raw - w.ttftMs() * 1_000L));
                }
            }
            if (c.retryMicros > 0 && c.streamRequestMicros > 0) {
                r.connect.recordValue(clamp(c.retryMicros - c.streamRequestMicros));
            }
            if (c.completed && c.acceptedMicros > 0) {
                r.turnWindows.add(new long[] {c.acceptedMicros, c.completedMicros, c.longestTokenGapMicros});
            }
            if (c.resumeLatencyMicros >= 0) {
                r.resume.recordValue(clamp(c.resumeLatencyMicros));
                r.resumes++;
            }
            c.verify(k);
        }
        r.firstAcceptMicros = firstAccept == Long.MAX_VALUE ? 0 : firstAccept;
        r.lastAcceptMicros = lastAccept;
        r.errors.addAll(errorSamples);
        synchronized (anomalies) {
            r.anomalies.addAll(anomalies);
            anomalies.clear();
        }
        errorKinds.forEach((kind, n) -> r.errorKinds.put(kind, n.get()));
        return r;
    }

    static String errorCode(String body) {
        try {
            com.fasterxml.jackson.databind.JsonNode code = io.tokenpipe.common.event.Json.read(body,
                    com.fasterxml.jackson.databind.JsonNode.class).path("error").path("code");
            return code.isMissingNode() ? "unknown" : code.asText();
        } catch (RuntimeException e) {
            return "unknown";
        }
    }

    private static long clamp(long micros) {
        return Math.max(0, Math.min(HIGHEST_MICROS, micros));
    }

    /** Sessions to compare with a follow=false replay: every dropped one, and a sample of the others. */
    List<Client> replaySample(int others) {
        List<Client> out = new ArrayList<>();
        int taken = 0;
        for (Client c : clients) {
            if (c.sessionId == null || !c.completed) {
                continue;
            }
            if (c.dropAfterIndex > 0) {
                out.add(c);
            } else if (taken < others) {
                out.add(c);
                taken++;
            }
        }
        return out;
    }

    String prompt(int n) {
        return "benchmark prompt " + n + ": tell me a long story";
    }

    long seedOf(int n) {
        return w.seed() * 1_000_003L + n;
    }

    /** One simulated user: a session, its event stream, one turn. */
    final class Client implements SseListener, WsSubscriber {
        final int n;
        final ClientLoop loop;
        final LoopStats stats;
        final int dropAfterIndex;

        final AtomicInteger createAttempts = new AtomicInteger();
        final AtomicInteger submitAttempts = new AtomicInteger();
        volatile String sessionId;
        volatile String turnId;
        volatile long submitMicros;
        volatile long acceptedMicros;
        volatile long streamRequestMicros;

        // Loop thread only (published to the collector by barrier()).
        private EventStream current;
        private int node; // index into streamAddresses: where this client's stream is opened
        private long lastTokenMicros;
        long longestTokenGapMicros;
        private boolean submitted;
        private boolean dropped;
        private boolean awaitingResumeFirst;
        private long reconnectRequestMicros;
        private int reconnects;
        long retryMicros;
        long firstTokenMicros;
        long completedMicros;
        long resumeLatencyMicros = -1;
        boolean completed;
        private boolean finishedCounted;
        private String failure;
        private long[] ids = new long[16];
        private int[] indexes = new int[16];
        private String[] turnIds = new String[16];
        private int count;
        private long maxId = -1;
        private int maxIndex = -1;
        private final StringBuilder text = new StringBuilder();
        private int tokens;
        private short[] conns = new short[16];
        private int connection;
        private final List<String> connectionLog = new ArrayList<>();

        Client(int n, ClientLoop loop, int dropAfterIndex) {
            this.n = n;
            this.loop = loop;
            this.stats = loopStats.get(loop);
            this.dropAfterIndex = dropAfterIndex;
            this.node = n % streamAddresses.size();
        }

        void start() {
            api.createSession().whenComplete((response, error) -> {
                if (error != null && createAttempts.incrementAndGet() <= 3) {
                    // The connection broke before an answer: try again, as a browser would.
                    error("io_retry_create", "POST /v1/sessions: " + error);
                    httpRetries.incrementAndGet();
                    scheduler.schedule(this::start, 200, TimeUnit.MILLISECONDS);
                } else if (error != null) {
                    fail("create_session", "POST /v1/sessions: " + error);
                } else if (response.statusCode() == 201) {
                    sessionId = Api.field(response.body(), "session_id");
                    created.incrementAndGet();
                    loop.execute(() -> openStream(null, false));
                } else if (response.statusCode() == 503 && createAttempts.incrementAndGet() <= 10) {
                    httpRetries.incrementAndGet();
                    error("http_503_create_" + errorCode(response.body()), "POST /v1/sessions: 503 " + response.body());
                    scheduler.schedule(this::start, 1, TimeUnit.SECONDS);
                } else {
                    fail("create_session", "POST /v1/sessions: " + response.statusCode() + " " + response.body());
                }
            });
        }

        private void openStream(String lastEventId, boolean plannedResume) {
            if (closing || finishedCounted && !completed) {
                return;
            }
            long now = ClientLoop.nowMicros();
            if (lastEventId == null && streamRequestMicros == 0) {
                streamRequestMicros = now;
            }
            if (plannedResume) {
                reconnectRequestMicros = now;
                awaitingResumeFirst = true;
            }
            connection++;
            connectionLog.add("connection " + connection + " to " + streamAddresses.get(node).getPort() + ": Last-Event-ID " + lastEventId
                    + (plannedResume ? " (planned drop)" : lastEventId == null && connection == 1 ? " (first)" : " (reconnect)"));
            if (ws != null) {
                current = ws.subscribe(n, loop, sessionId, lastEventId, this);
            } else {
                SseConnection sse = new SseConnection(loop, streamAddresses.get(node), "/v1/sessions/" + sessionId + "/events",
                        lastEventId, this, null);
                current = sse;
                sse.connectNow();
            }
        }

        void closeStream() {
            if (current != null && current.isOpen()) {
                current.close();
            }
        }

        private void submit() {
            submitMicros = ClientLoop.nowMicros();
            String body = Api.turnBody(prompt(n), seedOf(n), w.tokens(), w.rate(), w.ttftMs());
            api.submitTurn(sessionId, body, "bench-" + w.label() + "-" + n).whenComplete((response, error) -> {
                long now = ClientLoop.nowMicros();
                if (error != null && submitAttempts.incrementAndGet() <= 3) {
                    // The connection broke before an answer: retry with the same Idempotency-Key, which
                    // the API promises never starts a second turn.
                    error("io_retry_turn", "POST turns: " + error);
                    httpRetries.incrementAndGet();
                    scheduler.schedule(() -> loop.execute(this::submit), 200, TimeUnit.MILLISECONDS);
                } else if (error != null) {
                    loop.execute(() -> fail("submit_turn", "POST turns: " + error));
                } else if (response.statusCode() == 202) {
                    acceptedMicros = now;
                    turnId = Api.field(response.body(), "turn_id");
                    accepted.incrementAndGet();
                } else if (response.statusCode() == 503 && submitAttempts.incrementAndGet() <= 10) {
                    httpRetries.incrementAndGet();
                    error("http_503_turn_" + errorCode(response.body()), "POST turns: 503 " + response.body());
                    scheduler.schedule(() -> loop.execute(this::submit), 1, TimeUnit.SECONDS);
                } else {
                    loop.execute(() -> fail("submit_turn", "POST turns: " + response.statusCode() + " " + response.body()));
                }
            });
        }

        @Override
        public void onRetry(SseConnection connection, long millis, long receivedMicros) {
            opened(connection, receivedMicros);
        }

        @Override
        public void onSubscribed(WsSubscription subscription, long receivedMicros) {
            opened(subscription, receivedMicros);
        }

        /** The stream is open (SSE: its retry field; WebSocket: the subscribe ack): time to submit the turn. */
        private void opened(EventStream connection, long receivedMicros) {
            if (connection != current) {
                return;
            }
            if (retryMicros == 0) {
                retryMicros = receivedMicros;
            }
            if (!submitted) {
                submitted = true;
                submit();
            }
        }

        @Override
        public void onComment(SseConnection connection) {
            stats.heartbeats++;
        }

        @Override
        public void onEvent(SseConnection connection, String id, String type, byte[] data, int dataLength,
                            long receivedMicros) {
            event(connection, id, type, data, dataLength, receivedMicros);
        }

        @Override
        public void onEvent(WsSubscription subscription, String id, String type, byte[] data, int dataLength,
                            long receivedMicros) {
            event(subscription, id, type, data, dataLength, receivedMicros);
        }

        private void event(EventStream connection, String id, String type, byte[] data, int dataLength,
                           long receivedMicros) {
            if (connection != current) {
                return;
            }
            stats.events++;
            long offset;
            EventData e;
            try {
                offset = Long.parseLong(id);
                e = EventData.parse(data, dataLength);
            } catch (RuntimeException ex) {
                fail("bad_event", "session " + sessionId + ": unreadable event id=" + id + ": " + ex.getMessage());
                return;
            }
            if (awaitingResumeFirst) {
                awaitingResumeFirst = false;
                resumeLatencyMicros = receivedMicros - reconnectRequestMicros;
            }
            record(offset, e.index, e.turnId);
            boolean fresh = offset > maxId && e.index > maxIndex;
            maxId = Math.max(maxId, offset);
            maxIndex = Math.max(maxIndex, e.index);
            switch (type) {
                case "token" -> {
                    if (fresh) {
                        tokens++;
                        text.append(e.text);
                        if (lastTokenMicros > 0) {
                            longestTokenGapMicros = Math.max(longestTokenGapMicros, receivedMicros - lastTokenMicros);
                        }
                        lastTokenMicros = receivedMicros;
                    }
                    if (firstTokenMicros == 0) {
                        firstTokenMicros = receivedMicros;
                    }
                    // Live chunks only: after a reconnect, what was produced while the client was away
                    // measures the resume, not delivery.
                    if (reconnectRequestMicros == 0 || e.producedMicros >= reconnectRequestMicros) {
                        long latency = receivedMicros - e.producedMicros;
                        if (latency < 0) {
                            stats.negative++;
                        }
                        stats.chunkLatency.recordValue(clamp(latency));
                    }
                    stats.chunks++;
                    KafkaProbe p = probe;
                    if (p != null) {
                        p.received(sessionId, offset, receivedMicros);
                    }
                    int second = (int) ((receivedMicros - startMicros) / 1_000_000);
                    if (second >= 0 && second < stats.perSecond.length) {
                        stats.perSecond[second]++;
                    }
                    if (dropAfterIndex > 0 && !dropped && e.index >= dropAfterIndex) {
                        dropped = true;
                        connection.close();
                        scheduler.schedule(() -> loop.execute(() -> openStream(Long.toString(maxId), true)),
                                w.dropPauseMs(), TimeUnit.MILLISECONDS);
                    }
                }
                case "turn.completed" -> {
                    if (!completed) {
                        completed = true;
                        completedMicros = receivedMicros;
                        completed();
                    }
                }
                case "turn.failed" -> fail("turn_failed", "session " + sessionId + ": turn.failed "
                        + new String(data, 0, dataLength, java.nio.charset.StandardCharsets.UTF_8));
                default -> {
                }
            }
        }

        private void record(long offset, int index, String eventTurnId) {
            if (count == ids.length) {
                ids = Arrays.copyOf(ids, count * 2);
                indexes = Arrays.copyOf(indexes, count * 2);
                turnIds = Arrays.copyOf(turnIds, count * 2);
                conns = Arrays.copyOf(conns, count * 2);
            }
            ids[count] = offset;
            indexes[count] = index;
            turnIds[count] = eventTurnId;
            conns[count] = (short) connection;
            count++;
        }

        @Override
        public void onClosed(SseConnection connection, boolean endOfResponse, Throwable error, int status, String body,
                             boolean byUs) {
            closed(connection, error, status, body, byUs);
        }

        @Override
        public void onClosed(WsSubscription subscription, int status, String body, Throwable error) {
            closed(subscription, error, status, body, false);
        }

        private void closed(EventStream connection, Throwable error, int status, String body, boolean byUs) {
            if (connection != current || byUs || closing) {
                return;
            }
            if (status != 0 && status != 200 && status != 503) {
                fail("events_http_" + status, "GET events of " + sessionId + ": " + status + " " + body);
                return;
            }
            // The server ended the stream, refused it for now (503), or the connection broke: reconnect
            // after the retry delay, as EventSource does, from the last event received.
            if (status == 503) {
                httpRetries.incrementAndGet();
                error("http_503_events_" + errorCode(body), "GET events of " + sessionId + ": 503 " + body);
                connectionLog.add("connection " + connection + ": 503 " + body);
            } else {
                unexpectedDisconnects.incrementAndGet();
                // The node may be gone: go to the next one, as a load balancer would.
                node = (node + 1) % streamAddresses.size();
                String why = error == null ? "end of response" : error.toString();
                error("disconnect_" + (error == null ? "end_of_response" : error.getClass().getSimpleName()),
                        "stream of " + sessionId + " ended unexpectedly after " + count + " events: " + why);
                connectionLog.add("connection " + connection + ": ended unexpectedly (" + why + ")");
            }
            if (++reconnects > 30) {
                fail("disconnect", "stream of " + sessionId + " broke more than 30 times");
                return;
            }
            String last = maxId >= 0 ? Long.toString(maxId) : null;
            scheduler.schedule(() -> loop.execute(() -> openStream(last, false)), 1, TimeUnit.SECONDS);
        }

        private void completed() {
            if (!finishedCounted) {
                finishedCounted = true;
                LoadRun.this.completed.incrementAndGet();
                finished.countDown();
            }
        }

        private void fail(String kind, String message) {
            error(kind, message);
            if (failure == null) {
                failure = message;
            }
            if (!finishedCounted) {
                finishedCounted = true;
                failed.incrementAndGet();
                finished.countDown();
            }
        }

        /** Adds this client's faults to the counters (after the run). */
        void verify(Correctness k) {
            long before = k.lost + k.duplicated + k.reordered + k.textMismatch + k.incomplete + k.failedSessions + k.foreignEvents;
            verifyCounts(k);
            long after = k.lost + k.duplicated + k.reordered + k.textMismatch + k.incomplete + k.failedSessions + k.foreignEvents;
            if (after > before) {
                anomaly(null);
            }
        }

        /** Records what this session's connections delivered (and, if known, what the log holds) for the report. */
        void anomaly(List<long[]> replay) {
            StringBuilder s = new StringBuilder();
            s.append("session ").append(sessionId).append(" (client ").append(n).append(", turn ").append(turnId)
                    .append("): ").append(tokens).append(" of ").append(w.tokens()).append(" tokens, completed=")
                    .append(completed).append(failure == null ? "" : ", failure: " + failure).append('\n');
            for (String c : connectionLog) {
                s.append("  ").append(c).append('\n');
            }
            s.append("  received: ").append(runs(ids, indexes, conns, count)).append('\n');
            if (replay != null) {
                long[] rid = new long[replay.size()];
                int[] rix = new int[replay.size()];
                for (int i = 0; i < rid.length; i++) {
                    rid[i] = replay.get(i)[0];
                    rix[i] = (int) replay.get(i)[1];
                }
                s.append("  follow=false replay: ").append(runs(rid, rix, null, rid.length)).append('\n');
            }
            synchronized (anomalies) {
                anomalies.add(s.toString());
            }
        }

        private void verifyCounts(Correctness k) {
            int expectedEvents = w.tokens() + 2; // turn.started, the tokens, turn.completed
            boolean accepted = acceptedMicros > 0;
            if (failure != null) {
                k.failedSessions++;
            }
            if (accepted && !completed) {
                k.incomplete++;
            }
            BitSet seenIndexes = new BitSet();
            java.util.HashSet<Long> seenIds = new java.util.HashSet<>();
            long maxSeenId = -1;
            int maxSeenIndex = -1;
            for (int i = 0; i < count; i++) {
                boolean dupId = !seenIds.add(ids[i]);
                boolean dupIndex = indexes[i] >= 0 && seenIndexes.get(indexes[i]);
                if (dupId || dupIndex) {
                    k.duplicated++;
                } else if (ids[i] < maxSeenId || indexes[i] < maxSeenIndex) {
                    k.reordered++;
                }
                if (indexes[i] >= 0) {
                    seenIndexes.set(indexes[i]);
                }
                maxSeenId = Math.max(maxSeenId, ids[i]);
                maxSeenIndex = Math.max(maxSeenIndex, indexes[i]);
                if (turnId != null && turnIds[i] != null && !turnId.equals(turnIds[i])) {
                    k.foreignEvents++;
                }
            }
            if (accepted) {
                // Only an accepted turn has chunks that can be lost; a session whose POST failed is counted
                // as failed (availability), not as lost chunks.
                k.lost += Math.max(0, expectedEvents - seenIndexes.cardinality());
            }
            if (completed) {
                String expected = Expected.text(prompt(n), seedOf(n), w.tokens());
                if (tokens != w.tokens() || !expected.contentEquals(text)) {
                    k.textMismatch++;
                    if (errorSamples.size() < 20) {
                        errorSamples.add("session " + sessionId + ": text differs from the model's (" + tokens
                                + " tokens received, " + w.tokens() + " expected)");
                    }
                }
            }
        }

        /** The (id, index) pairs received, in order. */
        List<long[]> received() {
            List<long[]> out = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                out.add(new long[] {ids[i], indexes[i]});
            }
            return out;
        }
    }

    /** Consecutive events as runs: "idx 0..36 ids 5176..5250 [c1]". */
    static String runs(long[] ids, int[] indexes, short[] conns, int count) {
        StringBuilder s = new StringBuilder();
        int i = 0;
        while (i < count) {
            int j = i;
            while (j + 1 < count && indexes[j + 1] == indexes[j] + 1 && ids[j + 1] > ids[j]
                    && (conns == null || conns[j + 1] == conns[i])) {
                j++;
            }
            if (!s.isEmpty()) {
                s.append(", ");
            }
            s.append("idx ").append(indexes[i]).append("..").append(indexes[j]).append(" ids ").append(ids[i]).append("..")
                    .append(ids[j]);
            if (conns != null) {
                s.append(" [c").append(conns[i]).append(']');
            }
            i = j + 1;
        }
        return s.isEmpty() ? "nothing" : s.toString();
    }

    /** Compares what sampled clients received with a follow=false replay of their session. */
    void verifyAgainstReplay(int others, Result result) throws InterruptedException {
        Correctness k = result.correctness;
        try {
            verifyAgainstReplay(others, result, k);
        } finally {
            synchronized (anomalies) {
                result.anomalies.addAll(anomalies);
                anomalies.clear();
            }
        }
    }

    private void verifyAgainstReplay(int others, Result result, Correctness k) throws InterruptedException {
        List<Client> sample = replaySample(others);
        for (int from = 0; from < sample.size(); from += 20) {
            List<Client> batch = sample.subList(from, Math.min(sample.size(), from + 20));
            List<CompletableFuture<Replays.Outcome>> futures = new ArrayList<>();
            for (Client c : batch) {
                futures.add(Replays.fetch(loops.getFirst(), address, c.sessionId, false));
            }
            for (int i = 0; i < batch.size(); i++) {
                Replays.Outcome o;
                try {
                    o = futures.get(i).get(60, TimeUnit.SECONDS);
                    // A replay the server refused for now (503 while a restarted node's index joins) or a
                    // broken connection is asked again, as a client would, on the next node.
                    for (int attempt = 1; (o.status != 200 || o.error() != null) && attempt <= 10; attempt++) {
                        addError(result, "replay_retry", "replay of " + batch.get(i).sessionId + ": " + o.status + " "
                                + o.error());
                        Thread.sleep(1_000);
                        o = Replays.fetch(loops.getFirst(), streamAddresses.get(attempt % streamAddresses.size()),
                                batch.get(i).sessionId, false).get(60, TimeUnit.SECONDS);
                    }
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    k.replayMismatch++;
                    addError(result, "replay_check", "replay of " + batch.get(i).sessionId + " failed: " + e);
                    continue;
                }
                if (o.status != 200 || o.error() != null) {
                    k.replayMismatch++;
                    addError(result, "replay_check", "replay of " + batch.get(i).sessionId + " failed 11 times: "
                            + o.status + " " + o.error());
                    continue;
                }
                k.replayChecked++;
                List<long[]> got = batch.get(i).received();
                List<long[]> want = o.idsAndIndexes();
                boolean same = got.size() == want.size();
                for (int j = 0; same && j < got.size(); j++) {
                    same = got.get(j)[0] == want.get(j)[0] && got.get(j)[1] == want.get(j)[1];
                }
                if (!same) {
                    batch.get(i).anomaly(want);
                    k.replayMismatch++;
                    addError(result, "replay_mismatch", "session " + batch.get(i).sessionId + ": received "
                            + got.size() + " events, the log holds " + want.size() + " (or they differ)");
                }
            }
        }
    }

    private static void addError(Result r, String kind, String message) {
        r.errorKinds.merge(kind, 1L, Long::sum);
        if (r.errors.size() < 20) {
            r.errors.add(message);
        }
    }
}
