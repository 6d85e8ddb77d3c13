package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * One WebSocket to {@code /v1/ws} carrying many sessions' streams (docs/events.md, "WebSocket"), on
 * the JDK's client. Each frame is stamped as it arrives and handed to the owning {@link ClientLoop}'s
 * thread, where the subscriptions live, so a client sees the same single-threaded calls as over SSE.
 */
final class WsSocket implements WebSocket.Listener {

    private static final String EVENT_PREFIX = "{\"type\":\"event\",\"session_id\":\"";

    private final ClientLoop loop;
    private final ScheduledExecutorService scheduler;
    private final LongAdder bytes;
    /** Loop thread only. */
    private final Map<String, WsSubscription> subscriptions = new HashMap<>();
    private boolean closed;
    // The JDK client allows one send in flight: later frames wait here (guarded by this).
    private final ArrayDeque<String> outbox = new ArrayDeque<>();
    private boolean sending = true; // until onOpen
    private volatile WebSocket webSocket;
    /** Listener thread only: a text message arriving in parts. */
    private final StringBuilder partial = new StringBuilder();

    WsSocket(HttpClient http, URI uri, ClientLoop loop, ScheduledExecutorService scheduler, LongAdder bytes) {
        this.loop = loop;
        this.scheduler = scheduler;
        this.bytes = bytes;
        http.newWebSocketBuilder()
                .header("Authorization", BenchKey.authorization())
                .connectTimeout(Duration.ofSeconds(30))
                .buildAsync(uri, this)
                .whenComplete((ws, error) -> {
                    if (error != null) {
                        loop.execute(() -> closedNow(error));
                    }
                });
    }

    boolean isClosed() {
        return closed;
    }

    /** Follows a session from {@code lastEventId} (null: from the beginning). Loop thread. */
    WsSubscription subscribe(String sessionId, String lastEventId, WsSubscriber subscriber) {
        WsSubscription s = new WsSubscription(this, sessionId, lastEventId, subscriber);
        if (closed) {
            loop.execute(() -> s.ended(0, "", new IOException("socket closed")));
            return s;
        }
        subscriptions.put(sessionId, s);
        sendSubscribe(s);
        return s;
    }

    private void sendSubscribe(WsSubscription s) {
        send("{\"type\":\"subscribe\",\"session_id\":\"" + s.sessionId + "\""
                + (s.lastEventId == null ? "" : ",\"last_event_id\":\"" + s.lastEventId + "\"") + "}");
    }

    void unsubscribe(WsSubscription s) {
        if (subscriptions.remove(s.sessionId, s) && !closed) {
            send("{\"type\":\"unsubscribe\",\"session_id\":\"" + s.sessionId + "\"}");
        }
    }

    /** Drops the connection (the end of a run). */
    void abort() {
        WebSocket ws = webSocket;
        if (ws != null) {
            ws.abort();
        }
        loop.execute(() -> closedNow(new IOException("aborted")));
    }

    // ---- sending (any thread) ----------------------------------------------

    private void send(String frame) {
        synchronized (this) {
            if (sending) {
                outbox.add(frame);
                return;
            }
            sending = true;
        }
        transmit(frame);
    }

    private void transmit(String frame) {
        webSocket.sendText(frame, true).whenComplete((ws, error) -> {
            if (error != null) {
                loop.execute(() -> closedNow(error));
            } else {
                sendNext();
            }
        });
    }

    private void sendNext() {
        String next;
        synchronized (this) {
            next = outbox.poll();
            if (next == null) {
                sending = false;
                return;
            }
        }
        transmit(next);
    }

    // ---- receiving (the JDK client's thread) --------------------------------

    @Override
    public void onOpen(WebSocket ws) {
        webSocket = ws;
        ws.request(1);
        sendNext();
    }

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
        long receivedMicros = ClientLoop.nowMicros();
        if (!last) {
            partial.append(data);
        } else {
            String frame;
            if (partial.isEmpty()) {
                frame = data.toString();
            } else {
                frame = partial.append(data).toString();
                partial.setLength(0);
            }
            bytes.add(frame.length());
            loop.execute(() -> dispatch(frame, receivedMicros));
        }
        ws.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
        loop.execute(() -> closedNow(new IOException("socket closed by the server: " + statusCode + " " + reason)));
        return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
        loop.execute(() -> closedNow(error));
    }

    // ---- on the loop thread ------------------------------------------------

    private void closedNow(Throwable error) {
        if (closed) {
            return;
        }
        closed = true;
        List<WsSubscription> all = new ArrayList<>(subscriptions.values());
        subscriptions.clear();
        for (WsSubscription s : all) {
            s.ended(0, "", error);
        }
    }

    private void dispatch(String frame, long receivedMicros) {
        if (frame.startsWith(EVENT_PREFIX)) {
            event(frame, receivedMicros);
            return;
        }
        JsonNode f = Json.read(frame, JsonNode.class);
        String type = f.path("type").asText();
        String op = f.path("op").asText();
        WsSubscription s = subscriptions.get(f.path("session_id").asText());
        if (s == null || !"subscribe".equals(op)) {
            if ("error".equals(type) && !"unsubscribe".equals(op)) {
                System.err.println("bench: socket error frame: " + frame);
            }
            return; // an unsubscribe's ack, or an answer about a session we no longer follow
        }
        if ("ack".equals(type)) {
            s.acked = true;
            s.subscriber.onSubscribed(s, receivedMicros);
            return;
        }
        JsonNode error = f.path("error");
        if (error.path("status").asInt() == 409 && "already_subscribed".equals(error.path("code").asText())) {
            // Our unsubscribe of the previous subscription has not finished on the server yet.
            scheduler.schedule(() -> loop.execute(() -> {
                if (!closed && subscriptions.get(s.sessionId) == s) {
                    sendSubscribe(s);
                }
            }), 100, TimeUnit.MILLISECONDS);
            return;
        }
        subscriptions.remove(s.sessionId, s);
        s.ended(error.path("status").asInt(), frame, null);
    }

    /** {@code {"type":"event","session_id":"…","id":"…","event":"…","data":…}}, in the order the server writes it. */
    private void event(String frame, long receivedMicros) {
        int sessionEnd = frame.indexOf('"', EVENT_PREFIX.length());
        WsSubscription s = subscriptions.get(frame.substring(EVENT_PREFIX.length(), sessionEnd));
        if (s == null || !s.acked) {
            return; // from a subscription we ended, still draining before its successor's ack
        }
        int idStart = frame.indexOf("\"id\":\"", sessionEnd) + 6;
        int idEnd = frame.indexOf('"', idStart);
        int typeStart = frame.indexOf("\"event\":\"", idEnd) + 9;
        int typeEnd = frame.indexOf('"', typeStart);
        int dataStart = frame.indexOf("\"data\":", typeEnd) + 7;
        byte[] data = frame.substring(dataStart, frame.length() - 1).getBytes(StandardCharsets.UTF_8);
        s.subscriber.onEvent(s, frame.substring(idStart, idEnd), frame.substring(typeStart, typeEnd), data, data.length,
                receivedMicros);
    }
}
