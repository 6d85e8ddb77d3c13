package io.tokenpipe.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * What a mode benchmarks: one child JVM ({@link ServerProcess}: the standalone stack, or the direct
 * server) or several ({@link Cluster}: broker, ingest, workers and delivery nodes as separate processes).
 */
interface SystemUnderTest extends AutoCloseable {

    /** Where clients create sessions and submit turns. */
    URI base();

    /** Where clients open their event streams; a client keeps to one, and moves to the next when it breaks. */
    List<InetSocketAddress> streamAddresses();

    /** The node whose /metrics/runtime and /metrics/stages the report shows. */
    URI metricsBase();

    /** The process that jcmd (JFR, heap histogram) and the memory figures look at. */
    long pid();

    /** CPU ticks used by every process of the system so far, dead incarnations included; -1 if unknown. */
    long cpuTicks();

    /** The broker's address when the benchmark knows it, else null. */
    String kafkaBootstrap();

    void awaitHealthy(HttpClient http, Duration timeout) throws InterruptedException;

    String jcmd(String... args) throws IOException, InterruptedException;

    Path log();

    List<String> command();

    Map<String, String> env();

    @Override
    void close();
}
