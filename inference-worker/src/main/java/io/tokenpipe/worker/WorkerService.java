package io.tokenpipe.worker;

import io.javalin.Javalin;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.http.Health;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.http.RuntimeMetrics;
import io.tokenpipe.common.log.LogSettings;
import io.tokenpipe.common.log.ThreadDeaths;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.privacy.KafkaSessionKeys;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.kafka.TopicBootstrap;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.worker.kafka.CancelListener;
import io.tokenpipe.worker.kafka.PromptConsumer;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;
import io.tokenpipe.worker.model.openai.BackendRouter;
import io.tokenpipe.worker.model.openai.BackendSettings;
import io.tokenpipe.worker.turn.Cancellations;
import io.tokenpipe.worker.turn.TurnRunner;
import org.apache.kafka.clients.admin.Admin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** An inference worker as its own process: configuration from the environment, wired by hand. */
public final class WorkerService implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(WorkerService.class);

    /** Every environment variable an inference worker reads. */
    public static final List<Setting> SETTINGS = Stream.of(KafkaSettings.SETTINGS, Topics.SETTINGS,
            WorkerSettings.SETTINGS, SyntheticSettings.SETTINGS, BackendSettings.documented(), LogSettings.SETTINGS).flatMap(List::stream).toList();

    /** How long a worker waits for a key it does not hold yet (written moments ago, before the session). */
    private static final java.time.Duration KEY_WAIT = java.time.Duration.ofSeconds(30);

    private final Worker worker;
    private final Javalin http;

    private WorkerService(Worker worker, Javalin http) {
        this.worker = worker;
        this.http = http;
    }

    /** A running worker without its HTTP port: the prompt consumer and the cancellation listener. */
    public record Worker(PromptConsumer consumer, CancelListener cancels, ModelRegistry models) implements AutoCloseable {

        public boolean healthy() {
            return consumer.healthy() && cancels.running();
        }

        /** Why the worker stopped answering on its own, or null: then its process should exit and be restarted. */
        public String failure() {
            if (consumer.failure() != null) {
                return consumer.failure();
            }
            return cancels.running() || cancels.closed() ? null : "the cancellation listener stopped";
        }

        /** Graceful: running turns get the shutdown grace, the rest are handed over. */
        @Override
        public void close() {
            consumer.close();
            cancels.close();
            models.close();
        }

        /** Stops like a killed process would (no hand-over); for fail-over tests. */
        public void halt() {
            consumer.halt();
            cancels.close();
            models.close();
        }
    }

    public static void main(String[] args) {
        ThreadDeaths.logUncaught();
        LogSettings.check(Env.system());
        WorkerService worker = start(Env.system());
        Runtime.getRuntime().addShutdownHook(new Thread(worker::close, "worker-shutdown"));
        exitOnFailure(worker.worker::failure);
    }

    /**
     * A worker that stopped answering on its own has left its group already (its partitions went to the
     * others); exiting non-zero lets the orchestrator restart it rather than leave a process that
     * answers nothing.
     */
    public static void exitOnFailure(java.util.function.Supplier<String> failure) {
        Thread.ofPlatform().name("worker-watchdog").daemon().start(() -> {
            try {
                while (failure.get() == null) {
                    Thread.sleep(1_000);
                }
                log.error("exiting: {}", failure.get());
                System.exit(1);
            } catch (InterruptedException e) {
                // the JVM is stopping
            }
        });
    }

    public static WorkerService start(Env env) {
        KafkaSettings kafka = KafkaSettings.from(env);
        Topics topics = Topics.from(env);
        WorkerSettings settings = WorkerSettings.from(env);
        try (Admin admin = Admin.create(kafka.admin())) {
            TopicBootstrap.ensure(admin, topics);
        }
        // The worker creates no sessions: whether new ones are encrypted is ingest's setting. It seals
        // what each session's key (or its absence) says.
        KafkaSessionKeys keys = new KafkaSessionKeys(kafka, topics.sessionKeys(), false, KEY_WAIT, Clock.systemUTC()).start();
        Worker worker = startWorker(kafka, topics, settings, models(env), new SessionCodec(keys));
        Javalin http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            Health.register(config.routes, Map.of("prompt_consumer", worker::healthy));
            RuntimeMetrics.register(config.routes, Map.of("inflight_turns", () -> worker.consumer().inflightTurns()));
        }).start(settings.httpPort());
        Runtime.getRuntime().addShutdownHook(new Thread(keys::close, "session-keys-shutdown"));
        log.info("inference worker {} started; health on port {}", settings.workerId(), http.port());
        return new WorkerService(worker, http);
    }

    /** The worker without its HTTP port: what the embedded launcher runs. */
    public static Worker startWorker(KafkaSettings kafka, Topics topics, WorkerSettings settings, ModelRegistry models) {
        return startWorker(kafka, topics, settings, models, SessionCodec.plain());
    }

    /** @param codec opens sealed prompts and seals the answers of encrypted sessions (the process's session keys) */
    public static Worker startWorker(KafkaSettings kafka, Topics topics, WorkerSettings settings, ModelRegistry models,
                                     SessionCodec codec) {
        Cancellations cancellations = new Cancellations();
        CancelListener cancels = new CancelListener(kafka, topics.control(), cancellations).start();
        TurnRunner runner = new TurnRunner(models, settings.workerId(), Clock.systemUTC(), settings.upstreamResumes());
        return new Worker(new PromptConsumer(kafka, topics, settings, runner, cancellations, codec).start(), cancels, models);
    }

    /** The models a worker serves: the synthetic generator always; OpenAI-compatible backends when configured. */
    public static ModelRegistry models(Env env) {
        return BackendRouter.registry(env, new SyntheticModel(SyntheticSettings.from(env)));
    }

    public PromptConsumer consumer() {
        return worker.consumer();
    }

    public int port() {
        return http.port();
    }

    @Override
    public void close() {
        worker.close();
        http.stop();
    }

    /** Stops like a killed process would (no hand-over); for fail-over tests. */
    public void halt() {
        worker.halt();
        http.stop();
    }
}
