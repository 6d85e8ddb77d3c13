package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;

/**
 * Where a {@link SseStream} writes a session's events: an SSE response ({@link SseSink}) or one
 * subscription on a WebSocket ({@link SocketSink}). The stream owns the order, gap and duplicate
 * rules and the slow-client catch-up; its {@link StreamFormat} says what bytes an event becomes on
 * an event-stream response (tokenpipe's frames, OpenAI chunks); a sink only frames and writes. An
 * {@link IOException} from any method means the client is gone and ends the stream.
 */
interface StreamSink {

    /** Before the first event. */
    void open(StreamFormat format) throws IOException;

    /** Writes one event (possibly buffered until {@link #flush()}); true if anything was written. */
    boolean event(LogEvent event, StreamFormat format) throws IOException;

    /** Nothing arrived for a heartbeat interval. */
    void heartbeat(StreamFormat format) throws IOException;

    /** Before an event of a paced replay: when it was due and why (SSE only; other sinks send nothing). */
    default void pace(Pacer.Mark mark) throws IOException {
    }

    /** Pushes what was written to the client. */
    void flush() throws IOException;
}
