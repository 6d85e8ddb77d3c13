package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The load and latency benchmark: {@code ./tokenpipe bench [options]} (see {@link BenchOptions#usage()}).
 * For each mode it starts the server as a child JVM, warms it up, runs the workload with real SSE
 * clients while sampling the server every second, checks every stream, times resumes and the
 * replay of a long session, stops the server, and finally writes report.json, report.md and
 * latency.svg and prints the markdown.
 */
public final class Bench {

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss");

    /** What a benchmark run produced. */
    public record Outcome(Path outDir, boolean ok, String markdown, List<ModeResult> results) {
        /** The correctness counters of a mode, or null when the mode did not run. */
        public Map<String, Object> correctness(String mode) {
            for (ModeResult r : results) {
                if (r.label().equals(mode) && r.load != null) {
                    return r.load.correctness.json();
                }
            }
            return null;
        }

        public String failure(String mode) {
            for (ModeResult r : results) {
                if (r.label().equals(mode)) {
                    return r.failure;
                }
            }
            return "mode " + mode + " was not run";
        }
    }

    private Bench() {
    }

    public static void main(String[] args) {
        BenchOptions options;
        try {
            options = BenchOptions.parse(args);
        } catch (BenchOptions.UsageException e) {
            if (e.getMessage() != null) {
                System.err.println("bench: " + e.getMessage());
                System.err.println();
            }
            System.err.print(BenchOptions.usage());
            System.exit(e.getMessage() == null ? 0 : 2);
            return;
        }
        try {
            Outcome outcome = run(options);
            System.out.println(outcome.markdown());
            System.out.println("Report: " + outcome.outDir().toAbsolutePath());
            if (!outcome.ok()) {
                System.out.println();
                System.out.println("BENCHMARK FAILED: chunks were lost, doubled or reordered, or sessions failed; see the Correctness section.");
            }
            System.exit(outcome.ok() ? 0 : 1);
        } catch (Exception e) {
            System.err.println("bench: the benchmark itself failed: " + e);
            e.printStackTrace();
            System.exit(2);
        }
    }

    public static Outcome run(BenchOptions o) throws Exception {
        Path out = o.outDir();
        Files.createDirectories(out);
        standaloneJar(o); // fail early when it is missing
        Instant started = Instant.now();
        progress(o, "writing to " + out.toAbsolutePath());
        List<ModeResult> results = new ArrayList<>();
        for (BenchOptions.Mode mode : o.modes) {
            results.add(runMode(o, mode, out));
        }
        Report report = new Report(o, machine(), results, started, Instant.now());
        String markdown = report.write(out);
        return new Outcome(out, report.ok(), markdown, results);
    }

    /** The shaded standalone jar: --standalone-jar, else standalone/target/ under the repository root. */
    static Path standaloneJar(BenchOptions o) {
        if (o.standaloneJar != null) {
            if (!Files.isRegularFile(o.standaloneJar)) {
                throw new IllegalStateException("--standalone-jar " + o.standaloneJar + " does not exist");
            }
            return o.standaloneJar;
        }
        Path found = locateStandaloneJar();
        if (found == null) {
            throw new IllegalStateException("standalone/target/tokenpipe-standalone.jar not found from "
                    + Path.of("").toAbsolutePath() + ": build it (./mvnw -q -B -DskipTests -pl bench -am package, "
                    + "which ./tokenpipe bench does) or pass --standalone-jar");
        }
        return found;
    }

    /** Looks in the working directory and its parents (the repository root, or bench/ under it). */
    public static Path locateStandaloneJar() {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path jar = dir.resolve("standalone/target/tokenpipe-standalone.jar");
            if (Files.isRegularFile(jar)) {
                return jar;
            }
        }
        return null;
    }

    private static ModeResult runMode(BenchOptions o, BenchOptions.Mode mode, Path out) {
        ModeResult mr = new ModeResult(mode);
        String label = mode.label();
        int warmup = o.warmupSessions;
        long t0 = System.nanoTime();
        SystemUnderTest server = null;
        List<ClientLoop> loops = new ArrayList<>();
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("bench-scheduler").daemon().factory());
        try {
            progress(o, label + ": starting the server");
            server = mode == BenchOptions.Mode.CLUSTER
                    ? Cluster.start(o, out, o.sessions + warmup + 16, o.sessions + warmup + 2)
                    : ServerProcess.start(o, mode, out, o.sessions + warmup + 16, o.sessions + warmup + 2);
            mr.serverCommand = server.command();
            mr.serverEnv = server.env();
            mr.serverLog = out.relativize(server.log()).toString();
            try (Api api = new Api(server.base(), server.streamAddresses())) {
                server.awaitHealthy(api.http(), Duration.ofSeconds(300));
                mr.serverStartSeconds = (System.nanoTime() - t0) / 1e9;
                progress(o, String.format("%s: server up in %.1f s (pid %d, %s)", label, mr.serverStartSeconds,
                        server.pid(), server.base()));
                for (int i = 0; i < o.clientThreads; i++) {
                    loops.add(new ClientLoop("bench-sse-" + i));
                }

                if (warmup > 0) {
                    // Rounds of short turns until the warm-up time is up: the embedded broker, Streams and
                    // Jetty keep the JIT busy for more than a minute, and it must not share the measured phase.
                    long until = System.nanoTime() + (long) (o.warmupSeconds * 1e9);
                    int round = 0;
                    do {
                        round++;
                        LoadRun.Workload w = new LoadRun.Workload(label + "-warmup-" + round, warmup,
                                Math.min(o.tokens, 20), Math.max(o.rate, 50), Math.min(o.ttftMs, 50),
                                Math.min(3, warmup / 50.0), Math.min(warmup, 5), 200, 0, 120, o.seed + round);
                        progress(o, label + ": warm-up round " + round + " with " + warmup + " sessions");
                        LoadRun.Result r = new LoadRun(w, api, loops, scheduler, s -> { }).run(null);
                        if (!r.correctness.ok()) {
                            mr.warmupOk = false;
                            progress(o, label + ": warm-up had errors: " + r.correctness.json() + " " + r.errors);
                            if (!r.anomalies.isEmpty()) {
                                Path file = out.resolve("anomalies-" + label + "-warmup-" + round + ".txt");
                                Files.writeString(file, String.join("\n", r.anomalies));
                                progress(o, label + ": " + r.anomalies.size() + " anomalies described in " + file);
                            }
                        }
                    } while (System.nanoTime() < until);
                    mr.warmupRounds = round;
                    Thread.sleep(1_000);
                }
                mr.settle = settle(o, server, label);

                Sampler sampler = new Sampler(server).start();
                mr.samplerStartMillis = System.currentTimeMillis();
                Path jfrFile = out.resolve("server-" + label + ".jfr").toAbsolutePath();
                if (o.jfr) {
                    progress(o, label + ": " + server.jcmd("JFR.start", "name=bench", "settings=profile",
                            "filename=" + jfrFile).trim().replace('\n', ' '));
                }
                double cpuBefore = sampler.serverCpuSeconds();
                ServerStages stagesBefore = ServerStages.read(api.http(), server.metricsBase());
                Cluster cluster = server instanceof Cluster c ? c : null;
                ClusterFigures clusterFigures = cluster == null ? null
                        : new ClusterFigures(cluster.nodes(), cluster.ticksByNode(), cluster.fetchedByDelivery(api.http()));
                LoadRun.Workload w = new LoadRun.Workload(label, o.sessions, o.tokens, o.rate, o.ttftMs, o.rampSeconds(),
                        o.droppedSessions(), o.dropPauseMs, o.holdSeconds, o.timeoutSeconds(), o.seed);
                progress(o, String.format("%s: %d sessions over %.0f s, %d tokens at %s tokens/s each",
                        label, o.sessions, o.rampSeconds(), o.tokens, Report.num(o.rate)));
                LoadRun run = new LoadRun(w, api, loops, scheduler, s -> progress(o, s));
                KafkaProbe probe = null;
                if (o.kafkaProbe && server.kafkaBootstrap() != null) {
                    probe = new KafkaProbe(server.kafkaBootstrap(), "tokenpipe.stream");
                    run.probe(probe);
                    progress(o, label + ": kafka probe reading tokenpipe.stream at " + server.kafkaBootstrap());
                }
                SystemUnderTest s = server;
                ChaosMonkey monkey = cluster != null && o.chaos
                        ? new ChaosMonkey(cluster, o.chaosIntervalSeconds, o.chaosWorkerDownMs, m -> progress(o, label + ": " + m)).start()
                        : null;
                LoadRun.Result result = run.run(() -> {
                    if (monkey != null) {
                        // Every turn has ended (or the wait ran out): no more faults; a node being restarted comes back first.
                        monkey.close();
                        clusterFigures.faults(monkey.faults());
                    }
                    mr.serverCpuSecondsLoad = sampler.serverCpuSeconds() - cpuBefore;
                    if (clusterFigures != null) {
                        try {
                            clusterFigures.after(cluster.ticksByNode(), cluster.fetchedByDelivery(api.http()));
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    ServerStages stagesAfter = ServerStages.read(api.http(), s.metricsBase());
                    if (stagesAfter != null) {
                        mr.stages = stagesAfter.since(stagesBefore);
                    }
                    try {
                        if (o.jfr) {
                            s.jcmd("JFR.stop", "name=bench");
                        }
                        if (o.liveHeap) {
                            s.jcmd("GC.run");
                            JsonNode m = Json.MAPPER.readTree(api.http().send(HttpRequest.newBuilder(
                                    s.metricsBase().resolve("/metrics/runtime")).header("Authorization", BenchKey.authorization()).GET().build(), HttpResponse.BodyHandlers.ofString()).body());
                            mr.liveHeapBytes = m.path("heap_used_bytes").asLong(-1);
                            mr.openStreamsAtLiveHeap = m.path("open_streams").asInt(-1);
                            progress(o, String.format("%s: live heap after a forced GC with %d streams open: %s MB",
                                    label, mr.openStreamsAtLiveHeap, Report.mbText(mr.liveHeapBytes)));
                            // What the heap holds with every stream open: the top of the class histogram.
                            String histogram = s.jcmd("GC.class_histogram");
                            String[] lines = histogram.split("\n");
                            StringBuilder top = new StringBuilder();
                            for (int i = 0; i < Math.min(lines.length, 45); i++) {
                                top.append(lines[i]).append('\n');
                            }
                            Path file = out.resolve("heap-histogram-" + label + ".txt");
                            Files.writeString(file, "open streams: " + mr.openStreamsAtLiveHeap + "\n" + top);
                            mr.heapHistogramFile = out.relativize(file).toString();
                        }
                    } catch (IOException | RuntimeException e) {
                        progress(o, label + ": hold-phase measurement failed: " + e);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                sampler.close();
                mr.samples = sampler.samples();
                if (probe != null) {
                    probe.close();
                    mr.probeJson = probe.json();
                    mr.probeMarkdown = probe.markdown();
                }
                mr.load = result;
                if (clusterFigures != null) {
                    clusterFigures.load(result);
                    mr.cluster = clusterFigures;
                }
                progress(o, label + ": comparing clients with replays of their sessions");
                run.verifyAgainstReplay(o.verifySample, result);
                progress(o, label + ": correctness " + result.correctness.json());
                if (!result.anomalies.isEmpty()) {
                    Path file = out.resolve("anomalies-" + label + ".txt");
                    Files.writeString(file, String.join("\n", result.anomalies));
                    mr.anomaliesFile = out.relativize(file).toString();
                    progress(o, label + ": " + result.anomalies.size() + " anomalies described in " + file);
                }
                if (o.replayEvents > 0) {
                    progress(o, label + ": writing and replaying a " + o.replayEvents + "-event session");
                    Path replayJfr = out.resolve("server-" + label + "-replay.jfr").toAbsolutePath();
                    SystemUnderTest sp = server;
                    mr.replay = Replays.replayLongSession(api, loops.getFirst(), o.replayEvents, o.replayRuns, o.seed + 7,
                            () -> jcmdQuietly(o, sp, o.jfr, "JFR.start", "name=replay", "settings=profile", "filename=" + replayJfr),
                            () -> jcmdQuietly(o, sp, o.jfr, "JFR.stop", "name=replay"));
                    if (o.jfr && Files.isRegularFile(replayJfr)) {
                        JfrSummary replayProfile = JfrSummary.read(replayJfr);
                        mr.jfrReplayMarkdown = replayProfile.markdown(label + " (replay phase only)", 12);
                        mr.jfrReplay = replayProfile;
                    }
                    progress(o, label + ": replay " + mr.replay.json());
                }
                if (probe != null) {
                    probe.countTopicRecords();
                    mr.probeJson = probe.json();
                    mr.probeMarkdown = probe.markdown();
                }
                if (o.jfr && Files.isRegularFile(jfrFile)) {
                    mr.jfrFile = out.relativize(out.resolve(jfrFile.getFileName())).toString();
                    mr.jfr = JfrSummary.read(jfrFile);
                    mr.jfrMarkdown = mr.jfr.markdown(label, 15);
                }
            }
        } catch (Exception e) {
            mr.failure = e.toString();
            progress(o, label + ": FAILED: " + e);
            if (!o.quiet) {
                e.printStackTrace();
            }
        } finally {
            loops.forEach(ClientLoop::close);
            scheduler.shutdownNow();
            if (server != null) {
                progress(o, label + ": stopping the server");
                server.close();
            }
        }
        return mr;
    }

    /**
     * Waits until the server is quiet before measuring: the warm-up leaves the JIT compiling (a broker,
     * Kafka Streams and Jetty in one JVM are a lot of code) and the broker and GC finishing its work,
     * which would otherwise share the measured phase's CPU. Returns {seconds waited, server cores in
     * the last 2-second window}.
     */
    private static double[] settle(BenchOptions o, SystemUnderTest server, String label) throws InterruptedException {
        Sampler probe = new Sampler(server);
        long began = System.nanoTime();
        double cores = -1;
        while (System.nanoTime() - began < (long) (o.settleMaxSeconds * 1e9)) {
            double before = probe.serverCpuSeconds();
            Thread.sleep(2_000);
            cores = (probe.serverCpuSeconds() - before) / 2.0;
            if (before < 0 || cores <= o.settleCores) {
                break;
            }
        }
        double waited = (System.nanoTime() - began) / 1e9;
        progress(o, String.format("%s: server settled at %.2f cores after %.0f s", label, cores, waited));
        return new double[]{waited, cores};
    }

    private static void jcmdQuietly(BenchOptions o, SystemUnderTest server, boolean enabled, String... args) {
        if (!enabled) {
            return;
        }
        try {
            server.jcmd(args);
        } catch (IOException | RuntimeException e) {
            progress(o, "jcmd " + String.join(" ", args) + " failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cores", Runtime.getRuntime().availableProcessors());
        String model = "?";
        double memGib = -1;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    model = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    memGib = Math.round(Long.parseLong(line.replaceAll("[^0-9]", "")) / 1048576.0 * 10) / 10.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        m.put("cpu_model", model);
        m.put("memory_gib", memGib);
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        m.put("jdk_version", System.getProperty("java.version"));
        m.put("jdk_vendor", System.getProperty("java.vendor") + " " + System.getProperty("java.vm.name"));
        m.put("java_home", System.getProperty("java.home"));
        return m;
    }

    static void progress(BenchOptions o, String message) {
        if (!o.quiet) {
            System.err.println(LocalTime.now().format(CLOCK) + " bench: " + message);
        }
    }
}
