package io.tokenpipe.common.kafka;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * How to reach Kafka. Besides the bootstrap servers, any Kafka client property can be passed as an
 * environment variable: {@code KAFKA_} followed by the property name in upper case with dots as
 * underscores ({@code KAFKA_SECURITY_PROTOCOL=SASL_SSL} sets {@code security.protocol}). Each client
 * receives only the properties it knows.
 */
public record KafkaSettings(String bootstrapServers, Map<String, String> clientProperties) {

    public static final Setting BOOTSTRAP_SERVERS = Setting.of("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092",
            "Kafka bootstrap servers. Any other Kafka client property can be given as KAFKA_<PROPERTY> "
                    + "(e.g. KAFKA_SECURITY_PROTOCOL for security.protocol).");

    public static final List<Setting> SETTINGS = List.of(BOOTSTRAP_SERVERS);

    private static final String PREFIX = "KAFKA_";

    /**
     * How every reader of the stream and turns topics reads them. Workers write those topics in
     * long transactions that exist to fence a partition's previous owner, not to hide events: every
     * record the broker acknowledged is final the moment it is acknowledged, even when its
     * transaction is later aborted (a fenced owner's). Reading committed records only would hold
     * each token back until its transaction commits. See docs/architecture.md, "Exactly once".
     */
    public static final String STREAM_ISOLATION = "read_uncommitted";

    public KafkaSettings {
        clientProperties = Map.copyOf(clientProperties);
    }

    public static KafkaSettings from(Env env) {
        Map<String, String> properties = new HashMap<>();
        env.withPrefix(PREFIX).forEach((name, value) -> {
            if (!name.equals(BOOTSTRAP_SERVERS.name())) {
                properties.put(name.substring(PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.'), value);
            }
        });
        return new KafkaSettings(env.required(BOOTSTRAP_SERVERS), properties);
    }

    public static KafkaSettings of(String bootstrapServers) {
        return new KafkaSettings(bootstrapServers, Map.of());
    }

    /** Producer config: our defaults, then the operator's passthrough properties, then what correctness needs. */
    public Map<String, Object> producer(Map<String, Object> defaults, Map<String, Object> enforced) {
        return build(ProducerConfig.configNames(), defaults, enforced);
    }

    public Map<String, Object> consumer(Map<String, Object> defaults, Map<String, Object> enforced) {
        return build(ConsumerConfig.configNames(), defaults, enforced);
    }

    public Map<String, Object> admin() {
        return build(AdminClientConfig.configNames(), Map.of(), Map.of());
    }

    private Map<String, Object> build(Set<String> known, Map<String, Object> defaults, Map<String, Object> enforced) {
        Map<String, Object> config = new HashMap<>(defaults);
        clientProperties.forEach((name, value) -> {
            if (known.contains(name)) {
                config.put(name, value);
            }
        });
        config.putAll(enforced);
        config.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return config;
    }
}
