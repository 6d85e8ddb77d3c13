package io.tokenpipe.worker;

import io.javalin.Javalin;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.http.Health;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.TopicBootstrap;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.worker.kafka.PromptConsumer;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;
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
            WorkerSettings.SETTINGS, SyntheticSettings.SETTINGS).flatMap(List::stream).toList();

    private final PromptConsumer consumer;
    private final Javalin http;

    private WorkerService(PromptConsumer consumer, Javalin http) {
        this.consumer = consumer;
        this.http = http;
    }

    public static void main(String[] args) {
        WorkerService worker = start(Env.system());
        Runtime.getRuntime().addShutdownHook(new Thread(worker::close, "worker-shutdown"));
    }

    public static WorkerService start(Env env) {
        KafkaSettings kafka = KafkaSettings.from(env);
        Topics topics = Topics.from(env);
        WorkerSettings settings = WorkerSettings.from(env);
        try (Admin admin = Admin.create(kafka.admin())) {
            TopicBootstrap.ensure(admin, topics);
        }
        PromptConsumer consumer = startConsumer(kafka, topics, settings, models(env));
        Javalin http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            Health.register(config.routes, Map.of("prompt_consumer", consumer::healthy));
        }).start(settings.httpPort());
        log.info("inference worker {} started; health on port {}", settings.workerId(), http.port());
        return new WorkerService(consumer, http);
    }

    /** The worker without its HTTP port: what the embedded launcher runs. */
    public static PromptConsumer startConsumer(KafkaSettings kafka, Topics topics, WorkerSettings settings,
                                               ModelRegistry models) {
        TurnRunner runner = new TurnRunner(models, settings.workerId(), Clock.systemUTC());
        return new PromptConsumer(kafka, topics, settings, runner).start();
    }

    /** The models a worker serves: the synthetic generator always; OpenAI-compatible backends when configured. */
    public static ModelRegistry models(Env env) {
        return new ModelRegistry(Map.of("synthetic", new SyntheticModel(SyntheticSettings.from(env))));
    }

    public PromptConsumer consumer() {
        return consumer;
    }

    public int port() {
        return http.port();
    }

    @Override
    public void close() {
        consumer.close();
        http.stop();
    }

    /** Stops like a killed process would (no hand-over); for fail-over tests. */
    public void halt() {
        consumer.halt();
        http.stop();
    }
}
