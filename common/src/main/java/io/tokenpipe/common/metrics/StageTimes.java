package io.tokenpipe.common.metrics;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Where a token's time goes inside this process, stage by stage: each stage a
 * {@link LatencyHistogram}, recorded for every token. The benchmark reads them at the start and the
 * end of its measured phase ({@code GET /metrics/stages}) and reports the difference; Prometheus
 * scrapes the same measurements from {@code GET /metrics}.
 */
public final class StageTimes {

    /** A partition writer's queue: the turn handed the event over → the writer sent it. */
    public static final String WRITER_QUEUE = "writer_queue";
    /** The writer sent the event → the broker's acknowledgement was applied. */
    public static final String WRITE_ACK = "write_ack";
    /** The producer's send (the record's CreateTime, ms precision) → the node's live tail read it. */
    public static final String SEND_TO_TAIL = "send_to_tail";
    /** The live tail read the event → written and flushed to a client's socket (live events only). */
    public static final String TAIL_TO_SOCKET = "tail_to_socket";

    private static final Map<String, LatencyHistogram> STAGES = new ConcurrentHashMap<>();

    private StageTimes() {
    }

    public static LatencyHistogram of(String stage) {
        // Mirrored into Prometheus (tokenpipe_stage_latency_seconds{stage=…}) at the same measurement points.
        return STAGES.computeIfAbsent(stage, s -> new LatencyHistogram(Metrics.latency(Metrics.STAGE,
                "Per-stage latency of every token inside this process", "stage", s)));
    }

    /** Every stage's bucket counts, for {@code GET /metrics/stages}. */
    public static Map<String, long[]> snapshot() {
        Map<String, long[]> out = new LinkedHashMap<>();
        STAGES.forEach((name, histogram) -> out.put(name, histogram.snapshot()));
        return out;
    }
}
