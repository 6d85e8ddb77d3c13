package io.tokenpipe.common.event;

import java.time.Instant;

/**
 * Where a turn's boundary event lies in the stream topic: one mark per {@code turn.started},
 * {@code turn.resumed}, {@code turn.completed} and {@code turn.failed}, on the small turns topic,
 * written by the worker in the same transaction as the event itself. The session index reads these
 * instead of the stream topic, so it never wades through token chunks; and because a partition's
 * marks are written in the order of their events, the index knows every boundary below the
 * highest stream offset it has seen.
 *
 * @param type            the stream event's type
 * @param streamOffset    the stream event's offset
 * @param promptOffset    the prompt's offset (turn.started only)
 * @param clientRequestId the request's idempotency key (turn.started only)
 * @param submittedAt     when the prompt was accepted (turn.started only)
 * @param outcome         finish reason (turn.completed) or error code (turn.failed)
 */
public record TurnMark(
        int v,
        String sessionId,
        String turnId,
        String type,
        long streamOffset,
        int attempt,
        Instant producedAt,
        Long promptOffset,
        String clientRequestId,
        Instant submittedAt,
        String outcome) {

    public static final String TYPE = "turn.mark";
    public static final int VERSION = 1;
    /**
     * A mark of no turn: "every boundary of this partition up to {@code stream_offset} has been
     * marked". Written when a partition's turns run long without boundaries, so that readers know
     * how far the marks they have seen reach. No session id, so no record key.
     */
    public static final String WATERMARK = "stream.watermark";

    public static TurnMark watermark(long streamOffset, Instant at) {
        return new TurnMark(VERSION, null, null, WATERMARK, streamOffset, 0, at, null, null, null, null);
    }

    /** The mark of a boundary event written at {@code streamOffset}; {@code null} for a token chunk. */
    public static TurnMark of(StreamEvent event, long streamOffset) {
        return switch (event) {
            case TurnStarted s -> new TurnMark(VERSION, s.sessionId(), s.turnId(), s.type(), streamOffset, s.attempt(),
                    s.producedAt(), s.prompt() == null ? null : s.prompt().offset(), s.clientRequestId(), s.submittedAt(), null);
            case TurnResumed r -> new TurnMark(VERSION, r.sessionId(), r.turnId(), r.type(), streamOffset, r.attempt(),
                    r.producedAt(), null, null, null, null);
            case TurnCompleted c -> new TurnMark(VERSION, c.sessionId(), c.turnId(), c.type(), streamOffset, c.attempt(),
                    c.producedAt(), null, null, null, c.finishReason());
            case TurnFailed f -> new TurnMark(VERSION, f.sessionId(), f.turnId(), f.type(), streamOffset, f.attempt(),
                    f.producedAt(), null, null, null, f.error().code());
            case TokenChunk chunk -> null;
            case ReasoningChunk chunk -> null;
        };
    }
}
