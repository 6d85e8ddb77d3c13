package io.tokenpipe.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One process of the benchmark's {@link Cluster}: a broker or a tokenpipe service in its own JVM. It
 * can be killed (SIGKILL) and started again with the same identity (id, port, state directory), as an
 * orchestrator would restart it; its CPU is counted across incarnations and its output appended to
 * one log.
 */
final class ClusterNode {

    enum Role {
        BROKER, INGEST, WORKER, DELIVERY;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    final String name;
    final Role role;
    final int port; // HTTP port (the Kafka port for the broker)
    private final List<String> command;
    private final Map<String, String> env;
    private final Path log;
    private Process process;
    private long ticksOfDeadIncarnations;
    private int kills;

    ClusterNode(String name, Role role, int port, List<String> command, Map<String, String> env, Path log) {
        this.name = name;
        this.role = role;
        this.port = port;
        this.command = command;
        this.env = env;
        this.log = log;
    }

    synchronized void start() throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        process = pb.start();
    }

    /** SIGKILL, as a crash or an OOM kill would end it: no shutdown hook runs. */
    synchronized void kill() throws InterruptedException {
        long ticks = Sampler.cpuTicks(process.pid());
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
        ticksOfDeadIncarnations += Math.max(0, ticks);
        kills++;
    }

    synchronized int kills() {
        return kills;
    }

    synchronized long pid() {
        return process.pid();
    }

    synchronized boolean alive() {
        return process != null && process.isAlive();
    }

    /** CPU ticks of every incarnation so far. */
    synchronized long cpuTicks() {
        long current = process == null ? 0 : Math.max(0, Sampler.cpuTicks(process.pid()));
        return ticksOfDeadIncarnations + current;
    }

    URI base() {
        return URI.create("http://127.0.0.1:" + port);
    }

    Path log() {
        return log;
    }

    List<String> command() {
        return command;
    }

    Map<String, String> env() {
        return env;
    }

    /** Waits until the node serves: GET /health answers 200, or for the broker, it printed "ready". */
    void awaitReady(HttpClient http, Duration timeout) throws InterruptedException {
        Process p;
        synchronized (this) {
            p = process;
        }
        if (role != Role.BROKER) {
            ServerProcess.awaitHealthy(http, p, base(), name, log, timeout);
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException(name + " exited with status " + p.exitValue() + " before it was ready; see " + log);
            }
            try {
                if (Files.readString(log).contains("ready localhost:" + port)) {
                    return;
                }
            } catch (IOException e) {
                // not written yet
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException(name + " not ready after " + timeout + "; see " + log);
    }

    /** SIGTERM, a grace period, then SIGKILL. */
    synchronized void stop() {
        if (process == null) {
            return;
        }
        ServerProcess.stop(process);
    }
}
