package io.tokenpipe.standalone;

import io.tokenpipe.testing.ApiClient;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * An inference worker in a process of its own (the test's classpath, {@code WorkerService}'s main), so
 * that a test can kill it with SIGKILL as an orchestrator or a crash would: no shutdown hook runs.
 */
final class WorkerProcess {

    private WorkerProcess() {
    }

    /**
     * Starts a worker with {@code env} plus its id, state dir and a free health port, its output appended
     * to {@code <dir>/<id>.log}, and returns once its /health answers 200.
     */
    static Process start(Path dir, String id, Map<String, String> env, Duration wait) throws IOException, InterruptedException {
        int port = freePort();
        ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "io.tokenpipe.worker.WorkerService");
        Map<String, String> all = new HashMap<>(env);
        all.put("STATE_DIR", dir.resolve(id).toString());
        all.put("WORKER_ID", id);
        all.put("WORKER_HTTP_PORT", Integer.toString(port));
        builder.environment().putAll(all);
        builder.redirectErrorStream(true);
        builder.redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(id + ".log").toFile()));
        Process process = builder.start();
        awaitHealthy(process, port, wait);
        return process;
    }

    private static void awaitHealthy(Process process, int port, Duration wait) throws InterruptedException {
        ApiClient worker = new ApiClient(port);
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (worker.get("/health").status() == 200) {
                    return;
                }
            } catch (RuntimeException notYet) {
                // the process is still starting
            }
            if (!process.isAlive()) {
                throw new AssertionError("worker process exited with " + process.exitValue());
            }
            Thread.sleep(100); // polling another process's health endpoint
        }
        process.destroyForcibly();
        throw new AssertionError("worker process never became healthy");
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
