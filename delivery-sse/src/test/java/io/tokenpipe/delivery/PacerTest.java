package io.tokenpipe.delivery;

import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.log.LogEvent;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pacer's schedule, on a clock that only moves when the pacer sleeps. */
class PacerTest {

    /** A clock the test owns: sleeping advances it exactly; every sleep is recorded. */
    private static final class StepClock implements Pacer.Clock {
        long now = 1_000_000_000L;
        final List<Long> sleeps = new ArrayList<>();

        @Override
        public long nanos() {
            return now;
        }

        @Override
        public void sleep(long nanos) {
            sleeps.add(nanos);
            now += nanos;
        }
    }

    @Test
    void eachEventIsSentWhenAsMuchTimeHasPassedAsOriginally() throws Exception {
        StepClock clock = new StepClock();
        Pacer pacer = new Pacer(1, Duration.ofSeconds(60), Duration.ofSeconds(15), clock);

        Pacer.Mark first = pacer.await(event(0, 10_000), () -> { });
        Pacer.Mark second = pacer.await(event(1, 10_250), () -> { });
        clock.now += 100_000_000L; // the replay itself took 100 ms (a slow client): no extra wait
        Pacer.Mark third = pacer.await(event(2, 10_400), () -> { });

        assertEquals(0, first.dueMs());
        assertEquals(0, first.sentMs());
        assertEquals(250, second.dueMs());
        assertEquals(250, second.sentMs());
        assertEquals(400, third.dueMs());
        assertEquals(400, third.sentMs(), "late by nothing: scheduled against the replay's start");
        assertEquals(List.of(250_000_000L, 50_000_000L), clock.sleeps);
        assertEquals(400, third.originalMs());
        assertEquals(150, third.gapMs());
    }

    @Test
    void aSpeedFactorDividesTheGapsAndALongGapIsCappedAndFlagged() throws Exception {
        StepClock clock = new StepClock();
        Pacer pacer = new Pacer(2, Duration.ofSeconds(5), Duration.ofSeconds(60), clock);

        pacer.await(event(0, 0), () -> { });
        Pacer.Mark quick = pacer.await(event(1, 300), () -> { });
        Pacer.Mark overnight = pacer.await(event(2, 300 + 3_600_000), () -> { });

        assertEquals(150, quick.dueMs());
        assertFalse(quick.capped());
        assertTrue(overnight.capped());
        assertEquals(3_600_000, overnight.gapMs());
        assertEquals(150 + 2_500, overnight.dueMs(), "the hour is held as 5 s, at twice the speed");
    }

    @Test
    void aLongWaitSendsHeartbeats() throws Exception {
        StepClock clock = new StepClock();
        Pacer pacer = new Pacer(1, Duration.ofSeconds(60), Duration.ofSeconds(1), clock);
        int[] beats = {0};

        pacer.await(event(0, 0), () -> beats[0]++);
        pacer.await(event(1, 3_500), () -> beats[0]++);

        assertEquals(3, beats[0]);
    }

    @Test
    void theRequestsPaceIsOriginalOrASpeedAndItsGapCapAtMostTheNodes() {
        Duration max = Duration.ofSeconds(60);
        Duration beat = Duration.ofSeconds(15);
        assertNull(Pacer.of(null, null, max, beat));
        Pacer.of("original", null, max, beat);
        Pacer.of("0.5", "1000", max, beat);
        for (String bad : List.of("fast", "0", "-1", "100.5", "NaN", "")) {
            assertEquals("invalid_pace", assertThrows(ApiException.class, () -> Pacer.of(bad, null, max, beat)).code(), bad);
        }
        assertThrows(ApiException.class, () -> Pacer.of("original", "60001", max, beat));
        assertThrows(ApiException.class, () -> Pacer.of("original", "x", max, beat));
        assertThrows(ApiException.class, () -> Pacer.of(null, "100", max, beat));
    }

    private static LogEvent event(long offset, long timestamp) {
        return new LogEvent(0, offset, "s_1", "token", "{}".getBytes(), 0, timestamp);
    }
}
