package io.tokenpipe.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.LongAdder;

/**
 * The benchmark's clients over WebSocket: client {@code n} follows its session on socket
 * {@code n / sessionsPerSocket}, as a page following several chats would. A socket that closed is
 * replaced when one of its clients subscribes again (each resumes from its own last event id).
 */
final class WsTransport implements AutoCloseable {

    private final HttpClient http = HttpClient.newHttpClient();
    private final URI uri;
    private final int sessionsPerSocket;
    private final ScheduledExecutorService scheduler;
    private final WsSocket[] sockets;
    private final LongAdder bytes = new LongAdder();

    WsTransport(URI base, int sessions, int sessionsPerSocket, ScheduledExecutorService scheduler) {
        this.uri = URI.create(base.toString().replaceFirst("^http", "ws")).resolve("/v1/ws");
        this.sessionsPerSocket = sessionsPerSocket;
        this.scheduler = scheduler;
        this.sockets = new WsSocket[(sessions + sessionsPerSocket - 1) / sessionsPerSocket];
    }

    /** The socket group of client {@code n}: all its clients must live on one loop. */
    int group(int n) {
        return n / sessionsPerSocket;
    }

    /** On the loop thread of the client's group. */
    WsSubscription subscribe(int n, ClientLoop loop, String sessionId, String lastEventId, WsSubscriber subscriber) {
        int g = group(n);
        WsSocket socket;
        synchronized (sockets) {
            socket = sockets[g];
            if (socket == null || socket.isClosed()) {
                socket = new WsSocket(http, uri, loop, scheduler, bytes);
                sockets[g] = socket;
            }
        }
        return socket.subscribe(sessionId, lastEventId, subscriber);
    }

    /** Characters of every frame received. */
    long bytesRead() {
        return bytes.sum();
    }

    @Override
    public void close() {
        synchronized (sockets) {
            for (WsSocket socket : sockets) {
                if (socket != null) {
                    socket.abort();
                }
            }
        }
        http.shutdownNow();
    }
}
