package io.tokenpipe.testing;

import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A Kafka broker in a container ({@code org.testcontainers.kafka.KafkaContainer}) on the image that
 * docker-compose.yml runs, set up like the embedded broker, so the same tests run against the broker
 * users deploy.
 */
final class ContainerKafka {

    /**
     * The cluster-wide settings of the embedded broker (embedded-kafka's EmbeddedKafkaBroker; its
     * listeners, node id and directories aside), which the tests rely on: one replica for internal
     * topics, groups that form at once, session timeouts as short as the tests use, no topic created
     * by a typo. SharedKafkaIT checks this list against the running embedded broker's configuration.
     */
    static final Map<String, String> BROKER_SETTINGS = orderedMap(
            "offsets.topic.replication.factor", "1",
            "offsets.topic.num.partitions", "10",
            "transaction.state.log.replication.factor", "1",
            "transaction.state.log.min.isr", "1",
            "transaction.state.log.num.partitions", "10",
            "share.coordinator.state.topic.replication.factor", "1",
            "share.coordinator.state.topic.min.isr", "1",
            "default.replication.factor", "1",
            "min.insync.replicas", "1",
            "group.initial.rebalance.delay.ms", "0",
            "group.min.session.timeout.ms", "1000",
            "group.consumer.min.session.timeout.ms", "1000",
            "group.consumer.min.heartbeat.interval.ms", "500",
            "group.streams.min.session.timeout.ms", "1000",
            "log.cleaner.dedupe.buffer.size", Integer.toString(4 * 1024 * 1024),
            "auto.create.topics.enable", "false");

    private ContainerKafka() {
    }

    /** docker-compose.yml's Kafka image. */
    static DockerImageName image() {
        return DockerImageName.parse(ComposeFile.kafkaImage());
    }

    /** The container, configured but not started (needs no Docker engine yet). */
    static KafkaContainer create(DockerImageName image) {
        return new KafkaContainer(image).withEnv(environment(BROKER_SETTINGS));
    }

    /** Starts a container broker and returns once it is running; needs a Docker engine. */
    static TestBroker start() {
        DockerImageName image = image();
        KafkaContainer container = create(image);
        container.start();
        return new TestBroker(BrokerChoice.CONTAINER, container.getBootstrapServers(),
                image.asCanonicalNameString() + " container at " + container.getBootstrapServers(), container::stop);
    }

    /**
     * Broker properties as the apache/kafka image reads them: {@code KAFKA_} and the name in upper
     * case with dots as underscores ({@code auto.create.topics.enable} is
     * {@code KAFKA_AUTO_CREATE_TOPICS_ENABLE}), as docker-compose.yml sets its broker.
     */
    static Map<String, String> environment(Map<String, String> brokerProperties) {
        Map<String, String> env = new LinkedHashMap<>();
        brokerProperties.forEach((name, value) -> {
            if (!name.matches("[a-z0-9.]+")) {
                // Names with '_' or '-' are escaped differently by different images: not needed so far.
                throw new IllegalArgumentException("no plain KAFKA_ variable for broker property " + name);
            }
            env.put("KAFKA_" + name.toUpperCase(Locale.ROOT).replace('.', '_'), value);
        });
        return env;
    }

    private static Map<String, String> orderedMap(String... keysAndValues) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(map);
    }
}
