package io.tokenpipe.common.event;

import java.time.Instant;

/**
 * A piece of a reasoning model's thinking (upstream {@code delta.reasoning_content} or {@code delta.reasoning}),
 * in order, between the turn's other events. Not part of the answer: it is neither in the answer text nor
 * counted as a token, and a continuation does not send it back upstream.
 */
public record ReasoningChunk(
        int v,
        String sessionId,
        String turnId,
        int index,
        int attempt,
        Instant producedAt,
        String text) implements StreamEvent {

    public static final String TYPE = "reasoning";

    @Override
    public String type() {
        return TYPE;
    }
}
