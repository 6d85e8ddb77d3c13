package io.tokenpipe.index;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * The index entry of a session: when it was created, its partition, and its turns in the order they
 * were submitted (which is the order they are answered in).
 *
 * @param createdAt {@code null} while the session's creation record has not been indexed yet (the
 *                  index may see a session's prompt or marks first)
 */
public record SessionRecord(
        String sessionId,
        Instant createdAt,
        Map<String, String> metadata,
        int partition,
        List<TurnRecord> turns) {

    /** Submission order; a turn known only from a later mark sorts last until its prompt is seen. */
    private static final Comparator<TurnRecord> SUBMISSION_ORDER = Comparator.comparing(TurnRecord::promptOffset,
            Comparator.nullsLast(Comparator.naturalOrder()));

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

    static SessionRecord placeholder(String sessionId, int partition) {
        return new SessionRecord(sessionId, null, Map.of(), partition, List.of());
    }

    SessionRecord created(Instant at, Map<String, String> metadata) {
        return new SessionRecord(sessionId, at, metadata, partition, turns);
    }

    /** Adds the turn, or updates it if the index already knows it. */
    SessionRecord upsert(String turnId, java.util.function.Supplier<TurnRecord> create, UnaryOperator<TurnRecord> update) {
        List<TurnRecord> copy = new ArrayList<>(turns.size() + 1);
        boolean found = false;
        for (TurnRecord t : turns) {
            if (t.turnId().equals(turnId)) {
                copy.add(update.apply(t));
                found = true;
            } else {
                copy.add(t);
            }
        }
        if (!found) {
            copy.add(create.get());
        }
        copy.sort(SUBMISSION_ORDER);
        return new SessionRecord(sessionId, createdAt, metadata, partition, copy);
    }
}
