package io.tokenpipe.index;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * The index entry of a session: when it was created, its partition, and its turns in the order they
 * were submitted (which is the order they are answered in).
 */
public record SessionRecord(
        String sessionId,
        Instant createdAt,
        Map<String, String> metadata,
        int partition,
        List<TurnRecord> turns) {

    public SessionRecord {
        metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
        turns = turns == null ? List.of() : List.copyOf(turns);
    }

    public Optional<TurnRecord> turn(String turnId) {
        return turns.stream().filter(t -> t.turnId().equals(turnId)).findFirst();
    }

    public Optional<TurnRecord> turnForRequest(String clientRequestId) {
        return turns.stream().filter(t -> clientRequestId.equals(t.clientRequestId())).findFirst();
    }

    /** Stream offset of the session's first event, if any turn has started. */
    public Optional<Long> firstEventOffset() {
        return turns.stream().map(TurnRecord::startedOffset).filter(java.util.Objects::nonNull).min(Long::compare);
    }

    SessionRecord withTurn(TurnRecord turn) {
        List<TurnRecord> copy = new ArrayList<>(turns);
        copy.add(turn);
        return new SessionRecord(sessionId, createdAt, metadata, partition, copy);
    }

    SessionRecord updateTurn(String turnId, UnaryOperator<TurnRecord> update) {
        List<TurnRecord> copy = new ArrayList<>(turns.size());
        for (TurnRecord t : turns) {
            copy.add(t.turnId().equals(turnId) ? update.apply(t) : t);
        }
        return new SessionRecord(sessionId, createdAt, metadata, partition, copy);
    }
}
