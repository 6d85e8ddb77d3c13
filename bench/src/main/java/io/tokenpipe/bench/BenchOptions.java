package io.tokenpipe.bench;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything a benchmark run is parameterised by, from the command line ({@code --name value}).
 * Every value is written into report.json, so a report says exactly what produced it.
 */
public final class BenchOptions {

    public static final String DEFAULT_SERVER_JVM_OPTS = "-Xmx1g -XX:+UseG1GC --enable-native-access=ALL-UNNAMED";

    public enum Mode {
        KAFKA, DIRECT, CLUSTER;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    // workload
    public int sessions = 1_000;
    public int tokens = 100;
    public double rate = 20;
    public int ttftMs = 150;
    public double rampSeconds = -1; // -1: derived from sessions (see rampSeconds())
    public double dropShare = 0.1;
    public int dropPauseMs = 1_000;
    public double holdSeconds = 5;
    public int warmupSessions = 100;
    public double warmupSeconds = 60;
    public double settleCores = 0.15;
    public double settleMaxSeconds = 120;
    public int replayEvents = 10_000;
    public int replayRuns = 5;
    public int verifySample = 50;
    public long seed = 42;
    public double timeoutSeconds = -1; // -1: derived from the workload

    // system under test
    public List<Mode> modes = List.of(Mode.KAFKA, Mode.DIRECT);
    public String serverJvmOpts = DEFAULT_SERVER_JVM_OPTS;
    public Map<String, String> serverEnv = new LinkedHashMap<>();
    public Path standaloneJar;
    public int partitions = 6;
    public int heartbeatMs = 15_000;
    public int workers = 2;          // cluster mode
    public int deliveryNodes = 1;    // cluster mode
    public boolean chaos;            // cluster mode: kill workers and delivery nodes during the load
    public double chaosIntervalSeconds = 20;
    private boolean modeGiven;
    private boolean deliveryNodesGiven;
    public int chaosWorkerDownMs = 2_000;

    // harness
    public int clientThreads = 1;
    public Path out;
    public boolean jfr;
    public boolean kafkaProbe;
    public boolean liveHeap = true;
    public boolean keepData;
    public boolean quiet;

    /** The configured ramp, or one that opens ~100 streams a second (at least 5 s, at most 60 s). */
    public double rampSeconds() {
        if (rampSeconds >= 0) {
            return rampSeconds;
        }
        return Math.max(5, Math.min(60, sessions / 100.0));
    }

    /** How long to wait for every turn to complete before calling the rest incomplete. */
    public double timeoutSeconds() {
        if (timeoutSeconds > 0) {
            return timeoutSeconds;
        }
        double turn = ttftMs / 1000.0 + tokens / rate;
        return rampSeconds() + 3 * turn + dropPauseMs / 1000.0 + 60;
    }

    public int droppedSessions() {
        if (dropShare <= 0 || sessions == 0) {
            return 0;
        }
        return (int) Math.max(1, Math.min(sessions, Math.round(sessions * dropShare)));
    }

    public Path outDir() {
        if (out != null) {
            return out;
        }
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        out = Path.of("bench-results", stamp + "-" + sessions + "sessions");
        return out;
    }

