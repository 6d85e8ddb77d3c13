package io.tokenpipe.testing;

import org.testcontainers.DockerClientFactory;

/** Whether a Docker engine answers here, as Testcontainers finds it (socket, DOCKER_HOST, context). */
public final class DockerEngine {

    private DockerEngine() {
    }

    /**
     * {@code true} when Testcontainers can reach a Docker engine; looked up once per JVM. A `docker`
     * command that answers {@code --version} is not enough: the engine must run.
     */
    public static boolean available() {
        return DockerClientFactory.instance().isDockerAvailable();
    }
}
