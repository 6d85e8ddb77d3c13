package io.tokenpipe.worker.turn;

import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;

/**
 * How far a turn got, as its events in the log show: finished, or the index, attempt and text of its
 * last event. A new owner of a partition folds what the previous one left into these and continues
 * each unfinished turn right after its last event.
 */
public final class TurnProgress {

    private final String sessionId;
    private final long startedOffset;
    private int lastIndex;
    private int attempt;
    private int tokens;
    private boolean finished;
    private final StringBuilder text = new StringBuilder();

    /** @param startedOffset the offset of the turn.started event, or -1 when it lies before what was read */
    public TurnProgress(String sessionId, long startedOffset) {
        this.sessionId = sessionId;
        this.startedOffset = startedOffset;
    }

    /** The progress a turn's first event read shows. */
    public static TurnProgress first(StreamEvent event, long offset) {
        return new TurnProgress(event.sessionId(), event instanceof TurnStarted ? offset : -1);
    }

    /** Adds the turn's next event. */
    public void add(StreamEvent event) {
        lastIndex = Math.max(lastIndex, event.index());
        attempt = Math.max(attempt, event.attempt());
        if (event instanceof TurnResumed resumed && resumed.restart()) {
            tokens = 0;
            text.setLength(0); // the answer started over
        }
        if (event instanceof TokenChunk chunk) {
            tokens++;
            text.append(chunk.text());
        }
        if (event.terminal()) {
            finished = true;
        }
    }

    public String sessionId() {
        return sessionId;
    }

    public boolean finished() {
        return finished;
    }

    public int lastIndex() {
        return lastIndex;
    }

    public int attempt() {
        return attempt;
    }

    public int tokens() {
        return tokens;
    }

    public String text() {
        return text.toString();
    }

    public long startedOffset() {
        return startedOffset;
    }
}
