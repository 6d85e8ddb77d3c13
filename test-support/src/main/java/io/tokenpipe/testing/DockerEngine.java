package io.tokenpipe.testing;

import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;

/** Whether a Docker engine answers here, as Testcontainers finds it (socket, DOCKER_HOST, context). */
public final class DockerEngine {

    private DockerEngine() {
    }

    /** {@code true} when Testcontainers can reach a Docker engine; looked up once per JVM. */
    public static boolean available() {
        return DockerClientFactory.instance().isDockerAvailable();
    }

    /**
     * Aborts the calling test (JUnit reports it skipped, with {@code message}) when there is no Docker
     * engine. A `docker` command that answers {@code --version} is not enough: the engine must run.
     */
    public static void assumeAvailable(String message) {
        Assumptions.assumeTrue(available(), message);
    }
}
