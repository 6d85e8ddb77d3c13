package io.tokenpipe.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Reading a session's history: {@code ?follow=false} replays (for checking what clients received,
 * and for timing the replay of a long session), and following a stream until its turn completes.
 */
final class Replays {

    private Replays() {
    }

    /** One replayed (or followed) stream; the events' JSON is parsed only when asked, after the timing. */
    static final class Outcome {
        final int status;
        final long requestMicros;
        final long firstEventMicros;
        final long lastEventMicros;
        final long endMicros;
        final List<String> types;
        final String error;
        private final List<long[]> ids;
        private final List<byte[]> data;
        private StringBuilder text;

        Outcome(int status, long requestMicros, long firstEventMicros, long lastEventMicros, long endMicros,
                List<long[]> ids, List<String> types, List<byte[]> data, String error) {
            this.status = status;
            this.requestMicros = requestMicros;
            this.firstEventMicros = firstEventMicros;
            this.lastEventMicros = lastEventMicros;
            this.endMicros = endMicros;
            this.ids = ids;
            this.types = types;
            this.data = data;
            this.error = error;
        }

        String error() {
            return error;
        }

        List<String> types() {
            return types;
        }

        double millisToLastEvent() {
            return (lastEventMicros - requestMicros) / 1000.0;
        }

        /** (id, index) of every event, in order. */
        List<long[]> idsAndIndexes() {
            parse();
            return ids;
        }

        StringBuilder text() {
            parse();
            return text;
        }

        private void parse() {
            if (text != null) {
                return;
            }
            text = new StringBuilder();
            for (int i = 0; i < data.size(); i++) {
                byte[] d = data.get(i);
                EventData e = EventData.parse(d, d.length);
                ids.get(i)[1] = e.index;
                if ("token".equals(types.get(i))) {
                    text.append(e.text);
                }
            }
        }
    }

    /**
     * GET the session's events. With {@code follow} false the future completes when the server ends
     * the response; with follow true, when a turn.completed or turn.failed arrives (the stream is then closed).
     */
    static CompletableFuture<Outcome> fetch(ClientLoop loop, InetSocketAddress address, String sessionId, boolean follow) {
        CompletableFuture<Outcome> result = new CompletableFuture<>();
        loop.execute(() -> {
            Collector collector = new Collector(result, follow);
            collector.requestMicros = ClientLoop.nowMicros();
            SseConnection c = new SseConnection(loop, address,
                    "/v1/sessions/" + sessionId + "/events" + (follow ? "" : "?follow=false"), null, collector, null);
            collector.connection = c;
            c.connectNow();
        });
        return result;
    }

    private static final class Collector implements SseListener {
        final CompletableFuture<Outcome> result;
        final boolean follow;
        SseConnection connection;
        long requestMicros;
        long firstEventMicros;
        long lastEventMicros;
        final List<long[]> ids = new ArrayList<>();
        final List<String> types = new ArrayList<>();
        final List<byte[]> data = new ArrayList<>();

        Collector(CompletableFuture<Outcome> result, boolean follow) {
            this.result = result;
            this.follow = follow;
        }

        @Override
        public void onEvent(SseConnection c, String id, String type, byte[] data, int length, long receivedMicros) {
            if (firstEventMicros == 0) {
                firstEventMicros = receivedMicros;
            }
            lastEventMicros = receivedMicros;
            // Only copied here: parsing waits until the timing is over.
            ids.add(new long[] {Long.parseLong(id), -1});
            types.add(type);
            this.data.add(java.util.Arrays.copyOf(data, length));
            if (follow && (type.equals("turn.completed") || type.equals("turn.failed"))) {
                result.complete(outcome(200, receivedMicros, null));
                c.close();
            }
        }

        @Override
        public void onClosed(SseConnection c, boolean endOfResponse, Throwable error, int status, String body, boolean byUs) {
            if (result.isDone() || byUs) {
                return;
            }
            long now = ClientLoop.nowMicros();
            if (status == 200 && endOfResponse && !follow) {
                result.complete(outcome(status, now, null));
            } else {
                result.complete(outcome(status, now, status != 200 ? "HTTP " + status + " " + body
                        : error != null ? error.toString() : "stream ended before its turn completed"));
            }
        }

        private Outcome outcome(int status, long end, String error) {
            return new Outcome(status, requestMicros, firstEventMicros, lastEventMicros, end, ids, types, data, error);
        }
    }

