package io.tokenpipe.common.event;

import java.time.Instant;

/** The turn ended without a complete answer; the text published before it stays as it was. */
public record TurnFailed(
        int v,
        String sessionId,
        String turnId,
        int index,
        int attempt,
        Instant producedAt,
        ErrorInfo error) implements StreamEvent {

    public static final String TYPE = "turn.failed";

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public boolean terminal() {
        return true;
    }
}
