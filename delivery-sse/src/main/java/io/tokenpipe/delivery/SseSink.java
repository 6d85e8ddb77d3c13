package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;
import java.io.OutputStream;

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

    @Override
    public void flush() throws IOException {
        out.flush();
    }
}
