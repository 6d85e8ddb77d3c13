package io.tokenpipe.bench;

import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Everything measured for one mode (kafka or direct), and the figures the report derives from it. */
final class ModeResult {

    final BenchOptions.Mode mode;
    LoadRun.Result load;
    Replays.ReplayResult replay;
    List<Sampler.Sample> samples = List.of();
    long samplerStartMillis;
    double serverCpuSecondsLoad = -1;
    long liveHeapBytes = -1;
    int openStreamsAtLiveHeap = -1;
    JfrSummary jfr;
    String jfrFile;
    String jfrMarkdown;
    Map<String, Object> probeJson;
    ServerStages stages;
    String probeMarkdown;
    String anomaliesFile;
    String heapHistogramFile;
    JfrSummary jfrReplay;
    String jfrReplayMarkdown;
    double serverStartSeconds;
    List<String> serverCommand = List.of();
    Map<String, String> serverEnv = Map.of();
    String serverLog;
    boolean warmupOk = true;
    int warmupRounds;
    double[] settle; // seconds waited after the warm-up, server cores when the measurement began
    String failure; // the mode could not run at all
    ClusterFigures cluster; // cluster mode: per process, and the chaos run's faults

    ModeResult(BenchOptions.Mode mode) {
        this.mode = mode;
    }

    String label() {
        return mode.label();
    }

    boolean correct() {
        return failure == null && load != null && load.correctness.ok() && (replay == null || replay.correct());
    }

    // --- derived figures ---------------------------------------------------------------------------

    static double ms(Histogram h, double percentile) {
        return h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(percentile) / 1000.0;
    }

    static double maxMs(Histogram h) {
        return h.getTotalCount() == 0 ? Double.NaN : h.getMaxValue() / 1000.0;
    }

    /** Samples of the load phase (first session opened until the last turn completed). */
    List<Sampler.Sample> loadSamples() {
        if (load == null) {
            return List.of();
        }
        List<Sampler.Sample> out = new ArrayList<>();
        for (Sampler.Sample s : samples) {
            long at = s.atMillis() * 1000;
            if (at > load.startMicros && at <= load.allCompletedMicros + 1_000_000) {
                out.add(s);
            }
        }
        return out;
    }

    double meanServerCores() {
        return loadSamples().stream().mapToDouble(Sampler.Sample::serverCores).average().orElse(Double.NaN);
    }

    double peakServerCores() {
        return loadSamples().stream().mapToDouble(Sampler.Sample::serverCores).max().orElse(Double.NaN);
    }

    double meanBenchCores() {
        return loadSamples().stream().mapToDouble(Sampler.Sample::benchCores).average().orElse(Double.NaN);
    }

    double meanMachineCores() {
        return loadSamples().stream().mapToDouble(Sampler.Sample::machineBusyCores).average().orElse(Double.NaN);
    }

    /** CPU used by neither the server nor the benchmark (other work on the machine): noise to watch. */
    double meanOtherCores() {
        return loadSamples().stream().mapToDouble(s -> Math.max(0, s.machineBusyCores() - s.serverCores() - s.benchCores()))
                .average().orElse(Double.NaN);
    }

    double peakMachineCores() {
        return loadSamples().stream().mapToDouble(Sampler.Sample::machineBusyCores).max().orElse(Double.NaN);
    }

    long peakHeapUsed() {
        return samples.stream().mapToLong(Sampler.Sample::heapUsed).max().orElse(-1);
    }

    double meanHeapUsed() {
        return samples.stream().filter(s -> s.heapUsed() >= 0).mapToLong(Sampler.Sample::heapUsed).average().orElse(-1);
    }

    long heapMax() {
        return samples.stream().mapToLong(Sampler.Sample::heapMax).max().orElse(-1);
    }

    double meanOf(java.util.function.ToDoubleFunction<Sampler.Sample> f) {
        return samples.stream().mapToDouble(f).filter(v -> v >= 0).average().orElse(Double.NaN);
    }

    long peakRss() {
        return samples.stream().mapToLong(Sampler.Sample::rss).max().orElse(-1);
    }

    int peakThreads() {
        return samples.stream().mapToInt(Sampler.Sample::threads).max().orElse(-1);
    }

    int peakOpenStreams() {
        return samples.stream().mapToInt(Sampler.Sample::openStreams).max().orElse(-1);
    }

    int peakInflight() {
        return samples.stream().mapToInt(Sampler.Sample::inflightTurns).max().orElse(-1);
    }

    double meanChunksPerSecond() {
        return load == null ? Double.NaN : load.chunks / load.loadSeconds();
    }

    long peakChunksPerSecond() {
        if (load == null) {
            return -1;
        }
        long peak = 0;
        for (long c : load.chunksPerSecond) {
            peak = Math.max(peak, c);
        }
        return peak;
    }

    double promptsPerSecond() {
        if (load == null || load.acceptedTurns < 2 || load.lastAcceptMicros <= load.firstAcceptMicros) {
            return Double.NaN;
        }
        return (load.acceptedTurns - 1) / ((load.lastAcceptMicros - load.firstAcceptMicros) / 1e6);
    }

    /** Server CPU microseconds spent per chunk delivered during the load phase. */
    double cpuMicrosPerChunk() {
        if (load == null || load.chunks == 0 || serverCpuSecondsLoad < 0) {
            return Double.NaN;
        }
        return serverCpuSecondsLoad * 1e6 / load.chunks;
    }

