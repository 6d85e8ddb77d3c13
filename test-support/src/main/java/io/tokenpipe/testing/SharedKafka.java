package io.tokenpipe.testing;

import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.TopicBootstrap;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.kafka.embedded.EmbeddedKafkaBroker;
import org.apache.kafka.clients.admin.Admin;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * One real in-process KRaft broker per test JVM, started on first use (about 3 s) and stopped when
 * the JVM exits. Tests stay independent by using their own topics ({@link #freshTopics}).
 */
public final class SharedKafka {

    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static volatile EmbeddedKafkaBroker broker;

    private SharedKafka() {
    }

    public static synchronized String bootstrapServers() {
        if (broker == null) {
            Path dir = tempDir();
            broker = EmbeddedKafkaBroker.start(dir, 0);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                broker.close();
                deleteRecursively(dir);
            }, "shared-kafka-shutdown"));
        }
        return broker.bootstrapServers();
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
