package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;

import java.util.ArrayList;
import java.util.List;

/**
 * The last events of one partition as the live tail read them, in a ring. A new stream or a
 * resume after a short drop mostly wants events from the last seconds: they are served from here
 * instead of from a Kafka read, which under load is the difference between a broker round trip per
 * client and none.
 *
 * <p>The ring covers every event from {@link #coverageStart()} up to the tail's position: nothing
 * in that range is missing, because the tail appends every event it consumes, in order.
 *
 * <p>It is bounded twice: by events and by bytes of the events' JSON, since one {@code turn.started}
 * carries its whole prompt and a ring of a few thousand of those would hold gigabytes. The newest
 * event is always kept, whatever its size. Its array grows as events arrive, up to the bound, so a
 * partition attached for a quiet session costs a few kilobytes, not the full bound.
 */
final class RecentEvents {

    private static final int INITIAL_SLOTS = 64;

    private final int capacity;
    private LogEvent[] events;
    private final long maxBytes;
    private long bytes;
    private int oldest;
    private int size;
    private long start;
    private long next;

    /** @param position where the tail starts reading this partition */
    RecentEvents(int capacity, long position) {
        this(capacity, Long.MAX_VALUE, position);
    }

    /**
     * @param maxBytes the most bytes of event JSON kept
     * @param position where the tail starts reading this partition
     */
    RecentEvents(int capacity, long maxBytes, long position) {
        this.capacity = capacity;
        this.events = new LogEvent[Math.min(capacity, INITIAL_SLOTS)];
        this.maxBytes = maxBytes;
        this.start = position;
        this.next = position;
    }

    synchronized void append(LogEvent event) {
        if (size == events.length) {
            if (events.length < capacity) {
                grow();
            } else {
                evictOldest();
            }
        }
        events[(oldest + size) % events.length] = event;
        size++;
        bytes += event.size();
        while (bytes > maxBytes && size > 1) {
            evictOldest();
        }
        next = Math.max(next, event.offset() + 1);
    }

    /** Doubles the array (up to the capacity), the oldest event first. */
    private void grow() {
        LogEvent[] larger = new LogEvent[(int) Math.min(capacity, 2L * events.length)];
        for (int i = 0; i < size; i++) {
            larger[i] = events[(oldest + i) % events.length];
        }
        events = larger;
        oldest = 0;
    }

    private void evictOldest() {
        LogEvent gone = events[oldest];
        events[oldest] = null;
        bytes -= gone.size();
        oldest = (oldest + 1) % events.length;
        size--;
        // Everything before the oldest kept event is gone (with none kept, everything up to the evicted one).
        start = size > 0 ? events[oldest].offset() : gone.offset() + 1;
    }

    /** Drops the opened content of a deleted session's events; they stay as placeholders, so coverage holds. */
    synchronized void forget(String sessionId) {
        for (int i = 0; i < size; i++) {
            LogEvent event = events[(oldest + i) % events.length];
            if (sessionId.equals(event.sessionId())) {
                event.forget();
            }
        }
    }

    /** Bytes of event JSON held now. */
    synchronized long bytes() {
        return bytes;
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

    /** Whether the ring holds every event from {@code offset} up to the tail's position. */
    synchronized boolean covers(long offset) {
        return offset >= start && offset <= next;
    }

    /**
     * The session's events from {@code from} up to the tail's position, or {@code null} when the
     * ring no longer reaches back to {@code from}.
     */
    synchronized List<LogEvent> since(long from, String sessionId) {
        if (from < start) {
            return null;
        }
        List<LogEvent> found = new ArrayList<>();
        for (int i = firstAtOrAfter(from); i < size; i++) {
            LogEvent event = events[(oldest + i) % events.length];
            if (sessionId.equals(event.sessionId())) {
                found.add(event);
            }
        }
        return found;
    }

    /** Binary search over the ring's increasing offsets: the index (from the oldest) of the first at or after. */
    private int firstAtOrAfter(long offset) {
        int lo = 0;
        int hi = size;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (events[(oldest + mid) % events.length].offset() < offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
