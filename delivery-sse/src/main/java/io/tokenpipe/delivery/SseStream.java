package io.tokenpipe.delivery;

import io.micrometer.core.instrument.Timer;
import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SessionLog;
import io.tokenpipe.common.metrics.LatencyHistogram;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.common.metrics.StageTimes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One client's stream of one session (an SSE response, or one subscription on a WebSocket), written by its own virtual thread so that a slow client blocks nobody else.
 *
 * <p>No gap, no duplicate: the stream subscribes to live events first (they queue), then replays
 * the log from where the client stands up to the live position, then sends the queued live
 * events. Every event carries its offset; anything at or below the last offset sent is skipped, so
 * the overlap between replay and live is harmless, and anything live that arrived before the
 * subscription is still in the log the replay reads.
 *
 * <p>A client too slow for its live queue is not dropped: the queue is discarded and the stream
 * reads what it missed from the log, then rejoins live delivery.
 */
final class SseStream {

    private static final Logger log = LoggerFactory.getLogger(SseStream.class);
    private static final int HISTORY_BATCH = 5_000;
    private static final int LIVE_BATCH = 256;

    private final String sessionId;
    private final ReplayPlan plan;
    private final boolean follow;
    private final StreamSink out;
    private final SessionLog sessionLog;
    private final Duration heartbeat;
    private final StreamFormat format;
    private final ArrayBlockingQueue<LogEvent> live;
    private final LatencyHistogram tailToSocket = StageTimes.of(StageTimes.TAIL_TO_SOCKET);
    private static final Timer CHUNK_DELIVERY = Metrics.latency(Metrics.CHUNK_DELIVERY,
            "A live event's record timestamp (the worker's send) to written and flushed to a client's socket");
    private static final Timer RESUME = Metrics.latency(Metrics.RESUME,
            "A stream request with Last-Event-ID arrived to its first event flushed to the client");
    private long resumeRequestedAtNanos; // 0 unless the stream is a resume
    private Pacer pacer; // null unless the stream is a paced replay
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private volatile boolean overflowed;
    private volatile Thread thread;
    private volatile boolean ended;
    private volatile int caughtUp;
    private long lastSent;
    private boolean firstSent;

    /**
     * @param after  the offset the client already has (its Last-Event-ID), or -1
     * @param follow keep the stream open for live events after the replay
     */
    SseStream(String sessionId, ReplayPlan plan, long after, boolean follow, StreamSink out, SessionLog sessionLog,
              DeliverySettings settings) {
        this(sessionId, plan, after, follow, out, sessionLog, settings, StreamFormat.nativeEvents(settings.retry().toMillis()));
    }

    /**
     * @param out    where the stream's bytes or frames go (an HTTP response, a WebSocket subscription)
     * @param format what the client sees of each event, and when the stream is complete
     */
    SseStream(String sessionId, ReplayPlan plan, long after, boolean follow, StreamSink out, SessionLog sessionLog,
              DeliverySettings settings, StreamFormat format) {
        this.sessionId = sessionId;
        this.format = format;
        this.plan = plan;
        this.lastSent = after;
        this.follow = follow;
        this.out = out;
        this.sessionLog = sessionLog;
        this.heartbeat = settings.heartbeat();
        this.live = new ArrayBlockingQueue<>(settings.clientQueueEvents());
    }

    /**
     * Marks the stream as a client's resume (it sent Last-Event-ID) whose request arrived at
     * {@code nanos} ({@link System#nanoTime()}): the resume latency counts from there.
     */
    SseStream resumeRequestedAt(long nanos) {
        this.resumeRequestedAtNanos = nanos;
        return this;
    }

    /** Makes the stream a paced replay: each event waits for its time ({@link Pacer}). */
    SseStream paced(Pacer pacer) {
        this.pacer = pacer;
        return this;
    }

    /** Starts the stream's thread; the future completes when the stream has ended. */
    CompletableFuture<Void> start() {
        thread = Thread.ofVirtual().name("sse-" + sessionId).start(this::run);
        return done;
    }

