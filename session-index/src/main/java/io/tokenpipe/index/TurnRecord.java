package io.tokenpipe.index;

import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.event.TurnStarted;

import java.time.Instant;

/**
 * What the index knows of one turn: where its prompt and its boundary events are in Kafka, and how it
 * ended. The index may learn of a turn from its prompt or from a mark, in either order, so any field
 * may be {@code null} until the record that carries it has been seen.
 *
 * @param startedOffset stream offset of the turn's {@code turn.started} event
 * @param endOffset     stream offset of its terminal event ({@code turn.completed} or {@code turn.failed})
 * @param model         the model the prompt asked for ({@code null} until the prompt is seen)
 */
public record TurnRecord(
        String turnId,
        String clientRequestId,
        String requestHash,
        Long promptOffset,
        Instant submittedAt,
        Long startedOffset,
        Long endOffset,
        Status status,
        String finishReason,
        String model) {

    /** A turn whose model is not known (yet). */
    public TurnRecord(String turnId, String clientRequestId, String requestHash, Long promptOffset, Instant submittedAt,
                      Long startedOffset, Long endOffset, Status status, String finishReason) {
        this(turnId, clientRequestId, requestHash, promptOffset, submittedAt, startedOffset, endOffset, status, finishReason, null);
    }

    public enum Status {
        QUEUED, RUNNING, COMPLETED, FAILED;

        @com.fasterxml.jackson.annotation.JsonValue
        public String json() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        @com.fasterxml.jackson.annotation.JsonCreator
        public static Status fromJson(String value) {
            return valueOf(value.toUpperCase(java.util.Locale.ROOT));
        }
    }

    public boolean finished() {
        return status == Status.COMPLETED || status == Status.FAILED;
    }

    /** A turn first seen through its prompt. */
    static TurnRecord queued(String turnId, String clientRequestId, String requestHash, long promptOffset, Instant submittedAt,
                             String model) {
        return new TurnRecord(turnId, clientRequestId, requestHash, promptOffset, submittedAt, null, null, Status.QUEUED, null, model);
    }

    /** A turn first seen through a mark (its prompt not yet indexed). */
    static TurnRecord fromMark(TurnMark mark) {
        return new TurnRecord(mark.turnId(), null, null, null, null, null, null, Status.QUEUED, null).with(mark);
    }

    /** What the prompt tells, added to whatever the marks told already. */
    TurnRecord withPrompt(String requestId, String hash, long offset, Instant submitted, String promptModel) {
        return new TurnRecord(turnId, requestId, hash, offset, submitted, startedOffset, endOffset, status, finishReason,
                promptModel);
    }

    /** What a mark tells, added; marks of one turn may only move it forward. */
    TurnRecord with(TurnMark mark) {
        String requestId = clientRequestId != null ? clientRequestId : mark.clientRequestId();
        Long prompt = promptOffset != null ? promptOffset : mark.promptOffset();
        Instant submitted = submittedAt != null ? submittedAt : mark.submittedAt();
        return switch (mark.type()) {
            case TurnStarted.TYPE -> new TurnRecord(turnId, requestId, requestHash, prompt, submitted,
                    startedOffset == null ? mark.streamOffset() : Math.min(startedOffset, mark.streamOffset()),
                    endOffset, finished() ? status : Status.RUNNING, finishReason, model);
            case TurnCompleted.TYPE -> new TurnRecord(turnId, requestId, requestHash, prompt, submitted, startedOffset,
                    mark.streamOffset(), Status.COMPLETED, mark.outcome(), model);
            case TurnFailed.TYPE -> new TurnRecord(turnId, requestId, requestHash, prompt, submitted, startedOffset,
                    mark.streamOffset(), Status.FAILED, mark.outcome(), model);
            default -> new TurnRecord(turnId, requestId, requestHash, prompt, submitted, startedOffset, endOffset,
                    finished() ? status : Status.RUNNING, finishReason, model); // turn.resumed
        };
    }
}
