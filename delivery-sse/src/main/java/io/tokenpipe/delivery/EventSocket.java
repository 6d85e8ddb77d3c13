package io.tokenpipe.delivery;

import io.javalin.websocket.WsContext;
import io.tokenpipe.common.auth.Principal;
import org.eclipse.jetty.websocket.api.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One client's WebSocket: who it is, which sessions it follows, and its one writer. Frames go out one
 * at a time, each waited for, so a socket buffers at most one frame beyond its subscriptions' bounded
 * live queues; a slow socket makes those queues overflow, and each subscription then catches up from
 * the log (as a slow SSE client does) instead of the node buffering without bound.
 */
final class EventSocket {

    private static final Logger log = LoggerFactory.getLogger(EventSocket.class);
    /** A socket that cannot take one frame in this long is gone (the same bound as Jetty's default idle timeout). */
    static final Duration WRITE_TIMEOUT = Duration.ofSeconds(30);

    /** A session followed on this socket: its stream, and whether the client asked to stop it. */
    static final class Subscribed {
        volatile SseEndpoint.Started started;
        volatile boolean unsubscribing;
    }

    private final WsContext ctx;
    private final Principal principal;
    // Not synchronized: subscription streams run on virtual threads, which must not pin a carrier while they wait.
    private final ReentrantLock writing = new ReentrantLock();
    private final Map<String, Subscribed> subscriptions = new ConcurrentHashMap<>();
    private volatile boolean closed;

    EventSocket(WsContext ctx, Principal principal) {
        this.ctx = ctx;
        this.principal = principal;
    }

    Principal principal() {
        return principal;
    }

    Map<String, Subscribed> subscriptions() {
        return subscriptions;
    }

    boolean closed() {
        return closed;
    }

    /** Sends one text frame and waits until the socket took it; an {@link IOException} means the socket is gone. */
    void send(String frame) throws IOException {
        try {
            writing.lockInterruptibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("ended while waiting to write");
        }
        try {
            if (closed) {
                throw new IOException("socket closed");
            }
            Callback.Completable sent = new Callback.Completable();
            ctx.session.sendText(frame, sent);
            sent.get(WRITE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("ended while writing");
        } catch (ExecutionException e) {
            throw new IOException("socket write failed", e.getCause());
        } catch (TimeoutException e) {
            close(1008, "too slow: took no frame in " + WRITE_TIMEOUT.toSeconds() + " s");
            throw new IOException("socket took no frame in " + WRITE_TIMEOUT);
        } finally {
            writing.unlock();
        }
    }

    /** Sends a reply; a socket already gone needs none. */
    void reply(String frame) {
        try {
            send(frame);
        } catch (IOException e) {
            log.debug("reply not sent, socket gone: {}", e.toString());
        }
    }

    /** Closes the socket with a status the client can act on (1012: reconnect and resubscribe). */
    void close(int status, String reason) {
        if (!closed) {
            closed = true;
            ctx.closeSession(status, reason);
        }
    }

    /** The client closed the socket (or it failed): ends every subscription. */
    void onClosed() {
        closed = true;
        subscriptions.values().forEach(s -> {
            s.unsubscribing = true;
            SseEndpoint.Started started = s.started;
            if (started != null) {
                started.stream().end();
            }
        });
    }
}
