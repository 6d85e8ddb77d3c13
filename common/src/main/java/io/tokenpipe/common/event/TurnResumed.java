package io.tokenpipe.common.event;

import java.time.Instant;

/**
 * Generation of a turn continues under a new attempt after the previous one stopped part-way
 * (its worker died or its upstream connection broke).
 *
 * @param reason        why: {@code worker_takeover} or {@code upstream_retry}
 * @param workerId      the worker now generating the turn
 * @param publishedText length in characters of the answer text published before this event
 * @param restart       {@code false}: the text so far stays and the new attempt continues after it,
 *                      repeating nothing. {@code true}: the backend cannot continue a partial answer,
 *                      so the answer starts over: clients discard the turn's text received so far.
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
        int publishedText,
        boolean restart) implements StreamEvent {

    public static final String TYPE = "turn.resumed";
    public static final String REASON_WORKER_TAKEOVER = "worker_takeover";
    public static final String REASON_UPSTREAM_RETRY = "upstream_retry";

    @Override
    public String type() {
        return TYPE;
    }
}
