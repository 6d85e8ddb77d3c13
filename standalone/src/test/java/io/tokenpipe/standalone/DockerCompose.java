package io.tokenpipe.standalone;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The {@code docker compose} command line (Compose v2) on one compose file, under a project name of its
 * own: the test's containers, network and volumes never mix with a stack the developer runs.
 */
final class DockerCompose {

    private final Path file;
    private final String project;
    private final Map<String, String> variables;
    private final Path logDir;

    /** {@code variables} are set in the command's environment, for the file's {@code ${...}} references. */
    DockerCompose(Path file, String project, Map<String, String> variables, Path logDir) {
        this.file = file;
        this.project = project;
        this.variables = Map.copyOf(variables);
        this.logDir = logDir;
    }

    /** Whether `docker compose` (the v2 plugin) is installed; `docker-compose` 1.x lacks `up --wait`. */
    static boolean installed() {
        try {
            Process process = new ProcessBuilder("docker", "compose", "version")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0;
        } catch (IOException e) {
            return false; // no docker command at all
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Runs {@code docker compose -f FILE -p PROJECT args...} and returns its standard output; fails
     * with the command's output when it exits non-zero or outlives {@code timeout}.
     */
    String run(Duration timeout, String... args) {
        List<String> command = new ArrayList<>(List.of("docker", "compose", "-f", file.toString(), "-p", project));
        command.addAll(List.of(args));
        try {
            Files.createDirectories(logDir);
            // Into files, not pipes: a build prints more than a pipe holds while nobody reads it.
            File out = Files.createTempFile(logDir, project + "-", ".out").toFile();
            File err = Files.createTempFile(logDir, project + "-", ".err").toFile();
            ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out).redirectError(err);
            builder.environment().putAll(variables);
            Process process = builder.start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError(String.join(" ", command) + " did not finish in " + timeout + ":\n" + tail(err));
            }
            if (process.exitValue() != 0) {
                throw new AssertionError(String.join(" ", command) + " exited with " + process.exitValue() + ":\n"
                        + tail(out) + tail(err));
            }
            return read(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The ids of the running containers of {@code service}. */
    List<String> containers(String service) {
        return run(Duration.ofSeconds(60), "ps", "--quiet", service).lines().filter(line -> !line.isBlank()).toList();
    }

    /** Writes every service's log to {@code logDir/PROJECT.log}, for reading after a failure. */
    Path saveLogs() {
        Path target = logDir.resolve(project + ".log");
        try {
            Files.writeString(target, run(Duration.ofMinutes(2), "logs", "--no-color", "--timestamps"));
        } catch (IOException | RuntimeException | AssertionError e) {
            // Best effort: the logs help diagnose, the tear-down matters more.
        }
        return target;
    }

    private static String tail(File file) throws IOException {
        List<String> lines = read(file).lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size())) + "\n";
    }

    /** A command's output; a build may print bytes that are not UTF-8, which must not hide the rest. */
    private static String read(File file) throws IOException {
        return new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
    }
}
