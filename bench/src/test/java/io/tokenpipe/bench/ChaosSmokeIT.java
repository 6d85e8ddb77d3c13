package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The chaos benchmark's short version, run by CI: tokenpipe as separate processes (broker, ingest-api,
 * two workers, two delivery nodes), a worker and then a delivery node SIGKILLed while turns stream,
 * each started again. Asserts correctness only: every accepted turn completes, and no client loses,
 * doubles or reorders an event, across the faults. Timings are printed in the report, never asserted.
 */
class ChaosSmokeIT {

    @Test
    void killedWorkersAndDeliveryNodesLoseAndDoubleNothing(@TempDir Path out) throws Exception {
        Path jar = Bench.locateStandaloneJar();
        assumeTrue(jar != null, "standalone/target/tokenpipe-standalone.jar is not built (./mvnw -B verify builds it); "
                + "skipping the chaos smoke test");

        // Turns of 12 s (240 tokens at 20/s) opened over 2 s; the first fault 4 s into the load, the second 4 s
        // later: both land while every turn is still streaming, whatever the machine's speed.
        BenchOptions options = BenchOptions.parse(
                "--mode", "cluster", "--workers", "2", "--delivery-nodes", "2",
                "--chaos", "--chaos-interval-seconds", "4", "--chaos-worker-down-ms", "500",
                "--sessions", "24", "--tokens", "240", "--rate", "20", "--ttft-ms", "50",
                "--drop-share", "0.1", "--drop-pause-ms", "300",
                "--ramp-seconds", "2", "--hold-seconds", "0", "--warmup-sessions", "0",
                "--settle-max-seconds", "10", "--settle-cores", "2",
                "--replay-events", "0", "--verify-sample", "24",
                "--server-jvm-opts", "-Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 --enable-native-access=ALL-UNNAMED",
                "--standalone-jar", jar.toString(), "--no-live-heap", "--out", out.toString());
        Bench.Outcome outcome = Bench.run(options);

        assertNull(outcome.failure("cluster"), "cluster mode ran");
        Map<String, Object> c = outcome.correctness("cluster");
        for (String counter : new String[] {"lost_events", "duplicated_events", "reordered_events", "text_mismatches",
                "incomplete_sessions", "failed_sessions", "foreign_events", "replay_mismatches"}) {
            assertEquals(0L, ((Number) c.get(counter)).longValue(), counter + " in " + c);
        }
        JsonNode mode = Json.MAPPER.readTree(out.resolve("report.json").toFile()).path("modes").path("cluster");
        assertEquals(24 * 240, mode.path("throughput").path("chunks_delivered").asLong(), "every token of every turn");
        JsonNode chaos = mode.path("cluster").path("chaos");
        Set<String> killed = new HashSet<>();
        for (JsonNode fault : chaos.path("faults")) {
            killed.add(fault.path("kind").asText());
            assertTrue(fault.path("back_after_s").isNumber(), "the killed node came back: " + fault);
        }
        assertTrue(killed.contains("sigkill_worker") && killed.contains("sigkill_delivery"),
                "a worker and a delivery node were killed: " + chaos);
        assertTrue(chaos.path("turns_crossing_a_fault").asInt() > 0, "turns streamed across the faults: " + chaos);
        assertTrue(outcome.ok(), "the run passes");
    }
}
