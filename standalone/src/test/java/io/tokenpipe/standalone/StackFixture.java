package io.tokenpipe.standalone;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/** Environment for a whole stack on the shared test broker, isolated by its own topics and group names. */
public final class StackFixture {

    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    private StackFixture() {
    }

    public static Map<String, String> env(Topics topics, Path dataDir, Map<String, String> overrides) {
        String unique = "it" + SEQUENCE.incrementAndGet() + "-" + ProcessHandle.current().pid();
        Map<String, String> env = new HashMap<>(SharedKafka.env(topics));
        env.put("TOKENPIPE_HTTP_PORT", "0");
        env.put("TOKENPIPE_DATA_DIR", dataDir.toString());
        env.put("INDEX_APPLICATION_ID", "index-" + unique);
        env.put("INDEX_SESSION_TIMEOUT_MS", "6000");
        env.put("WORKER_GROUP_ID", "workers-" + unique);
        env.put("WORKER_SESSION_TIMEOUT_MS", "3000");
        env.put("SYNTHETIC_TTFT_MS", "20");
        env.put("SYNTHETIC_TOKENS_PER_SECOND", "100");
        env.put("SSE_HEARTBEAT_MS", "500");
        env.putAll(overrides);
        return env;
    }

    public static Standalone start(Topics topics, Path dataDir, Map<String, String> overrides) {
        try {
            Files.createDirectories(dataDir);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return Standalone.start(Env.of(env(topics, dataDir, overrides)));
    }
}
