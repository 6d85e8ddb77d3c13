package io.tokenpipe.delivery;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** A stream's events as Server-Sent Events on an HTTP response, in the bytes its {@link StreamFormat} makes of them. */
final class SseSink implements StreamSink {

    private final OutputStream out;

    SseSink(OutputStream out) {
        this.out = out;
    }

    @Override
    public void open(StreamFormat format) throws IOException {
        // Also commits the response headers (after the stream was registered, see SseEndpoint).
        out.write(format.preamble());
        out.flush();
    }

    @Override
    public boolean event(LogEvent event, StreamFormat format) throws IOException {
        return format.write(event, out);
    }

    @Override
    public void heartbeat(StreamFormat format) throws IOException {
        byte[] beat = format.heartbeat();
        if (beat != null) {
            out.write(beat);
            out.flush();
        }
    }

    /**
     * A {@code pace} event without an id: an EventSource keeps its last event id (the SSE spec), so a
     * resume still goes by the stream's own events.
     */
    @Override
    public void pace(Pacer.Mark mark) throws IOException {
        out.write(("event: pace\ndata: " + new String(Json.bytes(mark), StandardCharsets.UTF_8) + "\n\n")
                .getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void flush() throws IOException {
        out.flush();
    }
}
