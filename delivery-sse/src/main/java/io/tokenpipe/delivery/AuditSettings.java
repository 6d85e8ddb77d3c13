package io.tokenpipe.delivery;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/**
 * The auditors' side of delivery-sse: paced replays and the access trail.
 *
 * @param paceMaxGap the longest pause a paced replay makes between two events (a longer original gap is
 *                   shortened to it, and the event says so)
 * @param trailWriteTimeout how long an audit read waits for its access-trail record to be acknowledged
 *                          before it is refused with 503 (no read goes unrecorded)
 */
public record AuditSettings(Duration paceMaxGap, Duration trailWriteTimeout) {

    public static final Setting PACE_MAX_GAP_MS = Setting.of("SSE_PACE_MAX_GAP_MS", "60000",
            "Longest pause a paced replay (?pace=) makes between two events; a request may ask for less with max_gap_ms. Longer original gaps (between turns, say) are shortened to it and flagged on the event.");
    public static final Setting TRAIL_WRITE_TIMEOUT_MS = Setting.of("AUDIT_TRAIL_WRITE_TIMEOUT_MS", "5000",
            "How long an audit read (search, transcript, replay) waits for Kafka to acknowledge its access-trail record; then it is refused with 503 audit_trail_unavailable rather than served unrecorded.");

    public static final List<Setting> SETTINGS = List.of(PACE_MAX_GAP_MS, TRAIL_WRITE_TIMEOUT_MS);

    public static AuditSettings from(Env env) {
        return new AuditSettings(env.millis(PACE_MAX_GAP_MS), env.millis(TRAIL_WRITE_TIMEOUT_MS));
    }
}
