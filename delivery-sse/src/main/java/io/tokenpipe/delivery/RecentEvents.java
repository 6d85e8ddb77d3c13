package io.tokenpipe.delivery;

import java.util.ArrayList;
import java.util.List;

/**
 * The last events of one partition as the live tail framed them, in a ring. A new stream or a
 * resume after a short drop mostly wants events from the last seconds: they are served from here
 * instead of from a Kafka read, which under load is the difference between a broker round trip per
 * client and none.
 *
 * <p>The ring covers every event from {@link #coverageStart()} up to the tail's position: nothing
 * in that range is missing, because the tail appends every event it consumes, in order.
 */
final class RecentEvents {

    /** The events of one session found in the ring, with their offsets. */
    record Slice(List<byte[]> frames, List<Long> offsets) {
    }

    private final long[] offsets;
    private final String[] keys;
    private final byte[][] frames;
    private int oldest;
    private int size;
    private long start;
    private long next;

    /** @param position where the tail starts reading this partition */
    RecentEvents(int capacity, long position) {
        this.offsets = new long[capacity];
        this.keys = new String[capacity];
        this.frames = new byte[capacity][];
        this.start = position;
        this.next = position;
    }

    synchronized void append(long offset, String key, byte[] frame) {
        int slot;
        if (size == offsets.length) {
            slot = oldest;
            oldest = (oldest + 1) % offsets.length;
            start = offsets[oldest]; // everything before the oldest kept event is gone
        } else {
            slot = (oldest + size) % offsets.length;
            size++;
        }
        offsets[slot] = offset;
        keys[slot] = key;
        frames[slot] = frame;
        next = Math.max(next, offset + 1);
    }

    /** The tail's position after a poll: offsets below it that are not in the ring hold no event (markers). */
    synchronized void advanceTo(long position) {
        next = Math.max(next, position);
    }

    synchronized long coverageStart() {
        return start;
    }

    /** The tail's position: the first offset not yet seen. */
    synchronized long next() {
        return next;
    }

    /**
     * The session's events from {@code from} up to the tail's position, or {@code null} when the
     * ring no longer reaches back to {@code from}.
     */
    synchronized Slice since(long from, String sessionId) {
        if (from < start) {
            return null;
        }
        List<byte[]> found = new ArrayList<>();
        List<Long> at = new ArrayList<>();
        for (int i = firstAtOrAfter(from); i < size; i++) {
            int slot = (oldest + i) % offsets.length;
            if (sessionId.equals(keys[slot])) {
                found.add(frames[slot]);
                at.add(offsets[slot]);
            }
        }
        return new Slice(found, at);
    }

    /** Binary search over the ring's increasing offsets: the index (from the oldest) of the first at or after. */
    private int firstAtOrAfter(long offset) {
        int lo = 0;
        int hi = size;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (offsets[(oldest + mid) % offsets.length] < offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
