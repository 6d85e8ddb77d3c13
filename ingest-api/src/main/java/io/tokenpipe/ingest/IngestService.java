package io.tokenpipe.ingest;

import io.javalin.Javalin;
import io.tokenpipe.common.auth.AccessControl;
import io.tokenpipe.common.auth.AuthSettings;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.http.Cors;
import io.tokenpipe.common.http.Health;
import io.tokenpipe.common.http.HttpDefaults;
import io.tokenpipe.common.http.RuntimeMetrics;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.TopicBootstrap;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.LogSettings;
import io.tokenpipe.common.log.ThreadDeaths;
import io.tokenpipe.common.privacy.KafkaSessionKeys;
import io.tokenpipe.common.privacy.PrivacySettings;
import io.tokenpipe.common.privacy.SessionEraser;
import io.tokenpipe.index.IndexRoutes;
import io.tokenpipe.index.RetentionSweeper;
import io.tokenpipe.index.IndexSettings;
import io.tokenpipe.index.SessionIndex;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** ingest-api as its own process: configuration from the environment, wired by hand. */
public final class IngestService implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(IngestService.class);

    /** Every environment variable ingest-api reads. */
    public static final List<Setting> SETTINGS = Stream.of(KafkaSettings.SETTINGS, Topics.SETTINGS,
            IngestSettings.SETTINGS, IndexSettings.SETTINGS, PrivacySettings.SETTINGS, AuthSettings.SETTINGS, LogSettings.SETTINGS).flatMap(List::stream).toList();

    private final Javalin http;
    private final SessionIndex index;
    private final Producer<String, byte[]> producer;
    private final KafkaSessionKeys keys;
    private final RetentionSweeper sweeper;

    private IngestService(Javalin http, SessionIndex index, Producer<String, byte[]> producer, KafkaSessionKeys keys,
                          RetentionSweeper sweeper) {
        this.http = http;
        this.index = index;
        this.producer = producer;
        this.keys = keys;
        this.sweeper = sweeper;
    }

    public static void main(String[] args) {
        ThreadDeaths.logUncaught();
        LogSettings.check(Env.system());
        IngestService service = start(Env.system());
        Runtime.getRuntime().addShutdownHook(new Thread(service::close, "ingest-shutdown"));
    }

    public static IngestService start(Env env) {
        KafkaSettings kafka = KafkaSettings.from(env);
        Topics topics = Topics.from(env);
        IngestSettings settings = IngestSettings.from(env);
        AccessControl access = AccessControl.from(AuthSettings.from(env), false, Clock.systemUTC());
        try (Admin admin = Admin.create(kafka.admin())) {
            TopicBootstrap.ensure(admin, topics);
        }
        Producer<String, byte[]> producer = createProducer(kafka);
        PrivacySettings privacy = PrivacySettings.from(env);
        KafkaSessionKeys keys = new KafkaSessionKeys(kafka, topics.sessionKeys(), privacy.encrypt(), KEY_WAIT,
                Clock.systemUTC()).start();
        SessionIndex index = new SessionIndex(kafka, topics, IndexSettings.from(env), access::nodeAuthorization);
        IngestApi api = new IngestApi(settings, topics, producer, index, access.tokens(), Clock.systemUTC(), keys);
        RetentionSweeper sweeper = new RetentionSweeper(index, new SessionEraser(keys, producer, topics,
                settings.kafkaWriteTimeout()), privacy.retention(), privacy.sweepInterval(), Clock.systemUTC());
        Javalin http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            config.http.maxRequestSize = settings.maxRequestBytes();
            Cors.apply(config, settings.corsOrigins());
            access.register(config.routes);
            api.register(config.routes);
            IndexRoutes.register(config.routes, index);
            Health.register(config.routes, Map.of("session_index", index::running, "session_keys", keys::healthy));
            RuntimeMetrics.register(config.routes, Map.of());
        }).start(settings.httpPort());
        index.start(http.port());
        sweeper.start();
        log.info("ingest-api listening on port {}", http.port());
        return new IngestService(http, index, producer, keys, sweeper);
    }

    /** How long a request waits for this node to read a key written moments ago on another node. */
    public static final Duration KEY_WAIT = Duration.ofSeconds(5);

    /** Producer for prompts and sessions: every write is acknowledged by all in-sync replicas, once. */
    public static Producer<String, byte[]> createProducer(KafkaSettings kafka) {
        return new KafkaProducer<>(kafka.producer(
                Map.of(ProducerConfig.LINGER_MS_CONFIG, 0, // a request waits for its own ack: do not batch it
                        ProducerConfig.CLIENT_ID_CONFIG, "tokenpipe-ingest"),
                Map.of(ProducerConfig.ACKS_CONFIG, "all",
                        ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)),
                new StringSerializer(), new ByteArraySerializer());
    }

    public int port() {
        return http.port();
    }

    public SessionIndex index() {
        return index;
    }

    @Override
    public void close() {
        sweeper.close();
        http.stop();
        index.close();
        keys.close();
        producer.close(Duration.ofSeconds(5));
    }
}
