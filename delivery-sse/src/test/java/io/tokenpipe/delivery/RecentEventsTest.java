package io.tokenpipe.delivery;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class RecentEventsTest {

    @Test
    void aSessionsEventsSinceAnOffsetComeBackInOrderWithWhereTheRingStands() {
        RecentEvents ring = new RecentEvents(8, 100);
        ring.append(100, "a", frame(100));
        ring.append(102, "b", frame(102));
        ring.append(103, "a", frame(103));
        ring.advanceTo(105); // a transaction marker at 104

        RecentEvents.Slice slice = ring.since(101, "a");

        assertEquals(List.of(103L), slice.offsets());
        assertEquals(105, ring.next());
        assertEquals(List.of(100L, 103L), ring.since(100, "a").offsets());
    }

    @Test
    void onceTheRingHasMovedPastAnOffsetItNoLongerAnswersForIt() {
        RecentEvents ring = new RecentEvents(3, 10);
        for (long offset = 10; offset < 16; offset++) {
            ring.append(offset, "s", frame(offset));
        }

        assertNull(ring.since(12, "s"), "12 was evicted: the caller must read Kafka");
        assertEquals(List.of(13L, 14L, 15L), ring.since(13, "s").offsets());
        assertEquals(List.of(), ring.since(16, "s").offsets(), "nothing yet after the tail's position");
    }

    @Test
    void beforeTheTailStartedNothingIsCovered() {
        RecentEvents ring = new RecentEvents(4, 50);
        assertNull(ring.since(49, "s"));
        assertEquals(List.of(), ring.since(50, "s").offsets());
    }

    private static byte[] frame(long offset) {
        return ("id: " + offset).getBytes();
    }
}
