package io.tokenpipe.testing;

import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.TopicBootstrap;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.kafka.embedded.EmbeddedKafkaBroker;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Assumptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * One real broker per test JVM, started on first use and stopped when the JVM exits: the in-process
 * KRaft broker (about 3 s to start), or with {@code -Dtokenpipe.test.kafka=container} a Kafka
 * container on docker-compose.yml's image (see {@link BrokerChoice}). Tests stay independent by
 * using their own topics ({@link #freshTopics}).
 */
public final class SharedKafka {

    /** Why every test that needs a broker is skipped when the container broker is chosen and Docker is absent. */
    static final String NO_DOCKER = "No Docker engine: skipped, since -D" + BrokerChoice.PROPERTY
            + "=container runs the tests against a Kafka container (docker-compose.yml's image). "
            + "Without that switch they run against the embedded broker.";

    private static final Logger log = LoggerFactory.getLogger(SharedKafka.class);
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static volatile TestBroker broker;

    private SharedKafka() {
    }

    /**
     * The shared broker's address, starting it on first use. With the container broker chosen and no
     * Docker engine, aborts the calling test: JUnit reports it skipped with {@link #NO_DOCKER}.
     */
    public static synchronized String bootstrapServers() {
        if (broker == null) {
            TestBroker started = start(BrokerChoice.selected(), DockerEngine::available);
            Runtime.getRuntime().addShutdownHook(new Thread(started::close, "shared-kafka-shutdown"));
            log.info("the tests of this JVM share the {}", started.description());
            broker = started;
        }
        return broker.bootstrapServers();
    }

    /** Which broker the tests of this JVM run against (starting it on first use). */
    public static synchronized BrokerChoice kind() {
        bootstrapServers();
        return broker.kind();
    }

    /** Starts the broker {@code choice} names; asks {@code dockerAvailable} only for the container. */
    static TestBroker start(BrokerChoice choice, BooleanSupplier dockerAvailable) {
        return switch (choice) {
            case EMBEDDED -> startEmbedded();
            case CONTAINER -> {
                Assumptions.assumeTrue(dockerAvailable.getAsBoolean(), NO_DOCKER);
                yield ContainerKafka.start();
            }
        };
    }

    private static TestBroker startEmbedded() {
        Path dir = tempDir();
        EmbeddedKafkaBroker embedded = EmbeddedKafkaBroker.start(dir, 0);
        return new TestBroker(BrokerChoice.EMBEDDED, embedded.bootstrapServers(),
                "embedded broker at " + embedded.bootstrapServers(), () -> {
                    embedded.close();
                    deleteRecursively(dir);
                });
    }

    public static KafkaSettings settings() {
        return KafkaSettings.of(bootstrapServers());
    }

    /** Topics under a prefix no other test uses, created with {@code partitions} partitions each. */
    public static Topics freshTopics(String name, int partitions) {
        Topics topics = Topics.defaults().withPartitions(partitions)
                .withPrefix("t" + SEQUENCE.incrementAndGet() + "-" + name + "-");
        try (Admin admin = Admin.create(settings().admin())) {
            TopicBootstrap.ensure(admin, topics);
        }
        return topics;
    }

    /** The environment variables that point a service at the shared broker and at {@code topics}. */
    public static Map<String, String> env(Topics topics) {
        Map<String, String> env = new HashMap<>();
        env.put(KafkaSettings.BOOTSTRAP_SERVERS.name(), bootstrapServers());
        env.put(Topics.SESSIONS.name(), topics.sessions());
        env.put(Topics.PROMPTS.name(), topics.prompts());
        env.put(Topics.STREAM.name(), topics.stream());
        env.put(Topics.TURNS.name(), topics.turns());
        env.put(Topics.CONTROL.name(), topics.control());
        env.put(Topics.SESSION_KEYS.name(), topics.sessionKeys());
        env.put(Topics.PARTITIONS.name(), Integer.toString(topics.partitions()));
        env.putAll(TestAuth.env()); // authentication on, as in production; the test clients send TestAuth's keys
        return env;
    }

    private static Path tempDir() {
        try {
            return Files.createTempDirectory("tokenpipe-test-kafka");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort: it is a temp directory
        }
    }
}
