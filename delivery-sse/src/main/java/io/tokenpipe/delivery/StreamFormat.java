package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SseFrames;

import java.io.IOException;
import java.io.OutputStream;

/**
 * What a {@link SseStream} writes for the session's events, and when it has said all it will. The
 * stream decides which events are new to the client (by offset); the format decides how they look.
 * tokenpipe's own format writes every event as stored; the OpenAI format ({@link ChatChunkFormat})
 * writes one turn's events as {@code chat.completion.chunk}s and ends after that turn.
 */
interface StreamFormat {

    /** Written once when the stream begins; empty for none. */
    byte[] preamble();

    /** Written when the stream has been idle for the heartbeat interval; {@code null} for none. */
    byte[] heartbeat();

    /** Writes what the client sees of {@code event} (possibly nothing); true if anything was written. */
    boolean write(LogEvent event, OutputStream out) throws IOException;

    /** True once the format has written its last bytes: the stream then ends. */
    boolean finished();

    /** tokenpipe's own: every event as {@code id}/{@code event}/{@code data} exactly as stored; never finished. */
    static StreamFormat nativeEvents(long retryMillis) {
        byte[] retry = SseFrames.retry(retryMillis);
        return new StreamFormat() {
            @Override
            public byte[] preamble() {
                return retry;
            }

            @Override
            public byte[] heartbeat() {
                return SseFrames.HEARTBEAT;
            }

            @Override
            public boolean write(LogEvent event, OutputStream out) throws IOException {
                out.write(event.sseFrame());
                return true;
            }

            @Override
            public boolean finished() {
                return false;
            }
        };
    }
}
