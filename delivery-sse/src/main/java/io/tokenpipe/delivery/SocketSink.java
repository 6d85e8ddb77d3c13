package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;

/**
 * One subscription's events as frames on its socket. The socket pings on its own (heartbeats are per
 * socket, not per session), and each frame is handed to the socket as it is written.
 */
final class SocketSink implements StreamSink {

    private final EventSocket socket;

    SocketSink(EventSocket socket) {
        this.socket = socket;
    }

    @Override
    public void open(long retryMillis) {
        // The subscribe ack went first; WebSocket clients choose their own reconnect delay.
    }

    @Override
    public void event(LogEvent event) throws IOException {
        socket.send(SocketFrames.event(event));
    }

    @Override
    public void heartbeat() {
        // The socket's pings keep it alive; a per-session heartbeat would only add frames.
    }

    @Override
    public void flush() {
        // Every frame was handed over as it was written.
    }
}
