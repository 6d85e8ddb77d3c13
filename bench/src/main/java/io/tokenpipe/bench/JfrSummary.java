package io.tokenpipe.bench;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Reads a server's JFR recording of the load phase and says where the CPU and the allocations
 * went: execution samples by thread group, by hottest frame, by first non-JDK frame and by
 * component; allocation samples by class and by allocating frame; GC pauses and allocation stalls.
 */
final class JfrSummary {

    private static final Pattern DIGITS = Pattern.compile("\\d+");

    final Map<String, Long> byThread = new HashMap<>();
    final Map<String, Long> byTopFrame = new HashMap<>();
    final Map<String, Long> byFirstAppFrame = new HashMap<>();
    final Map<String, Long> byComponent = new HashMap<>();
    final Map<String, Long> inclusive = new HashMap<>();
    final Map<String, Long> byKafkaApi = new HashMap<>();
    final Map<String, Long> waitMillisByFrame = new HashMap<>();
    final Map<String, Long> waitCountByFrame = new HashMap<>();
    long waitMillis;
    final Map<String, Long> allocByClass = new HashMap<>();
    final Map<String, Long> allocByFrame = new HashMap<>();
    long executionSamples;
    long allocationBytes;
    long gcCount;
    double gcPauseMillis;
    double gcPauseMaxMillis;
    long allocationStalls;
    double allocationStallMillis;
    double jvmCpuMean;
    long cpuLoadSamples;
    double recordingSeconds;

    static JfrSummary read(Path file) throws IOException {
        JfrSummary s = new JfrSummary();
        long first = Long.MAX_VALUE;
        long last = 0;
        double cpuSum = 0;
        try (RecordingFile f = new RecordingFile(file)) {
            while (f.hasMoreEvents()) {
                RecordedEvent e = f.readEvent();
                String type = e.getEventType().getName();
                long t = e.getStartTime().toEpochMilli();
                first = Math.min(first, t);
                last = Math.max(last, t);
                switch (type) {
                    case "jdk.ExecutionSample" -> s.execution(e);
                    case "jdk.ThreadPark", "jdk.JavaMonitorWait", "jdk.JavaMonitorEnter" -> s.waited(e);
                    case "jdk.ObjectAllocationSample" -> s.allocation(e);
                    case "jdk.GarbageCollection" -> {
                        s.gcCount++;
                        double pause = e.getDuration("sumOfPauses").toNanos() / 1e6;
                        s.gcPauseMillis += pause;
                        s.gcPauseMaxMillis = Math.max(s.gcPauseMaxMillis, e.getDuration("longestPause").toNanos() / 1e6);
                    }
                    case "jdk.ZAllocationStall" -> {
                        s.allocationStalls++;
                        s.allocationStallMillis += e.getDuration().toNanos() / 1e6;
                    }
                    case "jdk.CPULoad" -> {
                        s.cpuLoadSamples++;
                        cpuSum += e.getFloat("jvmUser") + e.getFloat("jvmSystem");
                    }
                    default -> {
                    }
                }
            }
        }
        s.jvmCpuMean = s.cpuLoadSamples == 0 ? 0 : cpuSum / s.cpuLoadSamples;
        s.recordingSeconds = first == Long.MAX_VALUE ? 0 : (last - first) / 1000.0;
        return s;
    }

    private void execution(RecordedEvent e) {
        executionSamples++;
        RecordedThread thread = e.getThread("sampledThread");
        String name = thread == null ? "?" : thread.getJavaName() != null ? thread.getJavaName() : thread.getOSName();
        if (name == null || name.isEmpty()) {
            name = thread != null && thread.isVirtual() ? "(virtual thread)" : "?";
        }
        byThread.merge(DIGITS.matcher(name).replaceAll("#"), 1L, Long::sum);
        RecordedStackTrace stack = e.getStackTrace();
        if (stack == null || stack.getFrames().isEmpty()) {
            return;
        }
        List<RecordedFrame> frames = stack.getFrames();
        byTopFrame.merge(frame(frames.getFirst()), 1L, Long::sum);
        String app = null;
        for (RecordedFrame f : frames) {
            if (!isJdk(f)) {
                app = frame(f);
                break;
            }
        }
        byFirstAppFrame.merge(app == null ? "(JDK only)" : app, 1L, Long::sum);
        byComponent.merge(component(frames), 1L, Long::sum);
        java.util.Set<String> seen = new java.util.HashSet<>();
        String api = null;
        for (RecordedFrame f : frames) {
            if (f.getMethod() == null || isJdk(f)) {
                continue;
            }
            String method = frame(f);
            if (seen.add(method)) {
                inclusive.merge(method, 1L, Long::sum);
            }
            if (api == null && method.startsWith("kafka.server.KafkaApis.handle")) {
                api = method.substring("kafka.server.KafkaApis.".length());
            }
        }
        if (api != null) {
            byKafkaApi.merge(api, 1L, Long::sum);
        }
    }

