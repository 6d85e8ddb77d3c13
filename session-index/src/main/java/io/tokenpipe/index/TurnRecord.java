package io.tokenpipe.index;

import java.time.Instant;

/**
 * What the index knows of one turn: where its prompt and its events are in Kafka, and how it ended.
 * Offsets are {@code null} until the index has seen the corresponding record.
 *
 * @param startedOffset stream offset of the turn's {@code turn.started} event
 * @param endOffset     stream offset of its terminal event ({@code turn.completed} or {@code turn.failed})
 */
public record TurnRecord(
        String turnId,
        String clientRequestId,
        String requestHash,
        long promptOffset,
        Instant submittedAt,
        Long startedOffset,
        Long endOffset,
        Status status,
        String finishReason) {

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

    TurnRecord started(long offset) {
        // A take-over re-sends nothing before its turn.resumed; the first turn.started is the turn's start.
        Long start = startedOffset == null ? offset : Math.min(startedOffset, offset);
        return new TurnRecord(turnId, clientRequestId, requestHash, promptOffset, submittedAt, start, endOffset,
                finished() ? status : Status.RUNNING, finishReason);
    }

    TurnRecord ended(long offset, Status outcome, String reason) {
        return new TurnRecord(turnId, clientRequestId, requestHash, promptOffset, submittedAt,
                startedOffset == null ? offset : startedOffset, offset, outcome, reason);
    }
}
