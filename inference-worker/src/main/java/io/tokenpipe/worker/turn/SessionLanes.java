package io.tokenpipe.worker.turn;

import io.tokenpipe.common.log.OutputClosedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
            TurnHandle handle = cancellations.begin(job.prompt().turnId());
            try {
                runner.run(job, handle);
            } catch (InterruptedException | OutputClosedException e) {
                log.info("turn {} of session {} handed over unfinished", job.prompt().turnId(), sessionId);
                return;
            } catch (RuntimeException e) {
                log.error("turn {} of session {} failed", job.prompt().turnId(), sessionId, e);
            } finally {
                cancellations.end(job.prompt().turnId(), handle);
                inflight.decrementAndGet();
            }
        }
    }
}