    /** A thread blocked (parked, waiting on or entering a monitor) for longer than the recording's threshold. */
    private void waited(RecordedEvent e) {
        long ms = e.getDuration().toMillis();
        waitMillis += ms;
        RecordedStackTrace stack = e.getStackTrace();
        String where = "?";
        if (stack != null) {
            String app = null;
            for (RecordedFrame f : stack.getFrames()) {
                if (f.getMethod() != null && f.getMethod().getType().getName().startsWith("io.tokenpipe")) {
                    where = frame(f);
                    break;
                }
                if (app == null && !isJdk(f)) {
                    app = frame(f);
                }
            }
            if (where.equals("?") && app != null) {
                where = app;
            }
        }
        waitMillisByFrame.merge(where, ms, Long::sum);
        waitCountByFrame.merge(where, 1L, Long::sum);
    }

    private void allocation(RecordedEvent e) {
        long weight = e.getLong("weight");
        allocationBytes += weight;
        String cls = e.getClass("objectClass") == null ? "?" : e.getClass("objectClass").getName();
        allocByClass.merge(cls, weight, Long::sum);
        RecordedStackTrace stack = e.getStackTrace();
        if (stack != null) {
            String app = null;
            for (RecordedFrame f : stack.getFrames()) {
                if (!isJdk(f)) {
                    app = frame(f);
                    break;
                }
            }
            allocByFrame.merge(app == null ? "(JDK only)" : app, weight, Long::sum);
        }
    }

    private static boolean isJdk(RecordedFrame f) {
        String c = f.getMethod() == null ? "" : f.getMethod().getType().getName();
        return c.startsWith("java.") || c.startsWith("jdk.") || c.startsWith("sun.") || c.startsWith("com.sun.");
    }

    private static String frame(RecordedFrame f) {
        if (f.getMethod() == null) {
            return "?";
        }
        String cls = f.getMethod().getType().getName();
        return cls + "." + f.getMethod().getName();
    }

    /** Which part of the server a sample belongs to: the outermost recognisable frame decides. */
    static String component(List<RecordedFrame> frames) {
        String found = null;
        for (RecordedFrame f : frames) {
            if (f.getMethod() == null) {
                continue;
            }
            String c = f.getMethod().getType().getName();
            String k = classify(c);
            if (k != null) {
                found = k; // keep going: the outermost one wins
            }
        }
        return found == null ? "JDK / other" : found;
    }

    private static String classify(String c) {
        if (c.startsWith("io.tokenpipe.delivery")) return "delivery-sse";
        if (c.startsWith("io.tokenpipe.worker")) return "inference-worker";
        if (c.startsWith("io.tokenpipe.ingest")) return "ingest-api";
        if (c.startsWith("io.tokenpipe.index")) return "session-index";
        if (c.startsWith("io.tokenpipe.bench")) return "direct server";
        if (c.startsWith("org.apache.kafka.streams") || c.startsWith("org.rocksdb")) return "Kafka Streams (session index)";
        if (c.startsWith("kafka.") || c.startsWith("org.apache.kafka.server") || c.startsWith("org.apache.kafka.storage")
                || c.startsWith("org.apache.kafka.raft") || c.startsWith("org.apache.kafka.coordinator")
                || c.startsWith("org.apache.kafka.metadata") || c.startsWith("org.apache.kafka.controller")
                || c.startsWith("org.apache.kafka.network") || c.startsWith("org.apache.kafka.image")) return "Kafka broker";
        if (c.startsWith("org.apache.kafka.clients")) return "Kafka clients";
        if (c.startsWith("org.eclipse.jetty") || c.startsWith("io.javalin")) return "Jetty / Javalin";
        return null;
    }

