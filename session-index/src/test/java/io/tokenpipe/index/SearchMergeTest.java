package io.tokenpipe.index;

import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** How members' answers to a search become one page. */
class SearchMergeTest {

    @Test
    void membersAnswersMergeInCreationOrderAndAFullPageContinuesAfterItsLastSession() {
        PartitionMatches a = answer(null, 1, 4, 6);
        PartitionMatches b = answer(null, 2, 3, 9);

        SessionPage page = SessionIndex.merge(List.of(a, b), 4);

        assertEquals(List.of("s_1", "s_2", "s_3", "s_4"), ids(page));
        assertEquals(key(4), SessionQuery.keyOfCursor(page.nextCursor()));
    }

    @Test
    void aPartitionExaminedOnlyUpToSomeKeyEndsThePageThereSoThatNothingIsSkipped() {
        // b stopped examining after the session of minute 5: a's session of minute 6 may not come
        // before matches of b still unexamined, so the page ends at minute 5 and continues from there.
        PartitionMatches a = answer(null, 1, 6, 7);
        PartitionMatches b = answer(key(5), 2);

        SessionPage page = SessionIndex.merge(List.of(a, b), 10);

        assertEquals(List.of("s_1", "s_2"), ids(page));
        assertEquals(key(5), SessionQuery.keyOfCursor(page.nextCursor()));
    }

    @Test
    void theLastPageHasNoCursor() {
        SessionPage page = SessionIndex.merge(List.of(answer(null, 1), answer(null)), 5);

        assertEquals(List.of("s_1"), ids(page));
        assertNull(page.nextCursor());
    }

    private static PartitionMatches answer(String examinedUpTo, int... minutes) {
        List<PartitionMatches.Match> matches = java.util.Arrays.stream(minutes)
                .mapToObj(m -> new PartitionMatches.Match(key(m), new SessionRecord("s_" + m, at(m), Map.of(), 0, List.of())))
                .toList();
        return new PartitionMatches(matches, List.of(0), examinedUpTo);
    }

    private static String key(int minute) {
        return CreationKey.of(at(minute), "s_" + minute);
    }

    private static Instant at(int minute) {
        return Instant.parse("2026-03-02T14:00:00Z").plusSeconds(60L * minute);
    }

    private static List<String> ids(SessionPage page) {
        return page.sessions().stream().map(SessionRecord::sessionId).toList();
    }
}
