package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;

/**
 * One subscription's events as frames on its socket. The socket pings on its own (heartbeats are per
 * socket, not per session), and each frame is handed to the socket as it is written.
 *
 * <p>A socket carries tokenpipe's own events only: each becomes an {@code event} frame with the
 * stored JSON, whatever the stream's format would make of it on an SSE response (subscriptions are
 * started with {@link StreamFormat#nativeEvents}, which shows every event and never finishes).
 */
final class SocketSink implements StreamSink {

    private final EventSocket socket;

    SocketSink(EventSocket socket) {
        this.socket = socket;
    }

    @Override
    public void open(StreamFormat format) {
        // The subscribe ack went first; WebSocket clients choose their own reconnect delay.
    }

    @Override
    public boolean event(LogEvent event, StreamFormat format) throws IOException {
        socket.send(SocketFrames.event(event));
        return true;
    }

    @Override
    public void heartbeat(StreamFormat format) {
        // The socket's pings keep it alive; a per-session heartbeat would only add frames.
    }

    @Override
    public void flush() {
        // Every frame was handed over as it was written.
    }
}
