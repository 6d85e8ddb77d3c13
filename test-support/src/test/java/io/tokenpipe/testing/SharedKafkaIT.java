package io.tokenpipe.testing;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The embedded side of the switch, on a broker of its own (besides the shared one). */
class SharedKafkaIT {

    /** What each broker sets for itself: node, listeners, directories. Everything else must match. */
    private static final Set<String> PER_NODE = Set.of("process.roles", "node.id", "broker.id",
            "controller.quorum.voters", "listeners", "advertised.listeners", "listener.security.protocol.map",
            "controller.listener.names", "inter.broker.listener.name", "log.dirs");

    private static TestBroker embedded;

    @BeforeAll
    static void start() {
        embedded = SharedKafka.start(BrokerChoice.EMBEDDED, () -> {
            throw new AssertionError("the embedded broker must not look for Docker");
        });
    }

    @AfterAll
    static void stop() {
        embedded.close();
    }

    @Test
    void choosingTheEmbeddedBrokerStartsOneThatAnswers() throws Exception {
        assertEquals(BrokerChoice.EMBEDDED, embedded.kind());
        assertTrue(embedded.description().startsWith("embedded broker at "), embedded.description());
        try (Admin admin = admin()) {
            assertEquals(1, admin.describeCluster().nodes().get(10, TimeUnit.SECONDS).size());
        }
    }

    @Test
    void theContainerBrokerIsSetUpAsTheEmbeddedOneIs() throws Exception {
        Map<String, String> effective = new TreeMap<>();
        Map<String, String> setByTheEmbeddedBroker = new TreeMap<>();
        try (Admin admin = admin()) {
            String node = Integer.toString(admin.describeCluster().nodes().get(10, TimeUnit.SECONDS).iterator().next().id());
            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, node);
            Config config = admin.describeConfigs(List.of(broker)).all().get(10, TimeUnit.SECONDS).get(broker);
            for (ConfigEntry entry : config.entries()) {
                effective.put(entry.name(), entry.value());
                if (entry.source() == ConfigEntry.ConfigSource.STATIC_BROKER_CONFIG && !PER_NODE.contains(entry.name())) {
                    setByTheEmbeddedBroker.put(entry.name(), entry.value());
                }
            }
        }
        // Everything the embedded broker sets, the container gets too...
        setByTheEmbeddedBroker.forEach((name, value) -> assertEquals(value, ContainerKafka.BROKER_SETTINGS.get(name),
                "ContainerKafka.BROKER_SETTINGS must follow EmbeddedKafkaBroker's " + name));
        // ...and nothing the embedded broker runs differently (some, like min.insync.replicas=1, equal the default).
        ContainerKafka.BROKER_SETTINGS.forEach((name, value) -> assertEquals(value, effective.get(name),
                "the embedded broker runs with a different " + name));
    }

    @Test
    void theConditionThatSkipsBrokerTestsWithoutDockerIsRegistered() {
        // Auto-detected (parent pom): without it, a skipped @BeforeAll would hide whole classes.
        assertTrue(ContainerBrokerCondition.CONSULTED.contains(SharedKafkaIT.class.getName()),
                "ContainerBrokerCondition was not consulted: " + ContainerBrokerCondition.CONSULTED);
    }

    @Test
    void theSharedBrokerIsTheOneTheSwitchSelects() {
        assertEquals(BrokerChoice.selected(), SharedKafka.kind());
    }

    private static Admin admin() {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, embedded.bootstrapServers()));
    }
}
