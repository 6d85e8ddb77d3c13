package io.tokenpipe.index;

import org.apache.kafka.common.TopicPartition;

import java.util.HashMap;
import java.util.Map;

/**
 * The last offset the indexer has processed, per input partition on this node. Lookups wait on it
 * to read their own writes: a session created a moment ago is found, an unknown one is reported
 * unknown only once the index has seen everything written before the question.
 */
final class IndexProgress {

    private final Map<TopicPartition, Long> processed = new HashMap<>();
    private int waiters;

    synchronized void advance(TopicPartition partition, long offset) {
        Long current = processed.get(partition);
        if (current == null || offset > current) {
            processed.put(partition, offset);
            if (waiters > 0) {
                notifyAll();
            }
        }
    }

    /** The last processed offset, or -1 if none. */
    synchronized long processed(TopicPartition partition) {
        return processed.getOrDefault(partition, -1L);
    }

    /** Waits until every partition has processed at least its target offset; false on timeout. */
    synchronized boolean awaitProcessed(Map<TopicPartition, Long> targets, long deadlineNanos) throws InterruptedException {
        waiters++;
        try {
            while (!reached(targets)) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
            return true;
        } finally {
            waiters--;
        }
    }

    private boolean reached(Map<TopicPartition, Long> targets) {
        for (Map.Entry<TopicPartition, Long> target : targets.entrySet()) {
            if (processed.getOrDefault(target.getKey(), -1L) < target.getValue()) {
                return false;
            }
        }
        return true;
    }
}
