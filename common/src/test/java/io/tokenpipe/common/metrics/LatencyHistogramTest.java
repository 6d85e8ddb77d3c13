package io.tokenpipe.common.metrics;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LatencyHistogramTest {

    @Test
    void everyValueLandsInABucketWhoseBoundIsAtMostAnEighthAbove() {
        for (long micros = 0; micros < 50_000_000; micros = micros * 3 / 2 + 1) {
            long bound = LatencyHistogram.upperBoundMicros(LatencyHistogram.bucketOf(micros));
            assertTrue(bound >= micros, micros + " is at most its bucket's bound " + bound);
            assertTrue(bound <= micros * 1.125 + 1, micros + " is within 12.5% of its bucket's bound " + bound);
        }
    }

    @Test
    void percentilesComeFromTheCounts() {
        LatencyHistogram h = new LatencyHistogram();
        for (int i = 1; i <= 99; i++) {
            h.recordMicros(1_000);
        }
        h.recordMicros(100_000);
        long[] counts = h.snapshot();

        assertEquals(LatencyHistogram.upperBoundMicros(LatencyHistogram.bucketOf(1_000)),
                LatencyHistogram.percentileMicros(counts, 50));
        assertEquals(LatencyHistogram.upperBoundMicros(LatencyHistogram.bucketOf(1_000)),
                LatencyHistogram.percentileMicros(counts, 99));
        assertEquals(LatencyHistogram.upperBoundMicros(LatencyHistogram.bucketOf(100_000)),
                LatencyHistogram.percentileMicros(counts, 100));
        assertEquals(-1, LatencyHistogram.percentileMicros(new long[counts.length], 50));
    }

    @Test
    void valuesBeyondTheRangeAreKeptInTheLastBucket() {
        LatencyHistogram h = new LatencyHistogram();
        h.recordMicros(Long.MAX_VALUE);
        h.recordMicros(-5);
        long[] counts = h.snapshot();
        assertEquals(1, counts[counts.length - 1]);
        assertEquals(1, counts[0]);
    }
}
