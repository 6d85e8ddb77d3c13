package io.tokenpipe.standalone;

import io.javalin.Javalin;
import io.tokenpipe.common.auth.AccessControl;
import io.tokenpipe.common.auth.ApiKeys;
import io.tokenpipe.common.auth.AuthSettings;
import io.tokenpipe.common.auth.Scope;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.http.Cors;
import io.tokenpipe.common.http.Health;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.http.RuntimeMetrics;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.TopicBootstrap;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.delivery.ChatCompletions;
import io.tokenpipe.common.log.LogSettings;
import io.tokenpipe.common.log.ThreadDeaths;
import io.tokenpipe.delivery.DeliveryApi;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.delivery.IngestTurns;
import io.tokenpipe.delivery.DeliverySettings;
import io.tokenpipe.delivery.WebPage;
import io.tokenpipe.index.IndexRoutes;
import io.tokenpipe.common.privacy.KafkaSessionKeys;
import io.tokenpipe.common.privacy.PrivacySettings;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionEraser;
import io.tokenpipe.index.IndexSettings;
import io.tokenpipe.index.RetentionSweeper;
import io.tokenpipe.index.SessionIndex;
import io.tokenpipe.ingest.IngestApi;
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.ingest.IngestSettings;
import io.tokenpipe.kafka.embedded.EmbeddedKafkaBroker;
import io.tokenpipe.worker.WorkerService;
import io.tokenpipe.worker.WorkerSettings;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * The whole stack in one JVM: an embedded KRaft broker (unless KAFKA_BOOTSTRAP_SERVERS points at
 * one), ingest-api, an inference worker and delivery-sse, with the web page, all on one HTTP port.
 * The pieces are the same classes the separate services run; only the wiring differs.
 */
