package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.SerializationFeature;
import io.tokenpipe.common.event.Json;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/** report.json (every number), report.md (the readable summary) and latency.svg. */
final class Report {

    static final double TARGET_STREAMS = 10_000;
    static final double TARGET_HEAP_BYTES = 1024.0 * 1024 * 1024;
    static final double TARGET_CHUNK_P99_MS = 25;
    static final double TARGET_TTFT_P99_MS = 50;
    static final double TARGET_RESUME_P99_MS = 50;
    static final double TARGET_REPLAY_MS = 200;

    /** One target: what it asks, what was measured, and the verdict. */
    record Target(String name, String goal, String measured, String verdict, String gap) {
        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("target", name);
            m.put("goal", goal);
            m.put("measured", measured);
            m.put("verdict", verdict);
            m.put("gap", gap);
            return m;
        }
    }

    private final BenchOptions o;
    private final Map<String, Object> machine;
    private final List<ModeResult> results;
    private final Instant started;
    private final Instant ended;

    Report(BenchOptions o, Map<String, Object> machine, List<ModeResult> results, Instant started, Instant ended) {
        this.o = o;
        this.machine = machine;
        this.results = results;
        this.started = started;
        this.ended = ended;
    }

    boolean ok() {
        return results.stream().allMatch(ModeResult::correct);
    }

    ModeResult mode(BenchOptions.Mode mode) {
        return results.stream().filter(r -> r.mode == mode).findFirst().orElse(null);
    }

    /** Writes the three files; returns the markdown. */
    String write(Path dir) throws IOException {
        Files.createDirectories(dir);
        String md = markdown();
        Files.writeString(dir.resolve("report.md"), md);
        Files.writeString(dir.resolve("report.json"),
                Json.MAPPER.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(json()));
        Map<String, Histogram> series = new LinkedHashMap<>();
        for (ModeResult r : results) {
            if (r.load != null) {
                series.put(r.label(), r.load.chunkLatency);
            }
        }
        Files.writeString(dir.resolve("latency.svg"), Svg.percentilePlot(
                "Chunk delivery latency (produced_at → received by the client)",
                String.format(Locale.ROOT, "%d sessions × %d tokens at %s tokens/s, %d cores; %s",
                        o.sessions, o.tokens, num(o.rate), (Integer) machine.get("cores"), started),
                series, TARGET_CHUNK_P99_MS, "target p99 " + num(TARGET_CHUNK_P99_MS) + " ms"));
        return md;
    }

    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tool", "tokenpipe bench");
        m.put("started_at", started.toString());
        m.put("ended_at", ended.toString());
        m.put("ok", ok());
        m.put("machine", machine);
        m.put("parameters", o.describe());
        Map<String, Object> modes = new LinkedHashMap<>();
        for (ModeResult r : results) {
            modes.put(r.label(), r.json());
        }
        m.put("modes", modes);
        m.put("kafka_vs_direct", comparison());
        m.put("targets", targets().stream().map(Target::json).toList());
        return m;
    }

    private Map<String, Object> comparison() {
        ModeResult k = mode(BenchOptions.Mode.KAFKA);
        ModeResult d = mode(BenchOptions.Mode.DIRECT);
        Map<String, Object> m = new LinkedHashMap<>();
        if (k == null || d == null || k.load == null || d.load == null) {
            return m;
        }
        m.put("chunk_latency_p50_ratio", ratio(ModeResult.ms(k.load.chunkLatency, 50), ModeResult.ms(d.load.chunkLatency, 50)));
        m.put("chunk_latency_p99_ratio", ratio(ModeResult.ms(k.load.chunkLatency, 99), ModeResult.ms(d.load.chunkLatency, 99)));
        m.put("ttft_raw_p50_ratio", ratio(ModeResult.ms(k.load.ttftRaw, 50), ModeResult.ms(d.load.ttftRaw, 50)));
        m.put("ttft_ours_p50_ms_difference", ModeResult.round(ModeResult.ms(k.load.ttftOurs, 50) - ModeResult.ms(d.load.ttftOurs, 50)));
        m.put("ttft_ours_p99_ms_difference", ModeResult.round(ModeResult.ms(k.load.ttftOurs, 99) - ModeResult.ms(d.load.ttftOurs, 99)));
        m.put("server_cpu_per_chunk_ratio", ratio(k.cpuMicrosPerChunk(), d.cpuMicrosPerChunk()));
        m.put("heap_peak_ratio", ratio(k.peakHeapUsed(), d.peakHeapUsed()));
        m.put("rss_peak_ratio", ratio(k.peakRss(), d.peakRss()));
        return m;
    }

    private static Double ratio(double a, double b) {
        if (Double.isNaN(a) || Double.isNaN(b) || b <= 0) {
            return null;
        }
        return Math.round(a / b * 100) / 100.0;
    }

    List<Target> targets() {
        List<Target> t = new ArrayList<>();
        ModeResult k = mode(BenchOptions.Mode.KAFKA);
        boolean haveKafka = k != null && k.load != null;
        // 10,000 streams, heap <= 1 GiB
        if (!haveKafka) {
            t.add(new Target("10,000 streams on one node, heap ≤ 1 GiB", "10,000 open streams, heap ≤ 1 GiB", "—", "not run (no kafka mode)", ""));
        } else {
            String measured = String.format(Locale.ROOT, "%d open streams at peak; heap used peak %s MB, live after GC %s MB (max %s MB)",
                    k.peakOpenStreams(), mbText(k.peakHeapUsed()), mbText(k.liveHeapBytes), mbText(k.heapMax()));
            if (o.sessions < TARGET_STREAMS) {
                t.add(new Target("10,000 streams on one node, heap ≤ 1 GiB", "10,000 open streams, heap ≤ 1 GiB",
                        measured, "not exercised (run with --sessions 10000)", ""));
            } else {
                boolean streams = k.peakOpenStreams() >= TARGET_STREAMS && k.load.correctness.incomplete == 0
                        && k.load.correctness.failedSessions == 0;
                boolean heap = k.peakHeapUsed() > 0 && k.peakHeapUsed() <= TARGET_HEAP_BYTES;
                String gap = "";
                if (k.peakOpenStreams() < TARGET_STREAMS) {
                    gap = "held " + k.peakOpenStreams() + " of " + (int) TARGET_STREAMS + " streams";
                }
                if (k.load.correctness.failedSessions > 0 || k.load.correctness.incomplete > 0) {
                    gap += (gap.isEmpty() ? "" : "; ") + "streams were held, but " + k.load.correctness.failedSessions
                            + " sessions failed (HTTP errors after retries: " + k.load.errorKinds + ") and "
                            + k.load.correctness.incomplete + " accepted turns did not complete";
                }
                if (!heap) {
                    gap += (gap.isEmpty() ? "" : "; ") + "heap peak " + mbText(k.peakHeapUsed()) + " MB > 1024 MB";
                }
                t.add(new Target("10,000 streams on one node, heap ≤ 1 GiB", "10,000 open streams, heap ≤ 1 GiB",
                        measured, streams && heap ? "PASS" : "MISS", gap));
            }
            t.add(msTarget("chunk delivery latency p99", TARGET_CHUNK_P99_MS,
                    ModeResult.ms(k.load.chunkLatency, 99), o.sessions == 1_000 && o.rate == 20 ? ""
                            : " (target is stated at 1,000 streams × 20 tokens/s; this run: " + o.sessions + " × " + num(o.rate) + ")"));
            t.add(msTarget("time to first token, ours, p99", TARGET_TTFT_P99_MS, ModeResult.ms(k.load.ttftOurs, 99), ""));
            t.add(msTarget("resume to first missed event p99", TARGET_RESUME_P99_MS, ModeResult.ms(k.load.resume, 99), ""));
            if (k.replay == null || k.replay.millis().isEmpty()) {
                t.add(new Target("replay of a " + o.replayEvents + "-event session", "≤ 200 ms", "—",
                        k.replay == null ? "not run" : "FAILED: " + k.replay.problem(), ""));
            } else {
                double max = k.replay.max();
                String replayMeasured = String.format(Locale.ROOT, "first %s ms, median %s ms, max %s ms (%d runs)%s",
                        num(k.replay.millis().getFirst()), num(k.replay.median()), num(max), k.replay.millis().size(),
                        k.replay.correct() ? "" : "; INCORRECT: " + k.replay.problem());
                boolean pass = max <= TARGET_REPLAY_MS && k.replay.correct();
                t.add(new Target("replay of a " + o.replayEvents + "-event session (worst run)", "≤ 200 ms", replayMeasured,
                        pass ? "PASS" : "MISS", pass ? "" : gapText(max, TARGET_REPLAY_MS)));
            }
        }
        // Correctness, every mode.
        StringBuilder measured = new StringBuilder();
        for (ModeResult r : results) {
            if (!measured.isEmpty()) {
                measured.append("; ");
            }
            if (r.load == null) {
                measured.append(r.label()).append(": did not run (").append(r.failure).append(')');
                continue;
            }
            LoadRun.Correctness c = r.load.correctness;
            measured.append(String.format(Locale.ROOT, "%s: %d lost, %d doubled, %d reordered, %d text mismatches, %d incomplete, %d failed, %d/%d replay mismatches",
                    r.label(), c.lost, c.duplicated, c.reordered, c.textMismatch, c.incomplete, c.failedSessions,
                    c.replayMismatch, c.replayChecked));
        }
        t.add(new Target("zero lost, doubled or reordered chunks", "0 in every run", measured.toString(),
                ok() ? "PASS" : "FAIL", ""));
        return t;
    }

    private Target msTarget(String name, double goal, double measured, String note) {
        if (Double.isNaN(measured)) {
            return new Target(name, "≤ " + num(goal) + " ms", "no samples" + note, "not measured", "");
        }
        boolean pass = measured <= goal;
        return new Target(name, "≤ " + num(goal) + " ms", num(measured) + " ms" + note, pass ? "PASS" : "MISS",
                pass ? "" : gapText(measured, goal));
    }

    private static String gapText(double measured, double goal) {
        return String.format(Locale.ROOT, "over by %s ms (%.1f× the target)", num(measured - goal), measured / goal);
    }

    // --- markdown ----------------------------------------------------------------------------------

    String markdown() {
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "# tokenpipe benchmark: %,d sessions × %d tokens at %s tokens/s%n%n",
                o.sessions, o.tokens, num(o.rate)));
        md.append(ok() ? "**Result: every chunk delivered exactly once and in order, in every mode.**\n\n"
                : "**RESULT: FAIL. Chunks were lost, doubled or reordered, or sessions failed (see Correctness).**\n\n");
        md.append(String.format(Locale.ROOT, "Run %s → %s. Machine: %s cores (%s), %s GiB RAM, %s; JDK %s (%s).%n%n",
                started, ended, machine.get("cores"), machine.get("cpu_model"), machine.get("memory_gib"),
                machine.get("os"), machine.get("jdk_version"), machine.get("jdk_vendor")));
        md.append(String.format(Locale.ROOT, "Workload: %,d sessions opened over %s s; each opens its SSE stream, then submits one "
                        + "turn of %d tokens at %s tokens/s with a model time to first token of %d ms. %d clients (%s) drop "
                        + "mid-turn, stay away %d ms and resume with Last-Event-ID. All streams are held %s s after the last "
                        + "turn completed. Server JVM: `%s`. Before the measurement, %s. Client and server share the "
                        + "machine's cores.%s%n%n",
                o.sessions, num(o.rampSeconds()), o.tokens, num(o.rate), o.ttftMs, o.droppedSessions(),
                pct(o.dropShare), o.dropPauseMs, num(o.holdSeconds), o.serverJvmOpts,
                o.warmupSessions <= 0 ? "no warm-up"
                        : "an unmeasured warm-up of rounds of " + o.warmupSessions + " short turns for "
                        + num(o.warmupSeconds) + " s (at least one round)",
                o.jfr ? " JFR (settings=profile) was recording the server during the load phase." : ""));

        md.append("## Targets (kafka mode: the product)\n\n| target | goal | measured | verdict | gap |\n|---|---|---|---|---|\n");
        for (Target t : targets()) {
            md.append("| ").append(t.name()).append(" | ").append(t.goal()).append(" | ").append(t.measured())
                    .append(" | **").append(t.verdict()).append("** | ").append(t.gap()).append(" |\n");
        }
        md.append('\n');

        md.append("## Kafka vs direct\n\n");
        List<ModeResult> ran = results.stream().filter(r -> r.load != null).toList();
        boolean both = mode(BenchOptions.Mode.KAFKA) != null && mode(BenchOptions.Mode.DIRECT) != null
                && mode(BenchOptions.Mode.KAFKA).load != null && mode(BenchOptions.Mode.DIRECT).load != null;
        md.append("| metric |");
        ran.forEach(r -> md.append(' ').append(r.label()).append(" |"));
        if (both) {
            md.append(" kafka / direct |");
        }
        md.append("\n|---|");
        ran.forEach(r -> md.append("---:|"));
        if (both) {
            md.append("---:|");
        }
        md.append('\n');
        latencyRows(md, ran, both, "chunk latency", r -> r.load.chunkLatency);
        latencyRows(md, ran, both, "TTFT raw (202 → first token)", r -> r.load.ttftRaw, 50, 99);
        latencyRows(md, ran, both, "TTFT ours (raw − model's " + o.ttftMs + " ms)", r -> r.load.ttftOurs, 50, 99);
        latencyRows(md, ran, both, "resume → first missed event", r -> r.load.resume, 50, 99);
        latencyRows(md, ran, both, "POST turn → 202", r -> r.load.accept, 50, 99);
        latencyRows(md, ran, both, "GET events → stream open", r -> r.load.connect, 50, 99);
        row(md, ran, both, "replay " + o.replayEvents + " events: first / median / max (ms)", r -> r.replay == null || r.replay.millis().isEmpty() ? "—"
                : num(r.replay.millis().getFirst()) + " / " + num(r.replay.median()) + " / " + num(r.replay.max()),
                r -> r.replay == null || r.replay.millis().isEmpty() ? Double.NaN : r.replay.median());
        row(md, ran, both, "chunks/s delivered: mean / peak", r -> String.format(Locale.ROOT, "%,.0f / %,d",
                r.meanChunksPerSecond(), r.peakChunksPerSecond()), ModeResult::meanChunksPerSecond);
        row(md, ran, both, "prompts/s accepted (during the ramp)", r -> num(r.promptsPerSecond()), ModeResult::promptsPerSecond);
        row(md, ran, both, "server CPU cores: mean / peak", r -> num(r.meanServerCores()) + " / " + num(r.peakServerCores()),
                ModeResult::meanServerCores);
        row(md, ran, both, "server CPU per delivered chunk (µs)", r -> num(r.cpuMicrosPerChunk()), ModeResult::cpuMicrosPerChunk);
        row(md, ran, both, "bench client CPU cores: mean", r -> num(r.meanBenchCores()), ModeResult::meanBenchCores);
        row(md, ran, both, "machine CPU busy cores: mean / peak", r -> num(r.meanMachineCores()) + " / " + num(r.peakMachineCores()),
                ModeResult::meanMachineCores);
        row(md, ran, both, "other processes' CPU cores: mean (noise)", r -> num(r.meanOtherCores()), r -> Double.NaN);
        row(md, ran, both, "heap used: peak / mean (MB)", r -> mbText(r.peakHeapUsed()) + " / " + mbText((long) r.meanHeapUsed()),
                r -> r.peakHeapUsed());
        row(md, ran, both, "live heap after forced GC, all streams open (MB)", r -> mbText(r.liveHeapBytes)
                + (r.openStreamsAtLiveHeap >= 0 ? " @ " + r.openStreamsAtLiveHeap + " streams" : ""), r -> r.liveHeapBytes);
        row(md, ran, both, "heap max (MB)", r -> mbText(r.heapMax()), r -> Double.NaN);
        row(md, ran, both, "RSS: peak / mean (MB)", r -> mbText(r.peakRss()) + " / " + mbText((long) r.meanOf(Sampler.Sample::rss)),
                r -> r.peakRss());
        row(md, ran, both, "threads: peak / mean", r -> r.peakThreads() + " / " + num(r.meanOf(Sampler.Sample::threads)),
                r -> r.peakThreads());
        row(md, ran, both, "open streams (server /metrics/runtime): peak / mean", r -> r.peakOpenStreams() + " / "
                + num(r.meanOf(Sampler.Sample::openStreams)), r -> Double.NaN);
        row(md, ran, both, "turns in flight peak", r -> Integer.toString(r.peakInflight()), r -> Double.NaN);
        row(md, ran, both, "chunks delivered / resumes / heartbeats", r -> String.format(Locale.ROOT, "%,d / %d / %d",
                r.load.chunks, r.load.resumes, r.load.heartbeats), r -> Double.NaN);
        row(md, ran, both, "HTTP retries (503) / unexpected disconnects", r -> r.load.httpRetries + " / " + r.load.unexpectedDisconnects,
                r -> Double.NaN);
        row(md, ran, both, "server start (s)", r -> num(r.serverStartSeconds), r -> Double.NaN);
        md.append('\n');
        md.append("Latency percentiles are over every live token chunk (HdrHistogram, µs resolution): produced_at is "
                + "stamped by the worker (direct: by the in-process model loop) when the token is created; received is the "
                + "client's wall clock when the bytes were read. Chunks a resumed client had missed count toward the resume "
                + "time, not toward chunk latency. CPU figures come from /proc/<pid>/stat sampled every second.\n\n");
        for (ModeResult r : results) {
            if (r.failure != null) {
                md.append("**").append(r.label()).append(" mode failed to run:** ").append(r.failure).append("\n\n");
            }
        }

        md.append("## Correctness\n\n| mode | lost | doubled | reordered | text mismatches | incomplete | failed | foreign | replay-checked | replay mismatches | replay of long session |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (ModeResult r : ran) {
            LoadRun.Correctness c = r.load.correctness;
            md.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |%n", r.label(),
                    c.lost, c.duplicated, c.reordered, c.textMismatch, c.incomplete, c.failedSessions, c.foreignEvents,
                    c.replayChecked, c.replayMismatch,
                    r.replay == null ? "not run" : r.replay.correct() ? "complete, in order, text matches" : "WRONG: " + r.replay.problem()));
        }
        md.append("\nEvery client checks each event as it arrives (ids strictly increasing, indexes 0..n with no gap or "
                + "repeat, the turn's id) and, at the end, its text against the synthetic model's output for its prompt "
                + "and seed. Every dropped client, and a sample of the others, is also compared event by event (id and "
                + "index) with a `?follow=false` replay of its session.\n\n");
        for (ModeResult r : ran) {
            if (r.anomaliesFile != null) {
                md.append("Every session with a fault in ").append(r.label()).append(" mode is described (its connections, what "
                        + "each delivered, and what a replay of its session returns) in `").append(r.anomaliesFile).append("`.\n\n");
            }
        }
        for (ModeResult r : ran) {
            if (!r.load.errors.isEmpty()) {
                md.append("Errors in ").append(r.label()).append(" mode (").append(r.load.errorKinds).append("), first ones:\n\n");
                r.load.errors.stream().limit(10).forEach(e -> md.append("- ").append(e).append('\n'));
                md.append('\n');
            }
        }

        md.append("""
                ## What the direct mode omits

                `direct` runs `io.tokenpipe.bench.DirectServer` as the child process: the product's own turn and stream
                code with the Kafka hop taken out. Turns run in the worker's `SessionLanes` and `TurnRunner` (the same
                synthetic model, stop filter and max-tokens limit) and write to an in-memory log instead of a partition
                writer; clients are served by delivery-sse's own `SseEndpoint` and `SseStream` (the same per-stream
                threads, bounded queues, resume logic and SSE framing) reading that log instead of the stream topic. It
                leaves out the embedded broker and its log (nothing durable; a restart loses every session), the prompts
                topic and the workers' consumer group (a turn is handed to its lane on the POST's thread), the partition
                writers (no fencing, no take-over), the live tail and history readers, the Kafka Streams session index (a
                lookup is a map get; no read-your-writes wait), transcripts and cancellation. The difference between the
                two columns is therefore what durability, resumability across nodes and
                exactly-once delivery through Kafka cost on this machine.

                """);
        for (ModeResult r : results) {
            if (r.cluster != null) {
                md.append("## Cluster: per process").append(o.chaos ? ", and the faults injected" : "").append("\n\n")
                        .append(r.cluster.markdown())
                        .append("CPU is each process's /proc ticks over the load phase, every incarnation counted. The tail's "
                                + "fetch is what each delivery node's live tail consumer read from the stream topic during the "
                                + "load (its Kafka client metrics); a node restarted meanwhile counts from its restart.\n\n");
            }
        }
        for (ModeResult r : results) {
            if (r.stages != null) {
                md.append("## Where a chunk's time goes inside the server (").append(r.label()).append(" mode)\n\n")
                        .append(r.stages.markdown()).append('\n');
            }
            if (r.probeMarkdown != null) {
                md.append("## Where a chunk's latency goes (").append(r.label()).append(" mode)\n\n").append(r.probeMarkdown).append('\n');
            }
        }
        for (ModeResult r : results) {
            if (r.jfrMarkdown != null) {
                md.append("## Profile: ").append(r.label()).append(" (JFR, load phase)\n\n").append(r.jfrMarkdown).append('\n');
            }
            if (r.jfrReplayMarkdown != null) {
                md.append("## Profile: ").append(r.label()).append(" (JFR, the timed replays only)\n\n").append(r.jfrReplayMarkdown).append('\n');
            }
        }
        md.append("Files: `report.json` (all numbers, per-second samples), `latency.svg` (percentile plot), "
                + "`server-<mode>.log`" + (o.liveHeap ? ", `heap-histogram-<mode>.txt` (class histogram with every stream open)" : "")
                + (o.jfr ? ", `server-<mode>.jfr`, `server-<mode>-replay.jfr`" : "") + ".\n");
        return md.toString();
    }

    private void latencyRows(StringBuilder md, List<ModeResult> ran, boolean both, String name,
                             Function<ModeResult, Histogram> h) {
        latencyRows(md, ran, both, name, h, 50, 90, 99, 99.9, 100);
    }

    private void latencyRows(StringBuilder md, List<ModeResult> ran, boolean both, String name,
                             Function<ModeResult, Histogram> h, double... percentiles) {
        for (double p : percentiles) {
            String label = name + " " + (p == 100 ? "max" : "p" + num(p)) + " (ms)";
            row(md, ran, both, label, r -> h.apply(r).getTotalCount() == 0 ? "—"
                    : num(p == 100 ? ModeResult.maxMs(h.apply(r)) : ModeResult.ms(h.apply(r), p)),
                    r -> p == 100 ? ModeResult.maxMs(h.apply(r)) : ModeResult.ms(h.apply(r), p));
        }
    }

    private void row(StringBuilder md, List<ModeResult> ran, boolean both, String name, Function<ModeResult, String> text,
                     ToDoubleFunction<ModeResult> value) {
        md.append("| ").append(name).append(" |");
        for (ModeResult r : ran) {
            md.append(' ').append(text.apply(r)).append(" |");
        }
        if (both) {
            ModeResult k = mode(BenchOptions.Mode.KAFKA);
            ModeResult d = mode(BenchOptions.Mode.DIRECT);
            Double ratio = ratio(value.applyAsDouble(k), value.applyAsDouble(d));
            md.append(' ').append(ratio == null ? "" : num(ratio) + "×").append(" |");
        }
        md.append('\n');
    }

    static String num(double v) {
        if (Double.isNaN(v)) {
            return "—";
        }
        if (Math.abs(v) >= 100) {
            return String.format(Locale.ROOT, "%,.0f", v);
        }
        if (Math.abs(v) >= 10) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String num(Double v) {
        return v == null ? "—" : num(v.doubleValue());
    }

    private static String pct(double share) {
        return String.format(Locale.ROOT, "%.0f%%", share * 100);
    }

    static String mbText(long bytes) {
        return bytes < 0 ? "—" : String.format(Locale.ROOT, "%,.0f", bytes / 1048576.0);
    }
}
