package io.tokenpipe.common.event;

import java.time.Instant;

/**
 * Generation of a turn continues under a new attempt after the previous one stopped part-way
 * (its worker died or its upstream connection broke). Events before this one stay valid: the
 * new attempt continues after the last published chunk, so no text is repeated.
 *
 * @param reason         why: {@code worker_takeover} or {@code upstream_retry}
 * @param workerId       the worker now generating the turn
 * @param publishedText  length in characters of the answer text already published before this event
 */
public record TurnResumed(
        int v,
        String sessionId,
        String turnId,
        int index,
        int attempt,
        Instant producedAt,
        String reason,
        String workerId,
        int publishedText) implements StreamEvent {

    public static final String TYPE = "turn.resumed";
    public static final String REASON_WORKER_TAKEOVER = "worker_takeover";
    public static final String REASON_UPSTREAM_RETRY = "upstream_retry";

    @Override
    public String type() {
        return TYPE;
    }
}
