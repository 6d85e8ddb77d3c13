package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The benchmark's smoke configuration, run by CI: the real harness end to end in both modes (child
 * server processes, real SSE clients, a dropped and resumed client, a replayed session), at a
 * size that takes seconds. It checks that the reports are written and that nothing was lost,
 * doubled or reordered; it never asserts on timings (CI machines vary).
 *
 * <p>Needs standalone/target/tokenpipe-standalone.jar, which the standalone module's package phase
 * builds before this module's tests under {@code ./mvnw -B verify} (what CI runs) or {@code install};
 * under {@code ./mvnw test} alone it does not exist yet, and this test is skipped.
 */
class BenchSmokeIT {

    @Test
    void bothModesDeliverEveryChunkExactlyOnceAndWriteTheReports(@TempDir Path out) throws Exception {
        Path jar = Bench.locateStandaloneJar();
        assumeTrue(jar != null, "standalone/target/tokenpipe-standalone.jar is not built (it is built in the standalone "
                + "module's package phase: run ./mvnw -B verify); skipping the benchmark smoke test");

        BenchOptions options = BenchOptions.parse(
                "--sessions", "5", "--tokens", "30", "--rate", "50", "--ttft-ms", "50",
                "--drop-share", "0.2", "--drop-pause-ms", "300",
                "--ramp-seconds", "1", "--hold-seconds", "0", "--warmup-sessions", "0",
                "--replay-events", "500", "--replay-runs", "1",
                "--mode", "both", "--server-jvm-opts", "-Xmx512m -XX:+UseG1GC --enable-native-access=ALL-UNNAMED",
                "--standalone-jar", jar.toString(), "--no-live-heap",
                "--out", out.toString());
        Bench.Outcome outcome = Bench.run(options);

        for (String file : new String[] {"report.json", "report.md", "latency.svg"}) {
            assertTrue(Files.size(out.resolve(file)) > 0, file + " written");
        }
        for (String mode : new String[] {"kafka", "direct"}) {
            assertNull(outcome.failure(mode), mode + " mode ran");
            Map<String, Object> c = outcome.correctness(mode);
            assertNotNull(c, mode + " mode measured");
            for (String counter : new String[] {"lost_events", "duplicated_events", "reordered_events", "text_mismatches",
                    "incomplete_sessions", "failed_sessions", "foreign_events", "replay_mismatches"}) {
                assertEquals(0L, ((Number) c.get(counter)).longValue(), mode + ": " + counter + " in " + c);
            }
            assertTrue(((Number) c.get("replay_checked_sessions")).longValue() >= 1, mode + ": clients compared with replays");
        }
        JsonNode report = Json.MAPPER.readTree(out.resolve("report.json").toFile());
        for (String mode : new String[] {"kafka", "direct"}) {
            JsonNode m = report.path("modes").path(mode);
            assertEquals(150, m.path("throughput").path("chunks_delivered").asLong(), mode + ": 5 sessions × 30 tokens");
            assertEquals(1, m.path("throughput").path("resumes").asLong(), mode + ": the dropped client resumed");
            assertTrue(m.path("replay").path("correct").asBoolean(), mode + ": the 500-event session replayed whole");
        }
        assertTrue(outcome.ok(), "the run passes");
        assertTrue(Files.readString(out.resolve("latency.svg")).startsWith("<svg"), "an SVG plot");
    }
}
