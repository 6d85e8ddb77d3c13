package io.tokenpipe.standalone;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.kafka.KafkaSettings;

import java.nio.file.Path;
import java.util.List;

/**
 * Settings of the one-JVM launcher. Every service setting applies as well; these decide where Kafka
 * comes from and where the single HTTP port is.
 *
 * @param externalKafka {@code true} when KAFKA_BOOTSTRAP_SERVERS is set: then no broker is embedded
 */
public record StandaloneSettings(int httpPort, Path dataDir, int embeddedKafkaPort, boolean externalKafka) {

    public static final Setting HTTP_PORT = Setting.of("TOKENPIPE_HTTP_PORT", "8080",
            "Embedded launcher: the one HTTP port serving the web page, ingest-api and delivery-sse.");
    public static final Setting DATA_DIR = Setting.of("TOKENPIPE_DATA_DIR", "./data",
            "Embedded launcher: where the embedded broker and the session index keep their data (survives restarts).");
    public static final Setting EMBEDDED_KAFKA_PORT = Setting.of("EMBEDDED_KAFKA_PORT", "9092",
            "Embedded launcher: port of the embedded broker (0 picks a free one). Ignored when KAFKA_BOOTSTRAP_SERVERS is set.");

    public static final List<Setting> SETTINGS = List.of(HTTP_PORT, DATA_DIR, EMBEDDED_KAFKA_PORT);

    public static StandaloneSettings from(Env env) {
        return new StandaloneSettings(env.integer(HTTP_PORT), Path.of(env.required(DATA_DIR)),
                env.integer(EMBEDDED_KAFKA_PORT), env.isSet(KafkaSettings.BOOTSTRAP_SERVERS));
    }
}
