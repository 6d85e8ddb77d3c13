package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecentEventsTest {

    @Test
    void aSessionsEventsSinceAnOffsetComeBackInOrderWithWhereTheRingStands() {
        RecentEvents ring = new RecentEvents(8, 100);
        ring.append(event(100, "a"));
        ring.append(event(102, "b"));
        ring.append(event(103, "a"));
        ring.advanceTo(105); // a transaction marker at 104

        assertEquals(List.of(103L), offsets(ring.since(101, "a")));
        assertEquals(105, ring.next());
        assertEquals(List.of(100L, 103L), offsets(ring.since(100, "a")));
    }

    @Test
    void onceTheRingHasMovedPastAnOffsetItNoLongerAnswersForIt() {
        RecentEvents ring = new RecentEvents(3, 10);
        for (long offset = 10; offset < 16; offset++) {
            ring.append(event(offset, "s"));
        }

        assertNull(ring.since(12, "s"), "12 was evicted: the caller must read Kafka");
        assertFalse(ring.covers(12));
        assertTrue(ring.covers(13));
        assertEquals(List.of(13L, 14L, 15L), offsets(ring.since(13, "s")));
        assertEquals(List.of(), offsets(ring.since(16, "s")), "nothing yet after the tail's position");
    }

    @Test
    void aRingOfOneHoldsOnlyItsLastEvent() {
        RecentEvents ring = new RecentEvents(1, 0);
        ring.append(event(0, "s"));
        ring.append(event(1, "s"));

        assertNull(ring.since(0, "s"), "event 0 was evicted");
        assertEquals(List.of(1L), offsets(ring.since(1, "s")));
    }

    @Test
    void theRingKeepsNoMoreBytesThanItsBoundButAlwaysItsNewestEvent() {
        RecentEvents ring = new RecentEvents(100, 21, 0); // events of 7 bytes: three fit
        for (long offset = 0; offset < 10; offset++) {
            ring.append(event(offset, "s"));
        }
        assertEquals(21, ring.bytes());
        assertEquals(List.of(7L, 8L, 9L), offsets(ring.since(7, "s")));
        assertNull(ring.since(6, "s"), "6 was evicted for its bytes: the caller must read Kafka");

        ring.append(new LogEvent(0, 10, "s", "turn.started", new byte[1000])); // one large prompt
        assertEquals(List.of(10L), offsets(ring.since(10, "s")), "the newest event stays, however large");
        assertFalse(ring.covers(9));
        assertEquals(1000, ring.bytes());
    }

    @Test
    void aRingThatGrowsPastItsFirstArrayKeepsEveryEventInOrderThenEvictsAtItsCapacity() {
        RecentEvents ring = new RecentEvents(1000, 0);
        for (long offset = 0; offset < 1500; offset++) {
            if (offset % 7 == 3) {
                ring.advanceTo(offset + 1); // a marker now and then
                continue;
            }
            ring.append(event(offset, offset % 2 == 0 ? "even" : "odd"));
        }
        List<Long> kept = offsets(ring.since(ring.coverageStart(), "even"));
        assertEquals(1000, kept.size() + offsets(ring.since(ring.coverageStart(), "odd")).size(), "exactly the capacity kept");
        assertEquals(1498L, kept.getLast());
        for (int i = 1; i < kept.size(); i++) {
            assertTrue(kept.get(i) > kept.get(i - 1), "in offset order after growing and wrapping");
        }
        assertNull(ring.since(ring.coverageStart() - 1, "even"));
        assertEquals(List.of(1498L), offsets(ring.since(1497, "even")));
    }

    @Test
    void beforeTheTailStartedNothingIsCovered() {
        RecentEvents ring = new RecentEvents(4, 50);
        assertNull(ring.since(49, "s"));
        assertEquals(List.of(), offsets(ring.since(50, "s")));
    }

    private static LogEvent event(long offset, String session) {
        return new LogEvent(0, offset, session, "token", ("{\"o\":" + offset + "}").getBytes());
    }

    private static List<Long> offsets(List<LogEvent> events) {
        return events.stream().map(LogEvent::offset).toList();
    }
}
