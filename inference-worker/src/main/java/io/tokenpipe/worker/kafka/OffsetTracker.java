package io.tokenpipe.worker.kafka;

import java.util.TreeSet;

/**
 * Which prompts of one partition are done. Turns of different sessions finish out of order; the
 * committed position may only move past a prompt once it and every prompt before it are done.
 */
final class OffsetTracker {

    private final TreeSet<Long> pending = new TreeSet<>();
    private long next;

    /** @param position where consumption of the partition starts (its committed offset) */
    OffsetTracker(long position) {
        this.next = position;
    }

    void accepted(long offset) {
        if (offset >= next) {
            pending.add(offset);
            next = offset + 1;
        }
    }

    void done(long offset) {
        pending.remove(offset);
    }

    /** The offset to commit: the first prompt not yet done, or the one after the last accepted. */
    long position() {
        return pending.isEmpty() ? next : pending.first();
    }
}