    Map<String, Object> json(int top) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("recording_seconds", recordingSeconds);
        m.put("execution_samples", executionSamples);
        m.put("jvm_cpu_mean_share_of_machine", Sampler.round(jvmCpuMean));
        m.put("by_component", shares(byComponent, top, executionSamples));
        m.put("by_thread", shares(byThread, top, executionSamples));
        m.put("top_frames", shares(byTopFrame, top, executionSamples));
        m.put("top_first_non_jdk_frames", shares(byFirstAppFrame, top, executionSamples));
        m.put("top_inclusive_non_jdk_frames", shares(inclusive, top * 2, executionSamples));
        m.put("broker_by_kafka_api", shares(byKafkaApi, top, executionSamples));
        m.put("allocated_mb_sampled_weight", Sampler.mb(allocationBytes));
        m.put("allocation_by_class", shares(allocByClass, top, allocationBytes));
        m.put("allocation_by_frame", shares(allocByFrame, top, allocationBytes));
        Map<String, Object> waits = new LinkedHashMap<>();
        waitMillisByFrame.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
                .forEach(e -> waits.put(e.getKey(), Map.of("seconds", e.getValue() / 1000.0,
                        "count", waitCountByFrame.getOrDefault(e.getKey(), 0L))));
        m.put("blocked_by_frame", waits);
        m.put("gc_count", gcCount);
        m.put("gc_pause_total_ms", Math.round(gcPauseMillis * 10) / 10.0);
        m.put("gc_pause_max_ms", Math.round(gcPauseMaxMillis * 100) / 100.0);
        m.put("z_allocation_stalls", allocationStalls);
        m.put("z_allocation_stall_ms", Math.round(allocationStallMillis * 10) / 10.0);
        return m;
    }

    private static Map<String, Double> shares(Map<String, Long> counts, int top, long total) {
        Map<String, Double> out = new LinkedHashMap<>();
        counts.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
                .forEach(e -> out.put(e.getKey(), total == 0 ? 0 : Math.round(1000.0 * e.getValue() / total) / 10.0));
        return out;
    }

    /** A markdown section. */
    String markdown(String mode, int top) {
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "#### %s server: %d execution samples over %.0f s; GC: %d collections, "
                        + "%.1f ms paused in total (longest %.2f ms), %d allocation stalls (%.1f ms)%n%n",
                mode, executionSamples, recordingSeconds, gcCount, gcPauseMillis, gcPauseMaxMillis, allocationStalls,
                allocationStallMillis));
        table(md, "component (outermost frame)", byComponent, executionSamples, top, Function.identity());
        table(md, "thread (digits as #)", byThread, executionSamples, top, Function.identity());
        table(md, "hottest frame (self)", byTopFrame, executionSamples, top, JfrSummary::shortName);
        table(md, "first non-JDK frame", byFirstAppFrame, executionSamples, top, JfrSummary::shortName);
        if (!byKafkaApi.isEmpty()) {
            table(md, "broker request (KafkaApis.handle…, inclusive)", byKafkaApi, executionSamples, top, Function.identity());
        }
        table(md, "inclusive non-JDK frame (on the stack)", inclusive, executionSamples, top + 10, JfrSummary::shortName);
        if (!waitMillisByFrame.isEmpty()) {
            md.append("Where threads (virtual ones included) blocked ≥ 10 ms (jdk.ThreadPark, JavaMonitorWait/Enter), by first "
                    + "tokenpipe frame; idle waits for the next event are expected, waits for shared resources are not:\n\n");
            md.append("| blocked in | total s | count |\n|---|---:|---:|\n");
            waitMillisByFrame.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
                    .forEach(e -> md.append("| `").append(shortName(e.getKey())).append("` | ")
                            .append(String.format(Locale.ROOT, "%,.1f", e.getValue() / 1000.0)).append(" | ")
                            .append(String.format(Locale.ROOT, "%,d", waitCountByFrame.getOrDefault(e.getKey(), 0L)))
                            .append(" |\n"));
            md.append('\n');
        }
        md.append(String.format(Locale.ROOT, "Allocation (sampled weight %.0f MB):%n%n", allocationBytes / 1048576.0));
        table(md, "allocated class", allocByClass, allocationBytes, top, Function.identity());
        table(md, "allocating frame (first non-JDK)", allocByFrame, allocationBytes, top, JfrSummary::shortName);
        return md.toString();
    }

    private static void table(StringBuilder md, String title, Map<String, Long> counts, long total, int top,
                              Function<String, String> name) {
        md.append("| ").append(title).append(" | share |\n|---|---:|\n");
        counts.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
                .forEach(e -> md.append("| `").append(name.apply(e.getKey())).append("` | ")
                        .append(String.format(Locale.ROOT, "%.1f%%", total == 0 ? 0 : 100.0 * e.getValue() / total))
                        .append(" |\n"));
        md.append('\n');
    }

    /** org.apache.kafka.common.network.Selector.poll -> o.a.k.common.network.Selector.poll */
    static String shortName(String frame) {
        return frame.replace("org.apache.kafka.", "o.a.k.").replace("org.eclipse.jetty.", "o.e.j.")
                .replace("com.fasterxml.jackson.", "c.f.j.");
    }
}
