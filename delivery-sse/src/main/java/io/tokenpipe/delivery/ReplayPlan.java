package io.tokenpipe.delivery;

import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.TurnRecord;

import java.util.ArrayList;
import java.util.List;

/**
 * Which offset ranges of the session's partition hold its events after a given offset. A session's
 * events all belong to turns, and its turns run one after another, so the index's turn boundaries
 * let a replay skip the stretches of the partition between them: reading a session costs the
 * traffic of its partition while its turns ran, never the topic from its beginning.
 *
 * @param ranges     closed ranges [first, last] of finished turns, in order
 * @param openFrom   where the open-ended part starts (a running turn, or what the index has not seen yet)
 * @param firstKnown the offset of the first event to read that the index knows is the session's, or -1 when
 *                   it knows of none: the replay is whole only if the log still holds it
 */
public record ReplayPlan(int partition, List<long[]> ranges, long openFrom, long firstKnown) {

    /** Everything after {@code after} (an event id; -1 for the session's beginning). */
    public static ReplayPlan after(IndexAnswer answer, long after) {
        long from = after + 1;
        List<long[]> ranges = new ArrayList<>();
        long open = Math.max(from, answer.streamNextOffset());
        long known = -1;
        for (TurnRecord turn : answer.session().turns()) {
            Long start = turn.startedOffset();
            if (start == null) {
                continue; // not started, as far as the index knows: covered by the open part
            }
            Long end = turn.endOffset();
            if (end == null) {
                open = Math.max(from, Math.min(open, start)); // running: read it from its start on
                known = known < 0 ? Math.max(from, start) : known;
                break;
            }
            if (end >= from) {
                ranges.add(new long[]{Math.max(from, start), end});
                known = known < 0 ? Math.max(from, start) : known;
            }
        }
        return new ReplayPlan(answer.partition(), ranges, open, known);
    }

    /** Without the index: read everything after {@code after}. */
    public static ReplayPlan unindexed(int partition, long after) {
        return new ReplayPlan(partition, List.of(), after + 1, -1);
    }
}
