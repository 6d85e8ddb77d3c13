package io.tokenpipe.common.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The process's metrics for Prometheus ({@code GET /metrics}), through Micrometer: one registry per
 * JVM, so the embedded launcher's services share one page and each separate service has its own.
 * Every metric tokenpipe defines is named here, with the unit in the name as Prometheus wants it
 * (Micrometer appends {@code _seconds} to timers and {@code _total} to counters).
 *
 * <p>Latency histograms have fixed buckets from 1 ms to 60 s: what a dashboard's
 * {@code histogram_quantile} needs, and the same buckets on every node so they can be summed.
 */
public final class Metrics {

    /** Prompt submitted (ingest's clock) → first token produced (the worker's). */
    public static final String TIME_TO_FIRST_TOKEN = "tokenpipe.turn.time.to.first.token";
    /** Between two consecutive tokens of one attempt of a turn, at the worker. */
    public static final String INTER_TOKEN_GAP = "tokenpipe.turn.inter.token.gap";
    /** A live event's record timestamp (the worker's send) → written and flushed to a client's socket. */
    public static final String CHUNK_DELIVERY = "tokenpipe.stream.chunk.delivery";
    /** A stream request with Last-Event-ID arrived → its first event was flushed to the client. */
    public static final String RESUME = "tokenpipe.stream.resume";
    /** A turn-submitting request arrived → the prompt was acknowledged by Kafka (the 202, or the stream's start). */
    public static final String SUBMIT = "tokenpipe.turn.submit";
    /** Turns ended by a worker, tagged {@code outcome}: the finish reason, or the error code of a failed turn. */
    public static final String TURNS = "tokenpipe.turns";
    /** Token chunks written by workers. */
    public static final String TOKENS = "tokenpipe.tokens";
    /** Event streams open on a delivery node (native and OpenAI-format). */
    public static final String OPEN_STREAMS = "tokenpipe.streams.open";
    /** Turns a worker holds (running, or waiting for their session's previous turn). */
    public static final String TURNS_IN_FLIGHT = "tokenpipe.turns.in.flight";
    /** Per-stage token latency ({@link StageTimes}), tagged {@code stage}. */
    public static final String STAGE = "tokenpipe.stage.latency";

    private static final Duration[] BUCKETS = {
            Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5), Duration.ofMillis(10),
            Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250),
            Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60)};

    private static final PrometheusMeterRegistry REGISTRY = create();
    private static final Map<String, Set<Supplier<Number>>> GAUGES = new ConcurrentHashMap<>();

    private Metrics() {
    }

    private static PrometheusMeterRegistry create() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        return registry;
    }

    public static PrometheusMeterRegistry registry() {
        return REGISTRY;
    }

    /** Every metric in the Prometheus text format. */
    public static String scrape() {
        return REGISTRY.scrape();
    }

    /** A latency histogram (the same one for the same name and tags). */
    public static Timer latency(String name, String description, String... tags) {
        return Timer.builder(name).description(description).tags(tags)
                .serviceLevelObjectives(BUCKETS)
                .minimumExpectedValue(BUCKETS[0])
                .maximumExpectedValue(BUCKETS[BUCKETS.length - 1])
                .register(REGISTRY);
    }

    public static Counter counter(String name, String description, String... tags) {
        return Counter.builder(name).description(description).tags(tags).register(REGISTRY);
    }

    /**
     * Adds {@code value} to the gauge {@code name}, read at each scrape; the gauge is the sum over every
     * instance in this JVM that added one (the embedded launcher runs one of each, tests run several).
     * Closing the returned handle takes the instance's share away (its service stopped).
     */
    public static AutoCloseableGauge gauge(String name, String description, Supplier<Number> value) {
        Set<Supplier<Number>> parts = GAUGES.computeIfAbsent(name, n -> {
            Set<Supplier<Number>> set = ConcurrentHashMap.newKeySet();
            Gauge.builder(name, set, Metrics::sum).description(description).strongReference(true).register(REGISTRY);
            return set;
        });
        parts.add(value);
        return () -> parts.remove(value);
    }

    /** A share of a gauge; closing removes it. */
    public interface AutoCloseableGauge extends AutoCloseable {
        @Override
        void close();
    }

    private static double sum(Set<Supplier<Number>> parts) {
        double total = 0;
        for (Supplier<Number> part : parts) {
            total += part.get().doubleValue();
        }
        return total;
    }
}
