package io.tokenpipe.bench;

import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Faults injected into a {@link Cluster} while the load runs: every interval it SIGKILLs the next
 * worker (round robin) and starts it again after a pause, or SIGKILLs the next delivery node and
 * starts it again at once, alternating. One node of a role is down at a time: while one is still
 * coming back, that role's fault is skipped.
 * Each fault is recorded with the time the node was healthy again, so the report can tell which
 * turns crossed a fault.
 */
final class ChaosMonkey implements AutoCloseable {

    /** One injected fault; times in the benchmark's microsecond clock ({@link ClientLoop#nowMicros()}). */
    record Fault(String node, String kind, long atMicros, long backMicros) {
        Map<String, Object> json(long startMicros) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", node);
            m.put("kind", kind);
            m.put("at_s", Math.round((atMicros - startMicros) / 1e3) / 1e3);
            m.put("back_after_s", backMicros <= 0 ? null : Math.round((backMicros - atMicros) / 1e3) / 1e3);
            return m;
        }
    }

    private final Cluster cluster;
    private final double intervalSeconds;
    private final long workerDownMillis;
    private final Consumer<String> progress;
    private final List<Fault> faults = new ArrayList<>();
    private final java.util.Set<ClusterNode> recovering = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Thread thread;
    private volatile boolean running = true;

    ChaosMonkey(Cluster cluster, double intervalSeconds, long workerDownMillis, Consumer<String> progress) {
        this.cluster = cluster;
        this.intervalSeconds = intervalSeconds;
        this.workerDownMillis = workerDownMillis;
        this.progress = progress;
        this.thread = Thread.ofPlatform().name("bench-chaos").daemon().unstarted(this::run);
    }

    ChaosMonkey start() {
        thread.start();
        return this;
    }

    private void run() {
        int round = 0;
        List<Thread> restarts = new ArrayList<>();
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
            while (running) {
                long due = System.nanoTime() + (long) (intervalSeconds * 1e9);
                while (running && System.nanoTime() < due) {
                    Thread.sleep(100);
                }
                if (!running) {
                    break;
                }
                boolean worker = round % 2 == 0 || cluster.deliveries().size() < 2;
                List<ClusterNode> candidates = worker ? cluster.workers() : cluster.deliveries();
                int turn = cluster.deliveries().size() < 2 ? round : round / 2;
                round++;
                if (candidates.stream().anyMatch(recovering::contains)) {
                    // One node of a role down at a time: the others must carry its clients or partitions.
                    progress.accept("chaos: skipped a " + (worker ? "worker" : "delivery node")
                            + " fault: one is still coming back from the last");
                    continue;
                }
                ClusterNode victim = candidates.get(turn % candidates.size());
                recovering.add(victim);
                long at = ClientLoop.nowMicros();
                victim.kill();
                progress.accept("chaos: SIGKILL " + victim.name);
                ClusterNode killed = victim;
                // Started again (and waited for) on the side, so that the next fault keeps to the schedule.
                restarts.add(Thread.ofVirtual().start(() -> restart(killed, at, worker ? workerDownMillis : 0, http)));
            }
            for (Thread t : restarts) {
                t.join();
            }
        } catch (InterruptedException e) {
            // stopped
        }
    }

    private void restart(ClusterNode node, long killedAt, long downMillis, HttpClient http) {
        long back = -1;
        try {
            Thread.sleep(downMillis);
            node.start();
            node.awaitReady(http, Duration.ofSeconds(300));
            back = ClientLoop.nowMicros();
            progress.accept(String.format("chaos: %s back after %.1f s", node.name, (back - killedAt) / 1e6));
        } catch (IllegalStateException | java.io.IOException e) {
            progress.accept("chaos: " + node.name + " did not come back: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            synchronized (faults) {
                faults.add(new Fault(node.name, "sigkill_" + node.role.label(), killedAt, back));
            }
            recovering.remove(node);
        }
    }

    List<Fault> faults() {
        synchronized (faults) {
            return faults.stream().sorted(java.util.Comparator.comparingLong(Fault::atMicros)).toList();
        }
    }

    /** Stops injecting; nodes being restarted are waited for, so the cluster is whole afterwards. */
    @Override
    public void close() {
        running = false;
        try {
            thread.join(200_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
