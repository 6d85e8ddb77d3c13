package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SseFrames;

import java.io.IOException;
import java.io.OutputStream;

/** A stream's events as Server-Sent Events on an HTTP response; frames are built once per event per node. */
final class SseSink implements StreamSink {

    private final OutputStream out;

    SseSink(OutputStream out) {
        this.out = out;
    }

    @Override
    public void open(long retryMillis) throws IOException {
        out.write(SseFrames.retry(retryMillis));
        out.flush();
    }

    @Override
    public void event(LogEvent event) throws IOException {
        out.write(event.sseFrame());
    }

    @Override
    public void heartbeat() throws IOException {
        out.write(SseFrames.HEARTBEAT);
        out.flush();
    }

    @Override
    public void flush() throws IOException {
        out.flush();
    }
}
