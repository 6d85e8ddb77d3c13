package io.tokenpipe.worker.turn;

import io.tokenpipe.common.log.OutputClosedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One lane per session with turns in flight: a session's turns run one after another, in the order
 * their prompts were submitted, on one virtual thread; different sessions run side by side. Lanes
 * are grouped by partition, so that a partition handed over stops exactly its own.
 */
public final class SessionLanes {

    private static final Logger log = LoggerFactory.getLogger(SessionLanes.class);

    private final class Lane {
        final int partition;
        final ArrayDeque<TurnJob> queue = new ArrayDeque<>();
        Thread thread;
        boolean stopped;

        Lane(int partition) {
            this.partition = partition;
        }
    }

    private final TurnRunner runner;
    private final Cancellations cancellations;
    private final AtomicInteger inflight;
    private final Map<String, Lane> lanes = new HashMap<>();

    /** @param inflight counts turns accepted and not yet over; decremented here as they end */
    public SessionLanes(TurnRunner runner, Cancellations cancellations, AtomicInteger inflight) {
        this.runner = runner;
        this.cancellations = cancellations;
        this.inflight = inflight;
    }

    public synchronized void submit(String sessionId, int partition, TurnJob job) {
        inflight.incrementAndGet();
        Lane lane = lanes.computeIfAbsent(sessionId, id -> new Lane(partition));
        lane.queue.add(job);
        if (lane.thread == null) {
            lane.thread = Thread.ofVirtual().name("turns-" + sessionId).start(() -> drive(sessionId, lane));
        }
    }

    /** Stops the lanes of a partition being handed over; returns their threads so the caller can wait. */
    public synchronized List<Thread> stop(int partition) {
        List<Thread> threads = new ArrayList<>();
        lanes.values().removeIf(lane -> {
            if (lane.partition != partition) {
                return false;
            }
            lane.stopped = true;
            inflight.addAndGet(-lane.queue.size());
            lane.queue.clear();
            if (lane.thread != null) {
                lane.thread.interrupt();
                threads.add(lane.thread);
            }
            return true;
        });
        return threads;
    }

    /**
     * Stops a partition's lanes gently: queued turns are dropped (the next owner answers them), running
     * ones may finish within {@code grace}; those still running then are interrupted and handed over.
     * A rebalance moves a partition away from a live worker: finishing a turn here costs nothing, while
     * a backend that cannot continue an answer would answer it again from the start.
     */
    public void stopAfter(java.util.Collection<Integer> partitions, Duration grace) throws InterruptedException {
        List<Thread> running = new ArrayList<>();
        synchronized (this) {
            for (Lane lane : lanes.values()) {
                if (partitions.contains(lane.partition)) {
                    lane.stopped = true; // no next turn: the lane ends after its current one
                    inflight.addAndGet(-lane.queue.size());
                    lane.queue.clear();
                    if (lane.thread != null) {
                        running.add(lane.thread);
                    }
                }
            }
        }
        long deadline = System.nanoTime() + grace.toNanos();
        for (Thread thread : running) {
            long left = deadline - System.nanoTime();
            if (left > 0) {
                thread.join(Duration.ofNanos(left));
            }
        }
        for (int partition : partitions) {
            stop(partition);
        }
    }

    public synchronized List<Thread> stopAll() {
        List<Thread> threads = new ArrayList<>();
        for (Lane lane : List.copyOf(lanes.values())) {
            threads.addAll(stop(lane.partition));
        }
        return threads;
    }

    private void drive(String sessionId, Lane lane) {
        while (true) {
            TurnJob job;
            synchronized (this) {
                job = lane.stopped ? null : lane.queue.poll();
                if (job == null) {
                    if (lanes.get(sessionId) == lane) {
                        lanes.remove(sessionId);
                    }
                    return;
                }
            }
            TurnHandle handle = null;
            try {
                handle = cancellations.begin(job.prompt().turnId());
                runner.run(job, handle);
            } catch (InterruptedException | OutputClosedException e) {
                log.info("turn {} of session {} handed over unfinished", job.prompt().turnId(), sessionId);
                return;
            } catch (RuntimeException e) {
                // Not even its failure could be written. Its prompt must not hold the committed
                // position back for ever; the lane goes on with the session's next turn.
                log.error("turn {} of session {} could not be ended; releasing its prompt", job.prompt().turnId(),
                        sessionId, e);
                release(job);
            } finally {
                if (handle != null) {
                    cancellations.end(job.prompt().turnId(), handle);
                }
                inflight.decrementAndGet();
            }
        }
    }

    private static void release(TurnJob job) {
        try {
            job.output().release();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.error("releasing the prompt of turn {} failed", job.prompt().turnId(), e);
        }
    }
}
