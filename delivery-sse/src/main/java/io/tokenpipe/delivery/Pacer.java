package io.tokenpipe.delivery;

import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;
import java.time.Duration;

/**
 * Schedules a paced replay ({@code ?pace=original} or {@code ?pace=<speed>}): each event is sent when
 * as much time has passed since the replay's first event as passed between their Kafka timestamps
 * (the writer's send times), divided by the speed. A gap longer than {@code maxGap} (an idle evening
 * between two turns) is shortened to it, so a replay never holds a connection for hours; the
 * {@link Mark} sent with the event says so. The schedule is kept against the replay's start, not the
 * previous event: a late event does not delay the ones after it.
 */
final class Pacer {

    /** The time a pacer waits by; tests give one they can observe. */
    interface Clock {
        long nanos();

        void sleep(long nanos) throws InterruptedException;
    }

    static final Clock SYSTEM = new Clock() {
        @Override
        public long nanos() {
            return System.nanoTime();
        }

        @Override
        public void sleep(long nanos) throws InterruptedException {
            Thread.sleep(Duration.ofNanos(nanos));
        }
    };

    /** Runs while the pacer waits longer than a heartbeat interval (keeps proxies and the client's socket alive). */
    interface Idle {
        void beat() throws IOException;
    }

    /**
     * What a paced event is sent with: its offset, its original time and gap (from Kafka timestamps,
     * ms since the replay's first event and since the event before), when it was due in the replay
     * and when it was actually written (ms since the replay's first event, by the server's clock).
     */
    record Mark(long offset, long originalMs, long gapMs, boolean capped, long dueMs, long sentMs) {
    }

    static final double MIN_SPEED = 0.1;
    static final double MAX_SPEED = 100;

    private final double speed;
    private final long maxGapMillis;
    private final long heartbeatNanos;
    private final Clock clock;
    private long startNanos;
    private boolean started;
    private long firstTimestamp;
    private long previousTimestamp;
    private double dueMillis;

    Pacer(double speed, Duration maxGap, Duration heartbeat, Clock clock) {
        this.speed = speed;
        this.maxGapMillis = maxGap.toMillis();
        this.heartbeatNanos = Math.max(1, heartbeat.toNanos());
        this.clock = clock;
    }

    /**
     * The request's pacing: {@code null} without {@code pace}; 400 when {@code pace} is neither
     * {@code original} nor a speed in [0.1, 100], or {@code max_gap_ms} is not 0..{@code maxGap}.
     */
    static Pacer of(String pace, String maxGapParam, Duration maxGap, Duration heartbeat) {
        if (pace == null) {
            if (maxGapParam != null) {
                throw ApiException.badRequest("invalid_request", "max_gap_ms applies to paced replays only (add pace=original)");
            }
            return null;
        }
        double speed;
        if (pace.trim().equalsIgnoreCase("original")) {
            speed = 1;
        } else {
            try {
                speed = Double.parseDouble(pace.trim());
            } catch (NumberFormatException e) {
                speed = Double.NaN;
            }
            if (!(speed >= MIN_SPEED && speed <= MAX_SPEED)) {
                throw ApiException.badRequest("invalid_pace", "pace is 'original' or a speed factor from "
                        + MIN_SPEED + " to " + (int) MAX_SPEED + " (2 = twice as fast)");
            }
        }
        Duration gap = maxGap;
        if (maxGapParam != null) {
            long millis;
            try {
                millis = Long.parseLong(maxGapParam.trim());
            } catch (NumberFormatException e) {
                millis = -1;
            }
            if (millis < 0 || millis > maxGap.toMillis()) {
                throw ApiException.badRequest("invalid_request", "max_gap_ms must be an integer from 0 to "
                        + maxGap.toMillis() + " (SSE_PACE_MAX_GAP_MS)");
            }
            gap = Duration.ofMillis(millis);
        }
        return new Pacer(speed, gap, heartbeat, SYSTEM);
    }

    /** Waits until {@code event} is due, calling {@code idle} every heartbeat interval meanwhile. */
    Mark await(LogEvent event, Idle idle) throws IOException, InterruptedException {
        long timestamp = event.timestampMillis();
        long gap = 0;
        boolean capped = false;
        if (!started) {
            started = true;
            startNanos = clock.nanos();
            firstTimestamp = timestamp;
            previousTimestamp = timestamp;
        } else {
            gap = Math.max(0, timestamp - previousTimestamp); // 0 when a timestamp is unknown or earlier
            long held = Math.min(gap, maxGapMillis);
            capped = held < gap;
            dueMillis += held / speed;
            previousTimestamp = Math.max(previousTimestamp, timestamp);
        }
        long dueAt = startNanos + Math.round(dueMillis * 1_000_000);
        for (long left = dueAt - clock.nanos(); left > 0; left = dueAt - clock.nanos()) {
            if (left > heartbeatNanos) {
                clock.sleep(heartbeatNanos);
                idle.beat();
            } else {
                clock.sleep(left);
            }
        }
        long sentMs = (clock.nanos() - startNanos) / 1_000_000;
        return new Mark(event.offset(), Math.max(0, timestamp - firstTimestamp), gap, capped, Math.round(dueMillis), sentMs);
    }
}