    static Map<String, Object> percentiles(Histogram h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", h.getTotalCount());
        if (h.getTotalCount() > 0) {
            m.put("mean_ms", round(h.getMean() / 1000.0));
            m.put("p50_ms", round(ms(h, 50)));
            m.put("p90_ms", round(ms(h, 90)));
            m.put("p99_ms", round(ms(h, 99)));
            m.put("p99_9_ms", round(ms(h, 99.9)));
            m.put("p99_99_ms", round(ms(h, 99.99)));
            m.put("max_ms", round(maxMs(h)));
            // The whole histogram (HdrHistogram's compressed encoding), so runs can be re-plotted or merged later:
            // Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(s)), 0).
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(h.getNeededByteBufferCapacity());
            int length = h.encodeIntoCompressedByteBuffer(buffer);
            m.put("hdr_histogram_us_base64", java.util.Base64.getEncoder().encodeToString(
                    java.util.Arrays.copyOf(buffer.array(), length)));
        }
        return m;
    }

    static double round(double v) {
        return Double.isNaN(v) ? v : Math.round(v * 1000) / 1000.0;
    }

    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", label());
        m.put("correct", correct());
        if (failure != null) {
            m.put("failure", failure);
        }
        Map<String, Object> server = new LinkedHashMap<>();
        server.put("command", serverCommand);
        server.put("env", serverEnv);
        server.put("log", serverLog);
        server.put("start_seconds", round(serverStartSeconds));
        m.put("server", server);
        if (load == null) {
            return m;
        }
        LoadRun.Result r = load;
        m.put("correctness", r.correctness.json());
        m.put("warmup_ok", warmupOk);
        m.put("warmup_rounds", warmupRounds);
        if (settle != null) {
            m.put("settled_after_seconds", settle[0]);
            m.put("server_cores_when_measuring_began", settle[1]);
        }
        m.put("chunk_latency", percentiles(r.chunkLatency));
        m.put("ttft_raw", percentiles(r.ttftRaw));
        m.put("ttft_ours", percentiles(r.ttftOurs));
        m.put("resume_to_first_missed_event", percentiles(r.resume));
        m.put("post_turn_to_202", percentiles(r.accept));
        m.put("get_events_to_stream_open", percentiles(r.connect));
        m.put("replay", replay == null ? null : replay.json());
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("load_seconds", round(r.loadSeconds()));
        t.put("chunks_delivered", r.chunks);
        t.put("events_delivered", r.events);
        t.put("chunks_per_second_mean", round(meanChunksPerSecond()));
        t.put("chunks_per_second_peak", peakChunksPerSecond());
        t.put("prompts_accepted", r.acceptedTurns);
        t.put("prompts_per_second", round(promptsPerSecond()));
        t.put("sessions_created", r.createdSessions);
        t.put("heartbeats", r.heartbeats);
        t.put("resumes", r.resumes);
        t.put("http_retries", r.httpRetries);
        t.put("unexpected_disconnects", r.unexpectedDisconnects);
        t.put("negative_latencies_clamped", r.negativeLatencies);
        t.put("client_bytes_read", r.clientBytes);
        m.put("throughput", t);
        Map<String, Object> res = new LinkedHashMap<>();
        res.put("server_cpu_seconds_load", round(serverCpuSecondsLoad));
        res.put("server_cores_mean", round(meanServerCores()));
        res.put("server_cores_peak", round(peakServerCores()));
        res.put("server_cpu_us_per_chunk", round(cpuMicrosPerChunk()));
        res.put("bench_cores_mean", round(meanBenchCores()));
        res.put("machine_busy_cores_mean", round(meanMachineCores()));
        res.put("machine_busy_cores_peak", round(peakMachineCores()));
        res.put("other_processes_cores_mean", round(meanOtherCores()));
        res.put("heap_used_peak_mb", Sampler.mb(peakHeapUsed()));
        res.put("heap_used_mean_mb", Sampler.mb((long) meanHeapUsed()));
        res.put("heap_max_mb", Sampler.mb(heapMax()));
        res.put("live_heap_after_gc_mb", Sampler.mb(liveHeapBytes));
        res.put("open_streams_at_live_heap", openStreamsAtLiveHeap);
        res.put("rss_peak_mb", Sampler.mb(peakRss()));
        res.put("rss_mean_mb", Sampler.mb((long) meanOf(Sampler.Sample::rss)));
        res.put("threads_peak", peakThreads());
        res.put("threads_mean", round(meanOf(Sampler.Sample::threads)));
        res.put("open_streams_peak", peakOpenStreams());
        res.put("open_streams_mean", round(meanOf(Sampler.Sample::openStreams)));
        res.put("inflight_turns_peak", peakInflight());
        m.put("resources", res);
        m.put("errors", r.errors);
        m.put("anomalies_file", anomaliesFile);
        m.put("heap_histogram_file", heapHistogramFile);
        m.put("error_kinds", r.errorKinds);
        List<Long> perSecond = new ArrayList<>();
        int last = r.chunksPerSecond.length - 1;
        while (last > 0 && r.chunksPerSecond[last] == 0) {
            last--;
        }
        for (int i = 0; i <= last; i++) {
            perSecond.add(r.chunksPerSecond[i]);
        }
        m.put("chunks_per_second_timeline", perSecond);
        List<Map<String, Object>> timeline = new ArrayList<>();
        for (Sampler.Sample s : samples) {
            timeline.add(s.json(r.startMicros / 1000));
        }
        m.put("samples", timeline);
        if (stages != null) {
            m.put("server_stages", stages.json());
        }
        if (cluster != null) {
            m.put("cluster", cluster.json());
        }
        if (probeJson != null) {
            m.put("kafka_probe_stages", probeJson);
        }
        if (jfr != null) {
            m.put("jfr_file", jfrFile);
            m.put("jfr", jfr.json(25));
        }
        if (jfrReplay != null) {
            m.put("jfr_replay", jfrReplay.json(25));
        }
        return m;
    }
}
