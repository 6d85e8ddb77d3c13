package io.tokenpipe.common.http;

import io.javalin.config.RoutesConfig;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.metrics.LatencyHistogram;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.common.metrics.StageTimes;

import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The metrics routes of every service: {@code GET /metrics} in the Prometheus text format
 * ({@link Metrics}); {@code GET /metrics/runtime}, the process's memory, threads and CPU plus service
 * gauges (open streams, turns in flight) as one JSON object; {@code GET /metrics/stages}, the
 * per-stage histograms as JSON. The benchmark reads the two JSON pages.
 */
public final class RuntimeMetrics {

    /** The Prometheus text exposition format, version 0.0.4: what every Prometheus server scrapes. */
    public static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private RuntimeMetrics() {
    }

    public static void register(RoutesConfig routes, Map<String, Supplier<Object>> gauges) {
        routes.get("/metrics", ctx -> ctx.contentType(PROMETHEUS_TEXT).result(Metrics.scrape()));
        routes.get("/metrics/runtime", ctx -> ctx.json(snapshot(gauges)));
        routes.get("/metrics/stages", ctx -> ctx.json(stages()));
    }

    /**
     * {@code GET /metrics/stages}: per-stage latency histograms ({@link StageTimes}) as cumulative
     * bucket counts, with each bucket's upper bound in microseconds.
     */
    static Map<String, Object> stages() {
        Map<String, Object> out = new LinkedHashMap<>();
        long[] bounds = new long[LatencyHistogram.BUCKETS];
        for (int i = 0; i < bounds.length; i++) {
            bounds[i] = LatencyHistogram.upperBoundMicros(i);
        }
        out.put("bucket_upper_micros", bounds);
        out.put("stages", StageTimes.snapshot());
        return out;
    }

    public static Map<String, Object> snapshot(Map<String, Supplier<Object>> gauges) {
        Map<String, Object> out = new LinkedHashMap<>();
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        out.put("heap_used_bytes", heap.getUsed());
        out.put("heap_committed_bytes", heap.getCommitted());
        out.put("heap_max_bytes", heap.getMax());
        out.put("rss_bytes", residentSetBytes());
        out.put("threads", ManagementFactory.getThreadMXBean().getThreadCount());
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            out.put("process_cpu_seconds", os.getProcessCpuTime() / 1e9);
            out.put("system_cpu_load", os.getCpuLoad());
        }
        long gcCount = 0;
        long gcMillis = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            gcCount += Math.max(0, gc.getCollectionCount());
            gcMillis += Math.max(0, gc.getCollectionTime());
        }
        out.put("gc_count", gcCount);
        out.put("gc_time_ms", gcMillis);
        out.put("uptime_ms", ManagementFactory.getRuntimeMXBean().getUptime());
        out.put("skipped_records", SkippedRecords.snapshot());
        gauges.forEach((name, gauge) -> out.put(name, gauge.get()));
        return out;
    }

    /** VmRSS from /proc (Linux); -1 elsewhere. */
    static long residentSetBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }
}
