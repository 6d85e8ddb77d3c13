package io.tokenpipe.delivery;

import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.SessionRecord;
import io.tokenpipe.index.TurnRecord;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ReplayPlanTest {

    @Test
    void aReplayFromTheBeginningReadsOnlyTheTurnsRangesThenWhatTheIndexHasNotSeen() {
        IndexAnswer answer = answer(500, finished(10, 40), finished(200, 260));

        ReplayPlan plan = ReplayPlan.after(answer, -1);

        assertEquals(List.of("10-40", "200-260"), ranges(plan));
        assertEquals(500, plan.openFrom(), "the part of the partition the index has not seen yet");
    }

    @Test
    void aResumeSkipsTurnsThatEndedBeforeTheClientsPosition() {
        IndexAnswer answer = answer(500, finished(10, 40), finished(200, 260));

        ReplayPlan plan = ReplayPlan.after(answer, 220);

        assertEquals(List.of("221-260"), ranges(plan));
        assertEquals(500, plan.openFrom());
    }

    @Test
    void aRunningTurnIsReadFromItsStartToTheEnd() {
        IndexAnswer answer = answer(500, finished(10, 40), running(300));

        assertEquals(List.of("10-40"), ranges(ReplayPlan.after(answer, -1)));
        assertEquals(300, ReplayPlan.after(answer, -1).openFrom());
        assertEquals(351, ReplayPlan.after(answer, 350).openFrom(), "a resume inside the running turn starts after the id");
    }

    @Test
    void aSessionWithoutStartedTurnsIsReadFromWhereTheIndexStands() {
        TurnRecord queued = new TurnRecord("t_q", "r", "h", 5L, Instant.EPOCH, null, null, TurnRecord.Status.QUEUED, null);
        ReplayPlan plan = ReplayPlan.after(answer(700, queued), -1);

        assertEquals(List.of(), ranges(plan));
        assertEquals(700, plan.openFrom());
    }

    private static IndexAnswer answer(long streamNext, TurnRecord... turns) {
        return new IndexAnswer(new SessionRecord("s_1", Instant.EPOCH, Map.of(), 3, Arrays.asList(turns)), 3, streamNext);
    }

    private static TurnRecord finished(long start, long end) {
        return new TurnRecord("t_" + start, "r" + start, "h", 0L, Instant.EPOCH, start, end, TurnRecord.Status.COMPLETED, "stop");
    }

    private static TurnRecord running(long start) {
        return new TurnRecord("t_" + start, "r" + start, "h", 0L, Instant.EPOCH, start, null, TurnRecord.Status.RUNNING, null);
    }

    private static List<String> ranges(ReplayPlan plan) {
        return plan.ranges().stream().map(r -> r[0] + "-" + r[1]).toList();
    }
}