public final class Standalone implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Standalone.class);

    /** Every environment variable the embedded launcher reads: its own and every service's. */
    public static final List<Setting> SETTINGS = Stream.of(StandaloneSettings.SETTINGS, IngestService.SETTINGS,
            WorkerService.SETTINGS, DeliveryService.SETTINGS).flatMap(List::stream).distinct().toList();

    private final Deque<AutoCloseable> closeInReverse;
    private final Javalin http;
    private final String bootstrapServers;
    private final WorkerService.Worker worker;
    private final DeliveryApi delivery;
    private final String developmentKey;
    private final Path developmentKeyFile;

    private Standalone(Deque<AutoCloseable> closeInReverse, Javalin http, String bootstrapServers, WorkerService.Worker worker,
                       DeliveryApi delivery, String developmentKey, Path developmentKeyFile) {
        this.closeInReverse = closeInReverse;
        this.http = http;
        this.bootstrapServers = bootstrapServers;
        this.worker = worker;
        this.delivery = delivery;
        this.developmentKey = developmentKey;
        this.developmentKeyFile = developmentKeyFile;
    }

    public static void main(String[] args) {
        ThreadDeaths.logUncaught();
        LogSettings.check(Env.system());
        Standalone stack = start(Env.system());
        Runtime.getRuntime().addShutdownHook(new Thread(stack::close, "tokenpipe-shutdown"));
        WorkerService.exitOnFailure(stack.worker()::failure);
        log.info("tokenpipe is up: open http://localhost:{}/ (Kafka at {})", stack.port(), stack.bootstrapServers());
        if (stack.developmentKey() != null) {
            // On the console for the person who started it, on purpose; never through the logger.
            System.out.println();
            System.out.println("  Open http://localhost:" + stack.port() + "/#key=" + stack.developmentKey());
            System.out.println("  (a development API key with every scope, kept in " + stack.developmentKeyFile()
                    + "; use it as Authorization: Bearer <key>. Configure API_KEYS to use your own.)");
            System.out.println();
        }
    }

    public static Standalone start(Env env) {
        long began = System.nanoTime();
        StandaloneSettings settings = StandaloneSettings.from(env);
        Deque<AutoCloseable> resources = new ArrayDeque<>();
        try {
            Map<String, String> derived = new LinkedHashMap<>();
            if (!settings.externalKafka()) {
                EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(settings.dataDir().resolve("kafka"),
                        settings.embeddedKafkaPort());
                resources.push(broker);
                derived.put(KafkaSettings.BOOTSTRAP_SERVERS.name(), broker.bootstrapServers());
            }
            if (!settings.externalKafka() && !env.isSet(WorkerSettings.WORKER_ID)
                    && !env.isSet(WorkerSettings.GROUP_INSTANCE_ID)) {
                // The same worker across restarts on the same data: after a crash it fences its own
                // predecessor and, a static group member, gets its partitions back without waiting for
                // the dead member's session to time out.
                String workerId = persistentWorkerId(settings.dataDir());
                derived.put(WorkerSettings.WORKER_ID.name(), workerId);
                derived.put(WorkerSettings.GROUP_INSTANCE_ID.name(), workerId);
            }
            if (!env.isSet(IndexSettings.STATE_DIR)) {
                derived.put(IndexSettings.STATE_DIR.name(), settings.dataDir().resolve("state").toString());
            }
            AuthSettings configuredAuth = AuthSettings.from(env);
            String developmentKey = null;
            if (!configuredAuth.open() && !configuredAuth.hasKeys()) {
                developmentKey = DevelopmentKey.loadOrCreate(settings.dataDir());
                derived.put(AuthSettings.API_KEYS.name(), ApiKeys.entry("dev", EnumSet.of(Scope.ADMIN), developmentKey));
            }
            Env effective = env.with(derived);
            // One process issues and checks every token: a made-up secret will do when none is configured.
            AccessControl access = AccessControl.from(AuthSettings.from(effective), true, Clock.systemUTC());

            KafkaSettings kafka = KafkaSettings.from(effective);
            Topics topics = Topics.from(effective);
            int partitions;
            try (Admin admin = Admin.create(kafka.admin())) {
                partitions = TopicBootstrap.ensure(admin, topics);
            }

            PrivacySettings privacy = PrivacySettings.from(effective);
            KafkaSessionKeys keys = new KafkaSessionKeys(kafka, topics.sessionKeys(), privacy.encrypt(), IngestService.KEY_WAIT,
                    Clock.systemUTC()).start();
            resources.push(keys);
            SessionIndex index = new SessionIndex(kafka, topics, IndexSettings.from(effective), access::nodeAuthorization);
            resources.push(index);
            IngestSettings ingestSettings = IngestSettings.from(effective);
            Producer<String, byte[]> producer = IngestService.createProducer(kafka);
            resources.push(() -> producer.close(Duration.ofSeconds(5)));
            IngestApi ingest = new IngestApi(ingestSettings, topics, producer, index, access.tokens(), Clock.systemUTC(), keys);
            DeliverySettings deliverySettings = DeliverySettings.from(effective);
            DeliveryApi delivery = new DeliveryApi(deliverySettings, kafka, topics, partitions, index, effective, keys).start();
            resources.push(delivery);
            AutoCloseable deliveryCloser = resources.peek();
            ChatCompletions chat = new ChatCompletions(ingest.submissions(), delivery, index);

            java.util.concurrent.atomic.AtomicReference<WorkerService.Worker> workerRef = new java.util.concurrent.atomic.AtomicReference<>();
            Javalin http = Javalin.create(config -> {
                HttpDefaults.apply(config);
                config.http.maxRequestSize = ingestSettings.maxRequestBytes();
                Cors.apply(config, ingestSettings.corsOrigins());
                access.register(config.routes);
                ingest.register(config.routes);
                delivery.register(config.routes, new IngestTurns(ingest), access);
                chat.register(config.routes);
                IndexRoutes.register(config.routes, index);
                WebPage.register(config, "");
                Map<String, BooleanSupplier> checks = new LinkedHashMap<>();
                checks.put("session_index", index::running);
                checks.put("stream_tail", delivery::healthy);
                checks.put("session_keys", keys::healthy);
                checks.put("inference_worker", () -> workerRef.get() != null && workerRef.get().healthy());
                Health.register(config.routes, checks);
                Map<String, java.util.function.Supplier<Object>> gauges = new LinkedHashMap<>(delivery.tailGauges());
                gauges.put("open_streams", delivery::openStreams);
                gauges.put("open_sockets", delivery::openSockets);
                gauges.put("inflight_turns", () -> workerRef.get() == null ? 0 : workerRef.get().consumer().inflightTurns());
                RuntimeMetrics.register(config.routes, gauges);
            }).start(settings.httpPort());
            // Streams end before the HTTP server stops, so each completes while its request is alive;
            // clients reconnect with Last-Event-ID.
            resources.remove(deliveryCloser);
            resources.push(http::stop);
            resources.push(deliveryCloser);
            index.start(http.port());
            RetentionSweeper sweeper = new RetentionSweeper(index, new SessionEraser(keys, producer, topics,
                    ingestSettings.kafkaWriteTimeout()), privacy.retention(), privacy.sweepInterval(), Clock.systemUTC()).start();
            resources.push(sweeper);

            WorkerService.Worker worker = WorkerService.startWorker(kafka, topics, WorkerSettings.from(effective),
                    WorkerService.models(effective), new SessionCodec(keys));
            resources.push(worker);
            workerRef.set(worker);
            index.awaitRunning(Duration.ofSeconds(60));
            log.info("tokenpipe started in {} ms", (System.nanoTime() - began) / 1_000_000);
            return new Standalone(resources, http, kafka.bootstrapServers(), worker, delivery, developmentKey,
                    settings.dataDir().resolve(DevelopmentKey.FILE_NAME));
        } catch (RuntimeException e) {
            closeAll(resources);
            throw e;
        }
    }

    /** This data directory's worker id, made up on first start. */
    static String persistentWorkerId(Path dataDir) {
        Path file = dataDir.resolve("worker-id");
        try {
            if (Files.exists(file)) {
                String id = Files.readString(file).trim();
                if (!id.isEmpty()) {
                    return id;
                }
            }
            String id = "standalone-" + UUID.randomUUID().toString().substring(0, 8);
            Files.createDirectories(dataDir);
            Files.writeString(file, id + "\n");
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot keep the worker id in " + file, e);
        }
    }

    public int port() {
        return http.port();
    }

    /** The key made up because none was configured ({@link DevelopmentKey}), or {@code null}. */
    public String developmentKey() {
        return developmentKey;
    }

    Path developmentKeyFile() {
        return developmentKeyFile;
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    public WorkerService.Worker worker() {
        return worker;
    }

    /** Ends every open event stream; clients reconnect and resume (see {@link DeliveryApi#endStreams()}). */
    public void endStreams() {
        delivery.endStreams();
    }

    /** Event streams open right now. */
    public int deliveryStreams() {
        return delivery.openStreams();
    }

    /** WebSockets open right now (each may carry many streams). */
    public int deliverySockets() {
        return delivery.openSockets();
    }

    @Override
    public void close() {
        closeAll(closeInReverse);
    }

    private static void closeAll(Deque<AutoCloseable> resources) {
        while (!resources.isEmpty()) {
            AutoCloseable resource = resources.pop();
            try {
                resource.close();
            } catch (Exception e) {
                log.warn("error while stopping: {}", e.toString());
            }
        }
    }
}