    /** Ends the stream (node shutting down): the client reconnects, to this node or another. */
    void end() {
        ended = true;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    /** Whether live events were dropped because the client fell behind (it then catches up from the log). */
    boolean fellBehind() {
        return overflowed || caughtUp > 0;
    }

    /**
     * Called by the log's live reader, one event after another in offset order; never blocks. Once an
     * event did not fit, none after it may be queued either until the stream has caught up from the
     * log: the stream would send them, move past the one that did not fit, and lose it.
     */
    private void offer(LogEvent event) {
        if (overflowed || !live.offer(event)) {
            overflowed = true;
        }
    }

    private void run() {
        SessionLog.Subscription subscription = null;
        try {
            if (ended) {
                return;
            }
            out.open(format);
            if (follow) {
                subscription = sessionLog.subscribe(sessionId, this::offer);
            }
            replay();
            if (follow && !format.finished()) {
                followLive();
            }
        } catch (IOException e) {
            log.debug("client of {} went away: {}", sessionId, e.toString());
        } catch (InterruptedException e) {
            log.debug("stream of {} ended by the server", sessionId);
        } catch (RuntimeException e) {
            log.error("stream of {} failed", sessionId, e);
        } finally {
            if (subscription != null) {
                subscription.close();
            }
            done.complete(null);
        }
    }

    private void replay() throws IOException, InterruptedException {
        for (long[] range : plan.ranges()) {
            copy(range[0], range[1] + 1);
            if (format.finished()) {
                return;
            }
        }
        copyRecent(plan.openFrom());
    }

    private void followLive() throws IOException, InterruptedException {
        LogEvent[] batch = new LogEvent[LIVE_BATCH];
        int sent = 0;
        while (true) {
            if (overflowed) {
                overflowed = false;
                caughtUp++;
                live.clear();
                log.debug("client of {} fell behind; reading from the log from {}", sessionId, lastSent + 1);
                copyRecent(lastSent + 1);
                continue;
            }
            if (format.finished()) {
                return;
            }
            LogEvent next = live.poll(heartbeat.toMillis(), TimeUnit.MILLISECONDS);
            if (next == null) {
                out.heartbeat(format);
                continue;
            }
            int taken = 0;
            do {
                if (send(next)) {
                    batch[sent++] = next;
                }
            } while (++taken < LIVE_BATCH && !format.finished() && (next = live.poll()) != null);
            out.flush();
            long flushed = System.nanoTime();
            long flushedMillis = System.currentTimeMillis();
            for (int i = 0; i < sent; i++) {
                if (batch[i].readAtNanos() != 0) {
                    tailToSocket.recordNanos(flushed - batch[i].readAtNanos());
                }
                if (batch[i].timestampMillis() != 0) {
                    CHUNK_DELIVERY.record(Math.max(0, flushedMillis - batch[i].timestampMillis()), TimeUnit.MILLISECONDS);
                }
            }
            firstFlushed(sent > 0);
            sent = 0;
        }
    }

    /**
     * Copies the session's events from {@code from} up to the live position: from the log's memory
     * when it reaches back that far, else from the log up to its end. Either way, what follows
     * arrives live: the stream subscribed before it looked.
     */
    private void copyRecent(long from) throws IOException, InterruptedException {
        List<LogEvent> recent = sessionLog.recent(plan.partition(), sessionId, Math.max(from, lastSent + 1));
        if (recent == null) {
            copy(from, sessionLog.end(plan.partition()));
            return;
        }
        boolean wrote = false;
        for (LogEvent event : recent) {
            wrote |= send(event);
            if (format.finished()) {
                break;
            }
        }
        out.flush();
        firstFlushed(wrote);
    }

    /** Copies the session's events in [from, to) from the log to the client. */
    private void copy(long from, long to) throws IOException, InterruptedException {
        long position = Math.max(from, lastSent + 1);
        while (position < to && !format.finished()) {
            SessionLog.Batch batch = sessionLog.read(plan.partition(), sessionId, position, to, HISTORY_BATCH);
            boolean wrote = false;
            for (LogEvent event : batch.events()) {
                wrote |= send(event);
                if (format.finished()) {
                    break;
                }
            }
            out.flush();
            firstFlushed(wrote);
            position = batch.next();
        }
    }

    /** A resumed stream's latency: from its request to the first event on the wire, once. */
    private void firstFlushed(boolean wroteEvents) {
        if (wroteEvents && !firstSent) {
            firstSent = true;
            if (resumeRequestedAtNanos != 0) {
                RESUME.record(System.nanoTime() - resumeRequestedAtNanos, TimeUnit.NANOSECONDS);
            }
        }
    }

    /** Writes the event (as the format shows it) unless the client has it already; true if anything was written. */
    private boolean send(LogEvent event) throws IOException, InterruptedException {
        if (event.offset() > lastSent && !format.finished()) {
            if (pacer != null) {
                out.flush(); // what came before is on the wire while this one waits
                out.pace(pacer.await(event, () -> out.heartbeat(format)));
            }
            lastSent = event.offset();
            return out.event(event, format);
        }
        return false;
    }
}
