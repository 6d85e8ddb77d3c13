package io.tokenpipe.common.event;

import java.time.Instant;

/** A client asked to stop a turn; on the control topic, which every worker reads in full. */
public record TurnCancelRequested(int v, String sessionId, String turnId, Instant requestedAt) {

    public static final String TYPE = "turn.cancel_requested";
    public static final int VERSION = 1;
}