    public static BenchOptions parse(String... args) {
        BenchOptions o = new BenchOptions();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String name = arg;
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            }
            switch (name) {
                case "-h", "--help" -> throw new UsageException(null);
                case "--jfr" -> o.jfr = true;
                case "--kafka-probe" -> o.kafkaProbe = true;
                case "--chaos" -> o.chaos = true;
                case "--keep-data" -> o.keepData = true;
                case "--no-live-heap" -> o.liveHeap = false;
                case "--quiet" -> o.quiet = true;
                default -> {
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException("missing value for " + name);
                        }
                        value = args[++i];
                    }
                    o.set(name, value);
                }
            }
        }
        o.validate();
        return o;
    }

    private void set(String name, String value) {
        try {
            switch (name) {
                case "--sessions" -> sessions = Integer.parseInt(value);
                case "--tokens" -> tokens = Integer.parseInt(value);
                case "--rate" -> rate = Double.parseDouble(value);
                case "--ttft-ms" -> ttftMs = Integer.parseInt(value);
                case "--ramp-seconds" -> rampSeconds = Double.parseDouble(value);
                case "--drop-share" -> dropShare = Double.parseDouble(value);
                case "--drop-pause-ms" -> dropPauseMs = Integer.parseInt(value);
                case "--hold-seconds" -> holdSeconds = Double.parseDouble(value);
                case "--warmup-sessions" -> warmupSessions = Integer.parseInt(value);
                case "--warmup-seconds" -> warmupSeconds = Double.parseDouble(value);
                case "--settle-cores" -> settleCores = Double.parseDouble(value);
                case "--settle-max-seconds" -> settleMaxSeconds = Double.parseDouble(value);
                case "--replay-events" -> replayEvents = Integer.parseInt(value);
                case "--replay-runs" -> replayRuns = Integer.parseInt(value);
                case "--verify-sample" -> verifySample = Integer.parseInt(value);
                case "--seed" -> seed = Long.parseLong(value);
                case "--timeout-seconds" -> timeoutSeconds = Double.parseDouble(value);
                case "--mode" -> {
                    modeGiven = true;
                    modes = switch (value.toLowerCase(Locale.ROOT)) {
                    case "both" -> List.of(Mode.KAFKA, Mode.DIRECT);
                    case "kafka" -> List.of(Mode.KAFKA);
                    case "direct" -> List.of(Mode.DIRECT);
                    case "cluster" -> List.of(Mode.CLUSTER);
                    default -> throw new UsageException("--mode is kafka, direct, both or cluster, not " + value);
                    };
                }
                case "--server-jvm-opts" -> serverJvmOpts = value;
                case "--server-env" -> {
                    int eq = value.indexOf('=');
                    if (eq <= 0) {
                        throw new UsageException("--server-env takes NAME=VALUE, got " + value);
                    }
                    serverEnv.put(value.substring(0, eq), value.substring(eq + 1));
                }
                case "--standalone-jar" -> standaloneJar = Path.of(value);
                case "--partitions" -> partitions = Integer.parseInt(value);
                case "--heartbeat-ms" -> heartbeatMs = Integer.parseInt(value);
                case "--workers" -> workers = Integer.parseInt(value);
                case "--delivery-nodes" -> {
                    deliveryNodes = Integer.parseInt(value);
                    deliveryNodesGiven = true;
                }
                case "--chaos-interval-seconds" -> chaosIntervalSeconds = Double.parseDouble(value);
                case "--chaos-worker-down-ms" -> chaosWorkerDownMs = Integer.parseInt(value);
                case "--client-threads" -> clientThreads = Integer.parseInt(value);
                case "--out" -> out = Path.of(value);
                default -> throw new UsageException("unknown option " + name);
            }
        } catch (NumberFormatException e) {
            throw new UsageException(name + ": not a number: " + value);
        }
    }

    private void validate() {
        if (chaos && !modeGiven) {
            // `./tokenpipe bench --chaos`: faults need separate processes, and a second delivery node to go to.
            modes = List.of(Mode.CLUSTER);
            if (!deliveryNodesGiven) {
                deliveryNodes = 2;
            }
        }
        List<String> problems = new ArrayList<>();
        if (sessions < 1) problems.add("--sessions must be at least 1");
        if (tokens < 1) problems.add("--tokens must be at least 1");
        if (!(rate > 0)) problems.add("--rate must be greater than 0");
        if (ttftMs < 0) problems.add("--ttft-ms must not be negative");
        if (dropShare < 0 || dropShare > 1) problems.add("--drop-share is a fraction from 0 to 1");
        if (replayEvents != 0 && replayEvents < 3) problems.add("--replay-events is 0 (skip) or at least 3");
        if (clientThreads < 1) problems.add("--client-threads must be at least 1");
        if (workers < 1) problems.add("--workers must be at least 1");
        if (deliveryNodes < 1) problems.add("--delivery-nodes must be at least 1");
        if (!(chaosIntervalSeconds > 0)) problems.add("--chaos-interval-seconds must be greater than 0");
        if (chaos && !modes.equals(List.of(Mode.CLUSTER))) problems.add("--chaos needs --mode cluster (separate processes to kill)");
        if (!problems.isEmpty()) {
            throw new UsageException(String.join("; ", problems));
        }
    }

    /** The parameters as written into report.json. */
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sessions", sessions);
        m.put("tokens_per_turn", tokens);
        m.put("tokens_per_second", rate);
        m.put("model_ttft_ms", ttftMs);
        m.put("ramp_seconds", rampSeconds());
        m.put("drop_share", dropShare);
        m.put("dropped_sessions", droppedSessions());
        m.put("drop_pause_ms", dropPauseMs);
        m.put("hold_seconds", holdSeconds);
        m.put("warmup_sessions", warmupSessions);
        m.put("warmup_seconds", warmupSeconds);
        m.put("settle_cores", settleCores);
        m.put("settle_max_seconds", settleMaxSeconds);
        m.put("replay_events", replayEvents);
        m.put("replay_runs", replayRuns);
        m.put("verify_sample", verifySample);
        m.put("seed", seed);
        m.put("timeout_seconds", timeoutSeconds());
        m.put("modes", modes.stream().map(Mode::label).toList());
        m.put("server_jvm_opts", serverJvmOpts);
        m.put("server_env", serverEnv);
        m.put("partitions", partitions);
        m.put("heartbeat_ms", heartbeatMs);
        m.put("client_threads", clientThreads);
        m.put("jfr", jfr);
        m.put("kafka_probe", kafkaProbe);
        if (modes.contains(Mode.CLUSTER)) {
            m.put("workers", workers);
            m.put("delivery_nodes", deliveryNodes);
            m.put("chaos", chaos);
            if (chaos) {
                m.put("chaos_interval_seconds", chaosIntervalSeconds);
                m.put("chaos_worker_down_ms", chaosWorkerDownMs);
            }
        }
        return m;
    }

    public static String usage() {
        return """
                Usage: ./tokenpipe bench [options]      (or: java -jar bench/target/tokenpipe-bench.jar [options])

                Starts the server as a child JVM, drives its public HTTP API with N concurrent sessions, each
                followed by a real SSE client, and writes report.json, report.md and latency.svg.

                Workload
                  --sessions N          concurrent sessions (default 1000)
                  --tokens K            tokens per turn (default 100)
                  --rate R              tokens per second of the synthetic model (default 20)
                  --ttft-ms T           the model's own time to first token (default 150)
                  --ramp-seconds S      open the sessions evenly over S seconds (default sessions/100, 5..60)
                  --drop-share F        share of clients that drop mid-turn and resume with Last-Event-ID (default 0.1)
                  --drop-pause-ms MS    how long a dropped client stays away before it reconnects (default 1000)
                  --hold-seconds S      keep every stream open S seconds after the last turn completed (default 5)
                  --warmup-sessions N   sessions per round of the unmeasured warm-up, per mode (default 100; 0 = none)
                  --warmup-seconds S    repeat warm-up rounds for at least S seconds (default 60): the server's JIT
                                        compiles for about a minute and a half under load, and a measurement
                                        taken meanwhile counts the compiler's CPU against the pipeline
                  --settle-cores C      after the warm-up, wait until the server uses at most C cores over 2 s
                                        (default 0.15) before measuring, at most --settle-max-seconds (120)
                  --replay-events N     size of the replayed session, in events (default 10000; 0 = skip)
                  --replay-runs N       timed replays of it (default 5)
                  --verify-sample N     undropped sessions also compared with a ?follow=false replay (default 50)
                  --seed N              seeds the prompts and the choice of dropped clients (default 42)
                  --timeout-seconds S   give up waiting for turns after S seconds (default derived)

                System under test
                  --mode M              kafka, direct or both (default both: kafka, then direct), or cluster:
                                        broker, ingest-api, workers and delivery nodes as separate processes
                                        (clients spread over the delivery nodes)
                  --workers N           cluster: inference worker processes (default 2)
                  --delivery-nodes N    cluster: delivery-sse processes (default 1)
                  --chaos               SIGKILL a worker (started again after --chaos-worker-down-ms, default
                                        2000) or a delivery node (started again at once), alternating, every
                                        --chaos-interval-seconds (default 20) during the load, one node per role
                                        down at a time; the report lists the faults and the turns that crossed
                                        one. Implies --mode cluster with 2 delivery nodes unless given.
                  --server-jvm-opts S   JVM options of the server (default "%s")
                  --server-env K=V      extra environment for the server (repeatable)
                  --standalone-jar P    default standalone/target/tokenpipe-standalone.jar from the repository root
                  --partitions N        TOPIC_PARTITIONS of the kafka server (default 6)
                  --heartbeat-ms MS     SSE_HEARTBEAT_MS of both servers (default 15000)

                Harness
                  --client-threads N    selector threads of the SSE client (default 1)
                  --out DIR             report directory (default bench-results/<yyyyMMdd-HHmmss>-<N>sessions)
                  --jfr                 record the server with JFR (settings=profile) during the load phase and
                                        summarise the hottest frames, threads and allocations in the report
                  --kafka-probe         diagnostic: a consumer in the benchmark splits each chunk's latency into
                                        stages (writer queue, produce + fetch, delivery); it adds load
                                        to the broker, so leave it off for headline numbers
                  --no-live-heap        skip the forced GC (jcmd GC.run) that measures the live heap while all
                                        streams are held
                  --keep-data           keep the server's data directory (Kafka's log, state) for a post-mortem;
                                        its path is printed
                  --quiet               less progress output

                Exit status: 0 when every run delivered every chunk exactly once and in order, 1 when not,
                2 on a usage error or when the benchmark itself failed.
                """.formatted(DEFAULT_SERVER_JVM_OPTS);
    }

    /** A bad command line: the message (or, when null, only the usage) is printed. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) {
            super(message);
        }
    }
}
