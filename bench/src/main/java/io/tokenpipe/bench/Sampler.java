package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Once a second: the server's {@code GET /metrics/runtime}, its {@code /proc/<pid>/stat} (CPU ticks) and
 * {@code /proc/<pid>/status} (RSS, threads), the benchmark's own CPU, and the whole machine's CPU
 * from {@code /proc/stat}, so the report can tell who used the two cores.
 */
final class Sampler implements AutoCloseable {

    /** One second's sample; CPU figures are cores used since the previous sample. */
    record Sample(long atMillis, long heapUsed, long heapCommitted, long heapMax, long rss, int threads,
                  int openStreams, int inflightTurns, long gcCount, long gcTimeMs, double serverCores,
                  double benchCores, double machineBusyCores, boolean metricsOk) {
        Map<String, Object> json(long startMillis) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("t_s", (atMillis - startMillis) / 1000.0);
            m.put("heap_used_mb", mb(heapUsed));
            m.put("heap_committed_mb", mb(heapCommitted));
            m.put("rss_mb", mb(rss));
            m.put("threads", threads);
            m.put("open_streams", openStreams);
            m.put("inflight_turns", inflightTurns);
            m.put("gc_count", gcCount);
            m.put("gc_time_ms", gcTimeMs);
            m.put("server_cores", round(serverCores));
            m.put("bench_cores", round(benchCores));
            m.put("machine_busy_cores", round(machineBusyCores));
            return m;
        }
    }

    private static final long TICKS_PER_SECOND = 100; // USER_HZ on Linux

    private final java.util.function.LongSupplier serverTicks;
    private final java.util.function.LongSupplier pid; // a cluster's node may be restarted under a new pid
    private final URI metrics;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();
    private final List<Sample> samples = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;
    private final com.sun.management.OperatingSystemMXBean ownOs =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private static final int CORES = Runtime.getRuntime().availableProcessors();
    private long lastAt = -1;
    private long lastNanos;
    private long lastServerTicks;
    private long lastBenchNanos;
    private long[] lastMachine;

    Sampler(SystemUnderTest server) {
        this.serverTicks = server::cpuTicks;
        this.pid = server::pid;
        this.metrics = server.metricsBase().resolve("/metrics/runtime");
        this.thread = Thread.ofPlatform().name("bench-sampler").daemon().unstarted(this::run);
    }

    Sampler start() {
        sample(); // the baseline for the first interval
        thread.start();
        return this;
    }

    List<Sample> samples() {
        return List.copyOf(samples);
    }

    /** Samples taken between two wall-clock instants (inclusive of the interval ending after from). */
    List<Sample> between(long fromMillis, long toMillis) {
        List<Sample> out = new ArrayList<>();
        for (Sample s : samples) {
            if (s.atMillis() > fromMillis && s.atMillis() <= toMillis + 1_000) {
                out.add(s);
            }
        }
        return out;
    }

    /** The server's CPU seconds so far (from /proc), or -1. */
    double serverCpuSeconds() {
        long ticks = serverTicks.getAsLong();
        return ticks < 0 ? -1 : ticks / (double) TICKS_PER_SECOND;
    }

    private void run() {
        long next = System.currentTimeMillis() + 1_000;
        while (running) {
            try {
                long sleep = next - System.currentTimeMillis();
                if (sleep > 0) {
                    Thread.sleep(sleep);
                }
            } catch (InterruptedException e) {
                return;
            }
            next += 1_000;
            sample();
        }
    }

    private void sample() {
        // The clock is read right next to the CPU counters, so a late sampler cannot skew the rates.
        long ticks = serverTicks.getAsLong();
        long benchNanos = ownOs.getProcessCpuTime();
        long[] machine = machineTicks();
        long nanos = System.nanoTime();
        long now = System.currentTimeMillis();
        double serverCores = 0;
        double benchCores = 0;
        double machineCores = 0;
        if (lastAt > 0) {
            double seconds = Math.max(1e-3, (nanos - lastNanos) / 1e9);
            if (ticks >= 0 && lastServerTicks >= 0) {
                serverCores = (ticks - lastServerTicks) / (double) TICKS_PER_SECOND / seconds;
            }
            benchCores = (benchNanos - lastBenchNanos) / 1e9 / seconds;
            if (machine != null && lastMachine != null) {
                double busy = (machine[0] - lastMachine[0]) / (double) TICKS_PER_SECOND;
                machineCores = busy / seconds;
            }
        }
        // /proc accounts CPU in 10 ms ticks, sometimes late: never report more cores than exist.
        serverCores = Math.min(serverCores, CORES);
        benchCores = Math.min(benchCores, CORES);
        machineCores = Math.min(machineCores, CORES);
        boolean first = lastAt < 0;
        lastAt = now;
        lastNanos = nanos;
        lastServerTicks = ticks;
        lastBenchNanos = benchNanos;
        lastMachine = machine;
        if (first) {
            return;
        }
        long heapUsed = -1, heapCommitted = -1, heapMax = -1, gcCount = -1, gcTime = -1;
        int open = -1, inflight = -1;
        boolean ok = false;
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(2))
                            .header("Authorization", BenchKey.authorization()).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 200) {
                JsonNode m = Json.MAPPER.readTree(r.body());
                heapUsed = m.path("heap_used_bytes").asLong(-1);
                heapCommitted = m.path("heap_committed_bytes").asLong(-1);
                heapMax = m.path("heap_max_bytes").asLong(-1);
                gcCount = m.path("gc_count").asLong(-1);
                gcTime = m.path("gc_time_ms").asLong(-1);
                open = m.path("open_streams").asInt(-1);
                inflight = m.path("inflight_turns").asInt(-1);
                ok = true;
            }
        } catch (IOException e) {
            // the sample says metricsOk=false
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        long rss = -1;
        int threads = -1;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid.getAsLong() + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                } else if (line.startsWith("Threads:")) {
                    threads = Integer.parseInt(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or the process is gone
        }
        samples.add(new Sample(now, heapUsed, heapCommitted, heapMax, rss, threads, open, inflight, gcCount, gcTime,
                serverCores, benchCores, machineCores, ok));
    }

    /** CPU ticks (user + system) a process has used so far, from /proc; -1 when unknown or gone. */
    static long cpuTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14, 15)
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** {busy ticks, total ticks} of the whole machine, or null. */
    private static long[] machineTicks() {
        try {
            String first = Files.readAllLines(Path.of("/proc/stat")).getFirst();
            String[] f = first.trim().split("\\s+");
            long total = 0;
            long idle = 0;
            for (int i = 1; i < Math.min(f.length, 9); i++) { // user .. steal (guest is already in user)
                long v = Long.parseLong(f[i]);
                total += v;
                if (i == 4 || i == 5) { // idle, iowait
                    idle += v;
                }
            }
            return new long[] {total - idle, total};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    static double mb(long bytes) {
        return bytes < 0 ? -1 : Math.round(bytes / 1048576.0 * 10) / 10.0;
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(3_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
