package io.tokenpipe.index;

import io.tokenpipe.common.privacy.SessionEraser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Deletes sessions older than the retention ({@code SESSION_RETENTION_MS}), through the same path as
 * {@code DELETE /v1/sessions/{id}}. Each node sweeps the partitions its index holds, so every session
 * is swept by exactly one node at a time (a partition moving between sweeps may be swept twice, which
 * deletes nothing twice: a deleted session is no longer in the index).
 */
public final class RetentionSweeper implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RetentionSweeper.class);

    private final SessionIndex index;
    private final SessionEraser eraser;
    private final Duration retention;
    private final Duration interval;
    private final Clock clock;
    private final Thread thread;
    private volatile boolean running = true;

    /** @param retention {@link Duration#ZERO}: sessions are kept for ever and nothing is swept */
    public RetentionSweeper(SessionIndex index, SessionEraser eraser, Duration retention, Duration interval, Clock clock) {
        this.index = index;
        this.eraser = eraser;
        this.retention = retention;
        this.interval = interval;
        this.clock = clock;
        this.thread = Thread.ofPlatform().name("retention-sweeper").daemon().unstarted(this::run);
    }

    public RetentionSweeper start() {
        if (!retention.isZero()) {
            thread.start();
        }
        return this;
    }

    private void run() {
        while (running) {
            try {
                Thread.sleep(interval); // the sweep's period, not a wait for anything
                sweepOnce();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("retention sweep failed; trying again in {}: {}", interval, e.toString());
            }
        }
    }

    /** Deletes this node's sessions created before now minus the retention; returns how many. */
    public int sweepOnce() {
        Instant before = clock.instant().minus(retention);
        List<String> expired = new ArrayList<>();
        index.forEachLocalSession(session -> {
            if (session.createdAt() != null && session.createdAt().isBefore(before)
                    && !eraser.keys().deleted(session.sessionId())) {
                expired.add(session.sessionId());
            }
        });
        for (String sessionId : expired) {
            eraser.erase(sessionId);
        }
        if (!expired.isEmpty()) {
            log.info("deleted {} sessions created before {} (SESSION_RETENTION_MS)", expired.size(), before);
        }
        return expired.size();
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
