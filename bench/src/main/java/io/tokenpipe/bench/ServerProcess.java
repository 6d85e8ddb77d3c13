package io.tokenpipe.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The system under test as a child JVM, so that its CPU, memory and threads are its own: the
 * standalone stack (kafka mode) or {@link DirectServer} (direct mode). Fresh data directory and
 * free port per run; output goes to {@code <out>/server-<mode>.log}.
 */
final class ServerProcess implements SystemUnderTest {

    private final BenchOptions.Mode mode;
    private final Process process;
    private final int port;
    private final Path dataDir;
    private boolean keepData;
    private final Path log;
    private final List<String> command;
    private final Map<String, String> env;

    private ServerProcess(BenchOptions.Mode mode, Process process, int port, Path dataDir, Path log, List<String> command,
                          Map<String, String> env) {
        this.mode = mode;
        this.process = process;
        this.port = port;
        this.dataDir = dataDir;
        this.log = log;
        this.command = command;
        this.env = env;
    }

    static ServerProcess start(BenchOptions o, BenchOptions.Mode mode, Path outDir, int expectedStreams,
                               int expectedTurns) throws IOException {
        int port = freePort();
        Path dataDir = Files.createTempDirectory("tokenpipe-bench-" + mode.label() + "-");
        Map<String, String> env = new LinkedHashMap<>();
        env.put("TOKENPIPE_HTTP_PORT", Integer.toString(port));
        env.putAll(serviceEnv(o, expectedStreams, expectedTurns));
        if (mode == BenchOptions.Mode.KAFKA) {
            env.put("TOKENPIPE_DATA_DIR", dataDir.toString());
            env.put("EMBEDDED_KAFKA_PORT", o.kafkaProbe ? Integer.toString(freePort()) : "0");
            env.put("TOPIC_PARTITIONS", Integer.toString(o.partitions));
        }
        env.putAll(o.serverEnv);

        List<String> cmd = new ArrayList<>();
        cmd.add(javaBinary());
        for (String opt : o.serverJvmOpts.trim().split("\\s+")) {
            if (!opt.isEmpty()) {
                cmd.add(opt);
            }
        }
        if (mode == BenchOptions.Mode.KAFKA) {
            cmd.add("-jar");
            cmd.add(Bench.standaloneJar(o).toString());
        } else {
            cmd.add("-cp");
            cmd.add(ownClassPath());
            cmd.add(DirectServer.class.getName());
        }
        Path log = outDir.resolve("server-" + mode.label() + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process process = pb.start();
        ServerProcess server = new ServerProcess(mode, process, port, dataDir, log, cmd, env);
        server.keepData = o.keepData;
        return server;
    }

    /** The settings every benchmarked server gets, whatever its shape: the workload's, and no limit that the
     * one simulated fleet of clients would hit. */
    static Map<String, String> serviceEnv(BenchOptions o, int expectedStreams, int expectedTurns) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("TOKENPIPE_LOG_LEVEL", "WARN");
        env.put("SYNTHETIC_TTFT_MS", Integer.toString(o.ttftMs));
        env.put("SYNTHETIC_TOKENS_PER_SECOND", Double.toString(o.rate));
        env.put("SSE_HEARTBEAT_MS", Integer.toString(o.heartbeatMs));
        env.put("SSE_MAX_STREAMS", Integer.toString(Math.max(20_000, 2 * expectedStreams)));
        env.put("API_KEYS", BenchKey.apiKeysEntry()); // authentication on, as in production
        env.put("RATE_LIMIT_WRITES_PER_SECOND", "0"); // one key drives every simulated client
        env.put("SSE_MAX_STREAMS_PER_KEY", "0");
        // The timed replay writes one turn of replay-events tokens, above the server's default bounds on a
        // turn (SYNTHETIC_MAX_OPTION_TOKENS, MAX_TOKENS_LIMIT): raise them to what this run asks for.
        String turnTokens = Integer.toString(Math.max(4096, Math.max(o.tokens, o.replayEvents)));
        env.put("SYNTHETIC_MAX_OPTION_TOKENS", turnTokens);
        env.put("MAX_TOKENS_LIMIT", turnTokens); // also the default max_tokens of a turn that sets none
        // The worker must not queue turns: every session's turn runs at once, as the workload intends.
        env.put("WORKER_MAX_INFLIGHT_TURNS", Integer.toString(Math.max(256, expectedTurns + 16)));
        return env;
    }

    /** The java that runs this benchmark runs the server too. */
    static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    static Path jdkTool(String name) {
        return Path.of(System.getProperty("java.home"), "bin", name);
    }

    /** This JVM's class path: the shaded jar in a real run, the test class path under surefire. */
    static String ownClassPath() {
        String surefire = System.getProperty("surefire.test.class.path");
        return surefire != null && !surefire.isBlank() ? surefire : System.getProperty("java.class.path");
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        }
    }

    /** The embedded broker's address when the benchmark chose its port (--kafka-probe), else null. */
    @Override
    public String kafkaBootstrap() {
        String port = env.get("EMBEDDED_KAFKA_PORT");
        return mode == BenchOptions.Mode.KAFKA && port != null && !port.equals("0") ? "localhost:" + port : null;
    }

    @Override
    public URI base() {
        return URI.create("http://127.0.0.1:" + port);
    }

    @Override
    public List<java.net.InetSocketAddress> streamAddresses() {
        return List.of(new java.net.InetSocketAddress("127.0.0.1", port));
    }

    @Override
    public URI metricsBase() {
        return base();
    }

    @Override
    public long cpuTicks() {
        return Sampler.cpuTicks(pid());
    }

    int port() {
        return port;
    }

    @Override
    public long pid() {
        return process.pid();
    }

    @Override
    public Path log() {
        return log;
    }

    @Override
    public List<String> command() {
        return command;
    }

    @Override
    public Map<String, String> env() {
        return env;
    }

    boolean alive() {
        return process.isAlive();
    }

    /** Waits for GET /health to answer 200. */
    @Override
    public void awaitHealthy(HttpClient http, Duration timeout) throws InterruptedException {
        awaitHealthy(http, process, base(), mode.label() + " server", log, timeout);
    }

    /** Waits for GET {@code base}/health to answer 200 while {@code process} lives. */
    static void awaitHealthy(HttpClient http, Process process, URI base, String name, Path log, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with status " + process.exitValue()
                        + " before it was healthy; see " + log);
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/health"))
                        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
                last = r.statusCode() + " " + r.body();
            } catch (IOException e) {
                last = e.toString();
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException(name + " not healthy after " + timeout + " (" + last + "); see " + log);
    }

    /** Runs a jcmd command against the server; returns its output. */
    @Override
    public String jcmd(String... args) throws IOException, InterruptedException {
        return jcmd(pid(), args);
    }

    /** Runs a jcmd command against a process; returns its output. */
    static String jcmd(long pid, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(jdkTool("jcmd").toString());
        cmd.add(Long.toString(pid));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return new String(out);
    }

    /** SIGTERM, 30 s to exit, then SIGKILL. */
    static void stop(Process process) {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** SIGTERM, a grace period, then SIGKILL; removes the data directory. */
    @Override
    public void close() {
        stop(process);
        if (keepData) {
            System.err.println("bench: data kept in " + dataDir);
            return;
        }
        try (Stream<Path> files = Files.walk(dataDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }
}
