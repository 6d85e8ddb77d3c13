package io.tokenpipe.testing;

import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the container broker is set up; needs no Docker engine (the container is configured, not started). */
class ContainerKafkaTest {

    @Test
    void theContainerRunsTheComposeFilesKafkaImageAtTheVersionOfTheEmbeddedBroker() {
        DockerImageName image = ContainerKafka.image();
        assertEquals(ComposeFile.kafkaImage(), image.asCanonicalNameString());
        assertEquals("apache/kafka", image.getUnversionedPart());
        // The embedded broker and the clients are built from ${kafka.version}: compare like with like.
        assertEquals(AppInfoParser.getVersion(), image.getVersionPart(),
                "docker-compose.yml's broker should be the Kafka version the project builds against");
    }

    @Test
    void theContainerGetsTheEmbeddedBrokersSettingsOverTestcontainersDefaults() {
        KafkaContainer container = ContainerKafka.create(ContainerKafka.image());
        Map<String, String> env = container.getEnvMap();
        ContainerKafka.environment(ContainerKafka.BROKER_SETTINGS).forEach((name, value) ->
                assertEquals(value, env.get(name), name));
        // Testcontainers' default is one partition for consumer offsets; ours wins.
        assertEquals("10", env.get("KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS"));
        assertEquals("false", env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE"));
        assertTrue(env.containsKey("KAFKA_LISTENERS"), "Testcontainers keeps its own listeners: " + env);
    }

    @Test
    void brokerPropertiesBecomeTheImagesVariables() {
        assertEquals(Map.of("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "1000", "KAFKA_MIN_INSYNC_REPLICAS", "1"),
                ContainerKafka.environment(Map.of("group.min.session.timeout.ms", "1000", "min.insync.replicas", "1")));
        assertThrows(IllegalArgumentException.class, () -> ContainerKafka.environment(Map.of("odd_name", "1")));
    }

    @Test
    void theImageIsReadFromTheKafkaServiceOfAComposeFile(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("docker-compose.yml"), """
                x-env: &env
                  A: "1"
                services:
                  app:
                    image: app:local
                    environment:
                      <<: [*env]
                  kafka:
                    image: apache/kafka:9.9.9
                """);
        assertEquals("apache/kafka:9.9.9", ComposeFile.kafkaImage(file));

        Path noKafka = Files.writeString(dir.resolve("other.yml"), "services:\n  app:\n    image: app:local\n");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ComposeFile.kafkaImage(noKafka));
        assertTrue(e.getMessage().contains("services.kafka.image"), e.getMessage());
    }
}
