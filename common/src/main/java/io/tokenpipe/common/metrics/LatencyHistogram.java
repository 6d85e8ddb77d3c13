package io.tokenpipe.common.metrics;

import io.micrometer.core.instrument.Timer;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A lock-free histogram of durations in microseconds, from 1 µs to about 2 minutes, with eight
 * buckets per power of two (a value is at most an eighth below its bucket's bound). Cheap enough to record every
 * token at every stage: one array increment, no allocation.
 */
public final class LatencyHistogram {

    private static final int SUB_BUCKETS = 8;
    private static final int POWERS = 27; // 2^27 µs ≈ 134 s
    public static final int BUCKETS = POWERS * SUB_BUCKETS;

    private final AtomicLongArray counts = new AtomicLongArray(BUCKETS);
    private final Timer mirror;

    public LatencyHistogram() {
        this(null);
    }

    /** @param mirror a Prometheus histogram that records the same values ({@code null} for none) */
    public LatencyHistogram(Timer mirror) {
        this.mirror = mirror;
    }

    public void recordMicros(long micros) {
        counts.incrementAndGet(bucketOf(micros));
        if (mirror != null) {
            mirror.record(Math.max(0, micros), TimeUnit.MICROSECONDS);
        }
    }

    public void recordNanos(long nanos) {
        recordMicros(nanos / 1_000);
    }

    /** The counts of every bucket now; subtract two snapshots to get an interval's. */
    public long[] snapshot() {
        long[] copy = new long[BUCKETS];
        for (int i = 0; i < BUCKETS; i++) {
            copy[i] = counts.get(i);
        }
        return copy;
    }

    static int bucketOf(long micros) {
        if (micros < SUB_BUCKETS) {
            return (int) Math.max(0, micros);
        }
        int power = 63 - Long.numberOfLeadingZeros(micros); // >= 3
        int sub = (int) ((micros >>> (power - 3)) & (SUB_BUCKETS - 1));
        int bucket = (power - 2) * SUB_BUCKETS + sub;
        return Math.min(bucket, BUCKETS - 1);
    }

    /** The largest value a bucket holds, in microseconds. */
    public static long upperBoundMicros(int bucket) {
        if (bucket < SUB_BUCKETS) {
            return bucket;
        }
        int power = bucket / SUB_BUCKETS + 2;
        int sub = bucket % SUB_BUCKETS;
        return ((long) (SUB_BUCKETS + sub + 1) << (power - 3)) - 1;
    }

    /** The value at {@code percentile} (0..100) of the counts, as a bucket's upper bound; -1 when empty. */
    public static long percentileMicros(long[] counts, double percentile) {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        if (total == 0) {
            return -1;
        }
        long rank = (long) Math.ceil(percentile / 100.0 * total);
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= Math.max(1, rank)) {
                return upperBoundMicros(i);
            }
        }
        return upperBoundMicros(counts.length - 1);
    }
}
