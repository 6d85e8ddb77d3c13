package io.tokenpipe.delivery;

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
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.ingest.IngestSettings;
import io.tokenpipe.ingest.IngestApi;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/** delivery-sse as its own process: configuration from the environment, wired by hand. */
public final class DeliveryService implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DeliveryService.class);

    /** Every environment variable delivery-sse reads. */
    public static final List<Setting> SETTINGS = Stream.of(KafkaSettings.SETTINGS, Topics.SETTINGS,
            DeliverySettings.SETTINGS, DeliveryApi.QUOTA_SETTINGS, IngestSettings.TURN_SETTINGS, IndexSettings.SETTINGS,
            PrivacySettings.SETTINGS,
            AuthSettings.SETTINGS, LogSettings.SETTINGS).flatMap(List::stream).toList();

    private final Javalin http;
    private final DeliveryApi api;
    private final SessionIndex index;
    private final Producer<String, byte[]> producer;
    private final KafkaSessionKeys keys;
    private final RetentionSweeper sweeper;

    private DeliveryService(Javalin http, DeliveryApi api, SessionIndex index, Producer<String, byte[]> producer,
                            KafkaSessionKeys keys, RetentionSweeper sweeper) {
        this.http = http;
        this.api = api;
        this.index = index;
        this.producer = producer;
        this.keys = keys;
        this.sweeper = sweeper;
    }

    public static void main(String[] args) {
        ThreadDeaths.logUncaught();
        LogSettings.check(Env.system());
        DeliveryService service = start(Env.system());
        Runtime.getRuntime().addShutdownHook(new Thread(service::close, "delivery-shutdown"));
    }

    public static DeliveryService start(Env env) {
        KafkaSettings kafka = KafkaSettings.from(env);
        Topics topics = Topics.from(env);
        DeliverySettings settings = DeliverySettings.from(env);
        AccessControl access = AccessControl.from(AuthSettings.from(env), false, Clock.systemUTC());
        int partitions;
        try (Admin admin = Admin.create(kafka.admin())) {
            partitions = TopicBootstrap.ensure(admin, topics);
        }
        PrivacySettings privacy = PrivacySettings.from(env);
        KafkaSessionKeys keys = new KafkaSessionKeys(kafka, topics.sessionKeys(), privacy.encrypt(), IngestService.KEY_WAIT,
                Clock.systemUTC()).start();
        SessionIndex index = new SessionIndex(kafka, topics, IndexSettings.from(env), access::nodeAuthorization);
        DeliveryApi api = new DeliveryApi(settings, kafka, topics, partitions, index, env, keys).start();
        // The OpenAI-compatible endpoint writes prompts (and sessions) like ingest-api does.
        IngestSettings turnSettings = IngestSettings.from(env);
        Producer<String, byte[]> producer = IngestService.createProducer(kafka);
        // The WebSocket's submit and cancel run ingest-api's own code on the same producer: a client
        // following its sessions here sends its prompts on the same socket.
        IngestApi ingest = new IngestApi(turnSettings, topics, producer, index, access.tokens(), Clock.systemUTC(), keys);
        ChatCompletions chat = new ChatCompletions(ingest.submissions(), api, index);
        RetentionSweeper sweeper = new RetentionSweeper(index, new SessionEraser(keys, producer, topics,
                turnSettings.kafkaWriteTimeout()), privacy.retention(), privacy.sweepInterval(), Clock.systemUTC());
        Javalin http = Javalin.create(config -> {
            HttpDefaults.apply(config);
            config.http.maxRequestSize = turnSettings.maxRequestBytes();
            Cors.apply(config, settings.corsOrigins());
            access.register(config.routes);
            api.register(config.routes, new IngestTurns(ingest), access);
            chat.register(config.routes);
            IndexRoutes.register(config.routes, index);
            WebPage.register(config, settings.webIngestUrl());
            Map<String, BooleanSupplier> checks = new LinkedHashMap<>();
            checks.put("session_index", index::running);
            checks.put("stream_tail", api::healthy);
            checks.put("session_keys", keys::healthy);
            Health.register(config.routes, checks);
            Map<String, java.util.function.Supplier<Object>> gauges = new LinkedHashMap<>(api.tailGauges());
            gauges.put("open_streams", api::openStreams);
            gauges.put("open_sockets", api::openSockets);
            RuntimeMetrics.register(config.routes, gauges);
        }).start(settings.httpPort());
        index.start(http.port());
        sweeper.start();
        log.info("delivery-sse listening on port {}", http.port());
        return new DeliveryService(http, api, index, producer, keys, sweeper);
    }

    public int port() {
        return http.port();
    }

    public DeliveryApi api() {
        return api;
    }

    public SessionIndex index() {
        return index;
    }

    /** Ends open streams first so clients reconnect elsewhere, then leaves the index group. */
    @Override
    public void close() {
        sweeper.close();
        api.close();
        http.stop();
        index.close();
        keys.close();
        producer.close(Duration.ofSeconds(5));
    }
}
