package io.tokenpipe.index;

import java.time.Instant;
import java.util.Map;

/**
 * What an auditor looks for: sessions created in {@code [from, to)}, whose metadata holds every given
 * pair, with a turn for {@code model} and a turn in {@code status}; at most {@code limit}, after the
 * position {@code afterKey} (a page's cursor). {@code null} means "any".
 */
public record SessionQuery(
        Instant from,
        Instant to,
        Map<String, String> metadata,
        String model,
        TurnRecord.Status status,
        int limit,
        String afterKey) {

    public SessionQuery {
        metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    }

    /** A page's cursor as a position; {@code null} when the cursor is not one the index made. */
    public static String keyOfCursor(String cursor) {
        return CreationKey.fromCursor(cursor);
    }

    boolean matches(SessionRecord session) {
        for (Map.Entry<String, String> pair : metadata.entrySet()) {
            if (!pair.getValue().equals(session.metadata().get(pair.getKey()))) {
                return false;
            }
        }
        if (model != null && session.turns().stream().noneMatch(t -> model.equals(t.model()))) {
            return false;
        }
        return status == null || session.turns().stream().anyMatch(t -> t.status() == status);
    }

    String firstKey() {
        String fromKey = from == null ? CreationKey.atOrAfter(0) : CreationKey.atOrAfter(from.toEpochMilli());
        if (afterKey == null) {
            return fromKey;
        }
        String next = CreationKey.after(afterKey);
        return next.compareTo(fromKey) > 0 ? next : fromKey;
    }

    String lastKey() {
        return CreationKey.before(to == null ? Long.MAX_VALUE : to.toEpochMilli());
    }
}