    /** The replay test's results. */
    record ReplayResult(int events, List<Double> millis, boolean correct, String problem, double generateMillis) {
        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("events", events);
            m.put("runs_ms", millis);
            m.put("first_ms", millis.isEmpty() ? null : millis.getFirst());
            m.put("median_ms", median());
            m.put("max_ms", max());
            m.put("correct", correct);
            m.put("problem", problem);
            m.put("session_written_in_ms", generateMillis);
            return m;
        }

        Double median() {
            if (millis.isEmpty()) {
                return null;
            }
            List<Double> sorted = millis.stream().sorted().toList();
            return sorted.get(sorted.size() / 2);
        }

        Double max() {
            return millis.stream().max(Double::compare).orElse(null);
        }
    }

    /**
     * Writes one session of exactly {@code events} events (turn.started, events-2 tokens as fast as
     * the model goes, turn.completed), then replays it {@code runs} times with follow=false, timing
     * each from the request to the last event, and checks each replay is the whole session in order.
     */
    static ReplayResult replayLongSession(Api api, ClientLoop loop, int events, int runs, long seed,
                                          Runnable beforeRuns, Runnable afterRuns)
            throws InterruptedException, IOException {
        int tokens = events - 2;
        String prompt = "replay benchmark: a very long answer";
        HttpResponse<String> created;
        try {
            created = api.createSession().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            return new ReplayResult(events, List.of(), false, "create session failed: " + e, 0);
        }
        if (created.statusCode() != 201) {
            return new ReplayResult(events, List.of(), false, "create session: " + created.statusCode(), 0);
        }
        String sessionId = Api.field(created.body(), "session_id");
        CompletableFuture<Outcome> live = fetch(loop, api.address(), sessionId, true);
        Thread.sleep(200); // let the stream open before the turn starts (it would catch up from the log anyway)
        long began = System.nanoTime();
        String body = Api.turnBody(prompt, seed, tokens, 1_000_000, 0);
        try {
            HttpResponse<String> r = api.submitTurn(sessionId, body, "bench-replay").get(60, TimeUnit.SECONDS);
            if (r.statusCode() != 202) {
                return new ReplayResult(events, List.of(), false, "submit turn: " + r.statusCode() + " " + r.body(), 0);
            }
            Outcome o = live.get(300, TimeUnit.SECONDS);
            if (o.error() != null) {
                return new ReplayResult(events, List.of(), false, "following the session: " + o.error(), 0);
            }
        } catch (Exception e) {
            return new ReplayResult(events, List.of(), false, "writing the session failed: " + e, 0);
        }
        double generateMillis = (System.nanoTime() - began) / 1e6;
        String expected = Expected.text(prompt, seed, tokens);
        List<Double> millis = new ArrayList<>();
        String problem = null;
        Thread.sleep(500); // let the index and the log settle after the write
        beforeRuns.run();
        try {
            problem = timedRuns(api, loop, sessionId, events, runs, expected, millis);
        } finally {
            afterRuns.run();
        }
        return new ReplayResult(events, millis, problem == null && millis.size() == runs, problem, generateMillis);
    }

    private static String timedRuns(Api api, ClientLoop loop, String sessionId, int events, int runs, String expected,
                                    List<Double> millis) throws InterruptedException {
        String problem = null;
        for (int i = 0; i < runs; i++) {
            Outcome o;
            try {
                o = fetch(loop, api.address(), sessionId, false).get(300, TimeUnit.SECONDS);
            } catch (Exception e) {
                problem = "replay failed: " + e;
                break;
            }
            if (o.error() != null) {
                problem = "replay failed: " + o.error();
                break;
            }
            millis.add(Math.round(o.millisToLastEvent() * 100) / 100.0);
            String p = check(o, events, expected);
            if (p != null && problem == null) {
                problem = "run " + (i + 1) + ": " + p;
            }
            Thread.sleep(100);
        }
        return problem;
    }

    private static String check(Outcome o, int events, String expected) {
        if (o.idsAndIndexes().size() != events) {
            return o.idsAndIndexes().size() + " events instead of " + events;
        }
        long lastId = -1;
        for (int i = 0; i < events; i++) {
            long[] e = o.idsAndIndexes().get(i);
            if (e[0] <= lastId) {
                return "ids not increasing at event " + i;
            }
            if (e[1] != i) {
                return "index " + e[1] + " at position " + i;
            }
            lastId = e[0];
        }
        if (!expected.contentEquals(o.text())) {
            return "text differs from the model's";
        }
        if (!o.types().getFirst().equals("turn.started") || !o.types().getLast().equals("turn.completed")) {
            return "does not run from turn.started to turn.completed";
        }
        return null;
    }
}
