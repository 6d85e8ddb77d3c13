package io.tokenpipe.common.event;

import java.time.Instant;

/**
 * The turn ended normally.
 *
 * @param finishReason {@code stop} (natural end or stop sequence), {@code length} (max tokens) or {@code cancelled}
 */
public record TurnCompleted(
        int v,
        String sessionId,
        String turnId,
        int index,
        int attempt,
        Instant producedAt,
        String finishReason,
        Usage usage) implements StreamEvent {

    public static final String TYPE = "turn.completed";

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public boolean terminal() {
        return true;
    }
}
