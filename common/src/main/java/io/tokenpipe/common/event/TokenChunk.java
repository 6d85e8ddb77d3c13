package io.tokenpipe.common.event;

import java.time.Instant;

/** A piece of the answer's text, in order. */
public record TokenChunk(
        int v,
        String sessionId,
        String turnId,
        int index,
        int attempt,
        Instant producedAt,
        String text) implements StreamEvent {

    public static final String TYPE = "token";

    @Override
    public String type() {
        return TYPE;
    }
}
