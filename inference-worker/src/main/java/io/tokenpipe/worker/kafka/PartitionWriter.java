package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.log.OutputClosedException;
import io.tokenpipe.common.log.TurnOutput;
import io.tokenpipe.common.metrics.LatencyHistogram;
import io.tokenpipe.common.metrics.StageTimes;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongFunction;
import java.util.function.Supplier;

/**
 * The only writer of one stream partition, and the only committer of the matching prompts partition.
 *
 * <p><b>Visible at once, fenced by the broker.</b> Turns hand it events; its thread sends each at once
 * with an idempotent, transactional producer ({@code acks=all}), and an event is final the moment the
 * broker acknowledges it: every reader reads uncommitted records, so no token waits for a commit. The
 * transaction exists for two other things. Its id belongs to the partition, not to the worker, so the
 * partition's next owner initialises the same id, which bumps the producer epoch: from then on the
 * broker refuses every write of this writer, and a worker presumed dead cannot append anything to
 * any session. And it carries the prompts' committed offsets. It is committed every
 * {@code commitInterval} (seconds, not milliseconds: a commit costs the broker markers and the next
 * write a wait for them), never to make events visible.
 *
 * <p><b>Exactly once without relying on commit.</b> A record the broker appended stays readable even
 * if its transaction is aborted. So after any failed write (an error, or acknowledgements that do not
 * come within the write timeout) the writer never simply writes again: it replaces its producer
 * (aborting the transaction and fencing the old instance, so nothing more of it can land), reads what
 * did land after the last acknowledged event, and sends again only the rest, in order. A take-over
 * does the same across workers: the new owner reads the partition up to its end after fencing the old
 * one ({@link StreamRecovery}) and continues each turn after its last event in the log.
 *
 * <p><b>Turn marks.</b> For each boundary event (turn started, resumed, completed, failed) a mark
 * naming its offset goes to the turns topic once the event is acknowledged, and every 50 ms a
 * watermark says how far every boundary has been marked. A worker dying between an event and its mark
 * leaves the mark to the next owner, which writes the marks of every boundary it reads again.
 *
 * <p>Each commit records, in the offset's metadata, the stream offset from which the next owner must
 * read to find every turn still in flight ({@code scan_from}); see {@link StreamRecovery}.
 */
public final class PartitionWriter {

    private static final Logger log = LoggerFactory.getLogger(PartitionWriter.class);
    private static final int QUEUE_CAPACITY = 100_000;
    private static final int MAX_DRAIN = 5_000;
    private static final long WATERMARK_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long IDLE_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private sealed interface Request permits Write, Accepted, Skip, Inflight {
    }

    private record Write(StreamEvent event, byte[] json, long promptOffset, boolean done, CompletableFuture<Void> durable,
                         long queuedAt) implements Request {
    }

    private record Accepted(long promptOffset) implements Request {
    }

    private record Skip(long promptOffset) implements Request {
    }

    private record Inflight(String turnId, long promptOffset, long startedOffset) implements Request {
    }

    /** A turn whose prompt is not yet behind the committed position: the next owner must see its events. */
    private record Turn(long promptOffset, long startedOffset) {
    }

    /** What a writer needs to get past a failed write. */
    public interface Recovery {

        /** Another producer of the partition's transactional id, initialised: this fences every earlier one. */
        Producer<String, byte[]> newProducer();

        /**
         * Whether this worker still owns the partition, as the group coordinator sees it; throws when
         * that cannot be told now (a rebalance in progress, the coordinator unreachable). Asked before
         * {@link #newProducer()}: a worker that lost the partition (a zombie whose write failed) must not
         * fence the producer of the worker that owns it now.
         */
        boolean stillOwner();

        /** The stream partition's events from {@code offset} to its end now, read as clients read them. */
        List<StreamRecovery.Landed> landedFrom(long offset);

        static Recovery of(Supplier<Producer<String, byte[]>> newProducer, BooleanSupplier stillOwner,
                           LongFunction<List<StreamRecovery.Landed>> landedFrom) {
            return new Recovery() {
                @Override
                public Producer<String, byte[]> newProducer() {
                    return newProducer.get();
                }

                @Override
                public boolean stillOwner() {
                    return stillOwner.getAsBoolean();
                }

                @Override
                public List<StreamRecovery.Landed> landedFrom(long offset) {
                    return landedFrom.apply(offset);
                }
            };
        }
    }

    /**
     * Where a new writer starts.
     *
     * @param promptPosition the committed offset of the prompts partition
     * @param streamEnd      the end of the stream partition after the previous owner was fenced
     * @param repairs        marks of boundary events the previous owner may not have marked
     */
    public record Start(long promptPosition, long streamEnd, List<TurnMark> repairs) {
        public static Start empty() {
            return new Start(0, 0, List.of());
        }
    }

    /**
     * A record waiting for the broker's acknowledgement. Each is sent on one producer instance (its
     * generation); the instance's thread fills in the outcome, unless the record was since sent again
     * on a newer instance.
     */
    private static final class Sent {
        final Write write;        // null for a turn mark
        final TurnMark mark;      // null for an event
        final long boundary;      // a mark's boundary offset; -1 for a watermark or an event
        final ProducerRecord<String, byte[]> record;
        volatile int generation = -1;
        volatile long sentAt;
        volatile RecordMetadata metadata;
        volatile Exception error;

        Sent(Write write, TurnMark mark, long boundary, ProducerRecord<String, byte[]> record) {
            this.write = write;
            this.mark = mark;
            this.boundary = boundary;
            this.record = record;
        }

        boolean answered() {
            return metadata != null || error != null;
        }
    }

    private enum State { OPEN, DRAINING, CLOSED, FENCED }

    private final TopicPartition prompts;
    private final String streamTopic;
    private final String turnsTopic;
    private final Recovery recovery;
    private final ConsumerGroupMetadata group;
    private final long commitIntervalNanos;
    private final long writeTimeoutNanos;
    private final BlockingQueue<Request> requests = new ArrayBlockingQueue<>(QUEUE_CAPACITY);
    private final Thread thread;
    private final LatencyHistogram writerQueue = StageTimes.of(StageTimes.WRITER_QUEUE);
    private final LatencyHistogram writeAck = StageTimes.of(StageTimes.WRITE_ACK);
    private volatile State state = State.OPEN;
    private volatile int producersReplaced; // written by the writer's thread only

    // Everything below belongs to the writer's thread.
    private Producer<String, byte[]> producer;
    private final OffsetTracker tracker;
    private final Map<String, Turn> inflight = new HashMap<>();
    private final ArrayDeque<Sent> events = new ArrayDeque<>(); // taken, in order, not yet acknowledged
    private final ArrayDeque<Sent> marks = new ArrayDeque<>();  // likewise for turn marks and watermarks
    private final ArrayDeque<Sent> toSend = new ArrayDeque<>(); // of those, not yet sent on the current producer
    private final TreeSet<Long> unmarked = new TreeSet<>();     // boundaries in the log whose mark is not yet
    private final List<TurnMark> repairs;
    private long streamEnd;
    private int generation;                                     // of the producer instance
    private boolean inTransaction;
    private long transactionBegan;
    private long lastCommit;
    private OffsetAndMetadata lastCommitted;
    private long lastWatermark = -1;
    private long lastWatermarkAt;

    /**
     * @param producer       a transactional producer on which {@code initTransactions()} has completed
     * @param recovery       how to get past a failed write
     * @param commitInterval how long a transaction stays open: the rate of commits (markers, and a short
     *                       wait for them at the next write), and how often the prompts' offsets advance
     * @param writeTimeout   how long the broker may take to acknowledge a record before the producer is
     *                       replaced and whatever did not land is written again
     */
    public PartitionWriter(TopicPartition prompts, String streamTopic, String turnsTopic, Producer<String, byte[]> producer,
                           Recovery recovery, ConsumerGroupMetadata group, Start start, Duration commitInterval,
                           Duration writeTimeout) {
        this.prompts = prompts;
        this.streamTopic = streamTopic;
        this.turnsTopic = turnsTopic;
        this.producer = producer;
        this.recovery = recovery;
        this.group = group;
        this.tracker = new OffsetTracker(start.promptPosition());
        this.streamEnd = start.streamEnd();
        this.repairs = start.repairs();
        this.commitIntervalNanos = commitInterval.toNanos();
        this.writeTimeoutNanos = writeTimeout.toNanos();
        this.thread = Thread.ofPlatform().name("writer-" + prompts).daemon().unstarted(this::run);
    }

    public PartitionWriter start() {
        thread.start();
        return this;
    }

    public TopicPartition partition() {
        return prompts;
    }

    public boolean open() {
        return state == State.OPEN;
    }

    /** The output of the turn answering the prompt at {@code promptOffset}. */
    public TurnOutput output(long promptOffset) {
        return new TurnOutput() {
            @Override
            public void write(StreamEvent event) throws InterruptedException {
                PartitionWriter.this.write(event, promptOffset);
            }

            @Override
            public CompletableFuture<Void> finish(StreamEvent terminal) throws InterruptedException {
                return PartitionWriter.this.finish(terminal, promptOffset);
            }
        };
    }

    /** Queues an event of the turn answering the prompt at {@code promptOffset}. */
    public void write(StreamEvent event, long promptOffset) throws InterruptedException {
        enqueue(new Write(event, Json.event(event), promptOffset, false, null, System.nanoTime()));
    }

    /** Queues a turn's final event; the future completes when the broker has acknowledged it, and the prompt is done. */
    public CompletableFuture<Void> finish(StreamEvent terminal, long promptOffset) throws InterruptedException {
        CompletableFuture<Void> durable = new CompletableFuture<>();
        enqueue(new Write(terminal, Json.event(terminal), promptOffset, true, durable, System.nanoTime()));
        return durable;
    }

    /** A prompt was fetched: it now holds back the committed position until it is done. */
    public void accepted(long promptOffset) throws InterruptedException {
        enqueue(new Accepted(promptOffset));
    }

    /** A prompt needs no answer (already answered, or a duplicate): mark it done. */
    public void skip(long promptOffset) throws InterruptedException {
        enqueue(new Skip(promptOffset));
    }

    /** A turn taken over from the previous owner, in flight since {@code startedOffset}. */
    public void inflight(String turnId, long promptOffset, long startedOffset) throws InterruptedException {
        enqueue(new Inflight(turnId, promptOffset, startedOffset));
    }

    /**
     * Hands the partition over: refuses new events, writes what is queued, commits (with the offsets
     * and the in-flight metadata the next owner needs), and closes the producer.
     */
    public void closeForHandover(Duration timeout) {
        if (state == State.OPEN) {
            state = State.DRAINING;
        }
        LockSupport.unpark(thread);
        join(timeout);
        producer.close(Duration.ofSeconds(5));
    }

    /** Stops without writing anything more: the partition already belongs to another worker. */
    public void abandon() {
        state = State.CLOSED;
        thread.interrupt();
        join(Duration.ofSeconds(5));
        producer.close(Duration.ZERO);
    }

    /** How often a failed or stalled write made this writer replace its producer. */
    public int producersReplaced() {
        return producersReplaced;
    }

    private void join(Duration timeout) {
        try {
            thread.join(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            log.warn("writer for {} did not stop within {}", prompts, timeout);
        }
    }

    private void enqueue(Request request) throws InterruptedException {
        while (true) {
            if (state != State.OPEN) {
                throw new OutputClosedException("partition " + prompts + " is no longer written by this worker");
            }
            if (requests.offer(request, 100, TimeUnit.MILLISECONDS)) {
                LockSupport.unpark(thread);
                return;
            }
        }
    }

    // --- the writer's thread ----------------------------------------------------------------------

    /** Why the writer cannot go on with its producer as it is. */
    private abstract static sealed class Failure extends Exception permits WriteFailed, Fenced {
        Failure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A write that failed in a way a new producer can recover from. */
    private static final class WriteFailed extends Failure {
        WriteFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** This writer may not write any more: another worker owns the partition now. */
    private static final class Fenced extends Failure {
        final boolean epochRefused; // the broker refused the producer's epoch (rather than our own finding)

        Fenced(String message, Throwable cause) {
            this(message, cause, false);
        }

        Fenced(String message, Throwable cause, boolean epochRefused) {
            super(message, cause);
            this.epochRefused = epochRefused;
        }
    }

    private void run() {
        try {
            for (TurnMark mark : repairs) {
                queueMark(mark, mark.streamOffset());
            }
            while (state == State.OPEN || state == State.DRAINING) {
                try {
                    if (step()) {
                        break; // handed over
                    }
                } catch (Failure e) {
                    // A refused epoch usually means another worker owns the partition now. But the
                    // coordinator also aborts a transaction that outlived its timeout, which bumps the
                    // epoch just the same: then this worker, still the owner, goes on with a new producer.
                    if (e instanceof Fenced fenced && (!fenced.epochRefused || !owner())) {
                        throw fenced;
                    }
                    log.warn("a write on {} failed ({}); replacing the producer and writing again what did not land",
                            prompts, e.getMessage());
                    recover();
                }
            }
        } catch (InterruptedException e) {
            // abandon(): stop where we are
        } catch (Fenced e) {
            state = State.FENCED;
            log.warn("fenced on {}: another worker owns it now ({})", prompts, e.getMessage());
        } catch (RuntimeException e) {
            state = State.FENCED;
            log.error("writer for {} failed; its turns stop and the partition's next owner continues them", prompts, e);
        }
        failQueued();
    }

    /** One round of work; true once a hand-over is complete. */
    private boolean step() throws InterruptedException, Failure {
        boolean progressed = applyAcknowledged();
        progressed |= takeRequests();
        long now = System.nanoTime();
        maybeWatermark(now, false);
        sendUnsent();
        checkStalled(now);
        if (state == State.DRAINING && requests.isEmpty()) {
            commit(true);
            state = State.CLOSED;
            log.info("handed over {} at prompt offset {}", prompts, lastCommitted == null ? "-" : lastCommitted.offset());
            return true;
        }
        if (commitDue(now)) {
            commit(false);
            progressed = true;
        }
        if (!progressed) {
            LockSupport.parkNanos(this, nextDue(now) - now);
            if (state == State.CLOSED) {
                throw new InterruptedException("abandoned");
            }
        }
        return false;
    }

    private boolean takeRequests() {
        boolean took = false;
        Request request;
        int taken = 0;
        while (taken++ < MAX_DRAIN && (request = requests.poll()) != null) {
            took = true;
            switch (request) {
                case Write w -> {
                    Sent sent = new Sent(w, null, -1, new ProducerRecord<>(streamTopic, prompts.partition(),
                            w.event().sessionId(), w.json(), EventHeaders.withType(w.event().type())));
                    events.add(sent);
                    toSend.add(sent);
                }
                case Accepted a -> tracker.accepted(a.promptOffset());
                case Skip s -> tracker.done(s.promptOffset());
                case Inflight f -> inflight.putIfAbsent(f.turnId(), new Turn(f.promptOffset(), f.startedOffset()));
            }
        }
        return took;
    }

    private void queueMark(TurnMark mark, long boundary) {
        Sent sent = new Sent(null, mark, boundary, new ProducerRecord<>(turnsTopic, prompts.partition(), mark.sessionId(),
                Json.bytes(mark), EventHeaders.withType(TurnMark.TYPE)));
        marks.add(sent);
        toSend.add(sent);
        if (boundary >= 0) {
            unmarked.add(boundary);
        }
    }

    /** Sends, in order, every waiting record not yet sent on the current producer. */
    private void sendUnsent() throws Failure {
        Sent next;
        while ((next = toSend.peek()) != null) {
            send(next);
            toSend.poll();
        }
    }

    private void send(Sent sent) throws Failure {
        try {
            if (!inTransaction) {
                producer.beginTransaction();
                inTransaction = true;
                transactionBegan = System.nanoTime();
            }
            int sentOn = generation;
            sent.metadata = null;
            sent.error = null;
            sent.generation = sentOn;
            sent.sentAt = System.nanoTime();
            if (sent.write != null && sentOn == 0) {
                writerQueue.recordNanos(sent.sentAt - sent.write.queuedAt());
            }
            producer.send(sent.record, (metadata, error) -> {
                if (sent.generation != sentOn) {
                    return; // the outcome of a replaced producer: the record was sent again since
                }
                if (error != null) {
                    sent.error = error;
                } else {
                    sent.metadata = metadata;
                }
                LockSupport.unpark(thread);
            });
        } catch (KafkaException | IllegalStateException e) {
            throw classify("send", e);
        }
    }

    /** Applies, in order, whatever the broker has acknowledged; true if anything was. */
    private boolean applyAcknowledged() throws Failure {
        boolean applied = false;
        while (!events.isEmpty() && events.peek().answered()) {
            Sent sent = events.peek();
            if (sent.error != null) {
                throw classify("write", sent.error); // it stays waiting: recovery finds out whether it landed
            }
            events.poll();
            writeAck.recordNanos(System.nanoTime() - sent.sentAt);
            applyLanded(sent.write, sent.metadata.offset());
            applied = true;
        }
        while (!marks.isEmpty() && marks.peek().answered()) {
            Sent sent = marks.peek();
            if (sent.error != null) {
                throw classify("mark", sent.error);
            }
            marks.poll();
            if (sent.boundary >= 0) {
                unmarked.remove(sent.boundary);
            }
            applied = true;
        }
        return applied;
    }

    /** An event is in the log at {@code offset}: final for every reader. */
    private void applyLanded(Write w, long offset) {
        streamEnd = Math.max(streamEnd, offset + 1);
        inflight.putIfAbsent(w.event().turnId(), new Turn(w.promptOffset(), offset));
        TurnMark mark = TurnMark.of(w.event(), offset);
        if (mark != null) {
            queueMark(mark, offset);
        }
        if (w.done()) {
            tracker.done(w.promptOffset());
            w.durable().complete(null);
        }
    }

    /**
     * Turns can stream for seconds without a boundary; without a mark meanwhile, readers would not know
     * how far the marks they have seen reach, and would read the partition from the last one. The
     * watermark names the highest offset below which every boundary's mark has been acknowledged.
     */
    private void maybeWatermark(long now, boolean force) {
        long through = (unmarked.isEmpty() ? streamEnd : unmarked.first()) - 1;
        if (through > lastWatermark && (force || now - lastWatermarkAt >= WATERMARK_INTERVAL_NANOS)) {
            queueMark(TurnMark.watermark(through, Instant.now()), -1);
            lastWatermark = through;
            lastWatermarkAt = now;
        }
    }

    private void checkStalled(long now) throws WriteFailed {
        for (Sent oldest : new Sent[]{events.peek(), marks.peek()}) {
            if (oldest != null && oldest.generation == generation && now - oldest.sentAt > writeTimeoutNanos) {
                throw new WriteFailed("the broker has not acknowledged a record within " + writeTimeoutNanos / 1_000_000
                        + " ms", null);
            }
        }
    }

    private boolean commitDue(long now) {
        if (inTransaction) {
            return now - transactionBegan >= commitIntervalNanos;
        }
        return now - lastCommit >= commitIntervalNanos && offsetsChanged();
    }

    private long nextDue(long now) {
        long due = now + IDLE_PARK_NANOS;
        if (inTransaction) {
            due = Math.min(due, transactionBegan + commitIntervalNanos);
        }
        if (!events.isEmpty() || !marks.isEmpty()) {
            due = Math.min(due, now + TimeUnit.MILLISECONDS.toNanos(5)); // a callback wakes us sooner
        }
        return Math.max(due, now + 1);
    }

    /**
     * Waits for every acknowledgement, then commits the transaction with the prompts' offsets. Nothing
     * becomes visible here (it already is); this advances the committed offsets and ends the transaction.
     */
    private void commit(boolean handOver) throws InterruptedException, Failure {
        long deadline = System.nanoTime() + writeTimeoutNanos;
        awaitAcknowledged(deadline);
        if (handOver) {
            maybeWatermark(System.nanoTime(), true); // the next owner's readers know every mark at once
            awaitAcknowledged(deadline);
        }
        // A finished turn stays listed until the committed position passes its prompt: until then the
        // next owner would fetch that prompt again and must find the turn's final event.
        long position = tracker.position();
        inflight.values().removeIf(t -> t.promptOffset() < position);
        OffsetAndMetadata offsets = new OffsetAndMetadata(position, scanMetadata());
        boolean newOffsets = !offsets.equals(lastCommitted);
        if (inTransaction || newOffsets) {
            try {
                if (!inTransaction) {
                    producer.beginTransaction();
                    inTransaction = true;
                }
                if (newOffsets) {
                    producer.sendOffsetsToTransaction(Map.of(prompts, offsets), group);
                }
                producer.commitTransaction();
            } catch (KafkaException | IllegalStateException e) {
                throw classify("commit", e);
            }
            inTransaction = false;
            lastCommitted = offsets;
        }
        lastCommit = System.nanoTime();
    }

    private void awaitAcknowledged(long deadline) throws InterruptedException, Failure {
        while (true) {
            applyAcknowledged();
            sendUnsent(); // the marks of events just applied
            if (events.isEmpty() && marks.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new WriteFailed("acknowledgements still missing after " + writeTimeoutNanos / 1_000_000 + " ms", null);
            }
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(1));
            if (state == State.CLOSED) {
                throw new InterruptedException("abandoned");
            }
        }
    }

    /**
     * After a failed write: a new producer of the same transactional id aborts the open transaction
     * and fences the old instance, so that nothing more of it can land. Then the log shows what did
     * land: a producer's records land in the order sent, so those are a prefix of the waiting events;
     * they are applied as written, and only the rest is sent again.
     *
     * <p>Only the partition's owner may do this: a new producer would fence whoever holds the id now.
     */
    private void recover() throws InterruptedException, Fenced {
        long backoff = 100;
        producer.close(Duration.ZERO);
        if (!owner()) {
            throw new Fenced("the group coordinator has given the partition to another worker", null);
        }
        while (true) {
            inTransaction = false;
            generation++;
            try {
                producer = recovery.newProducer();
                producersReplaced++;
                List<StreamRecovery.Landed> landed = recovery.landedFrom(streamEnd);
                List<Sent> waiting = new ArrayList<>(events);
                if (landed.size() > waiting.size()) {
                    throw new Fenced("the log holds " + landed.size() + " events after " + streamEnd
                            + " where this writer had " + waiting.size() + " waiting", null);
                }
                for (int i = 0; i < landed.size(); i++) {
                    StreamEvent sent = waiting.get(i).write.event();
                    StreamEvent found = landed.get(i).event();
                    if (!found.turnId().equals(sent.turnId()) || found.index() != sent.index()
                            || found.attempt() != sent.attempt()) {
                        throw new Fenced("the log holds an event this writer did not send, at offset "
                                + landed.get(i).offset(), null);
                    }
                }
                for (StreamRecovery.Landed found : landed) {
                    applyLanded(events.poll().write, found.offset());
                }
                toSend.clear();
                toSend.addAll(events); // the rest, in order, and every mark not known to be written
                toSend.addAll(marks);
                sendUnsent();
                log.info("recovered {}: {} of {} waiting events had landed; the rest were sent again", prompts,
                        landed.size(), waiting.size());
                return;
            } catch (Failure | RuntimeException e) {
                if (e instanceof Fenced fenced) {
                    throw fenced;
                }
                if (e instanceof ProducerFencedException || e instanceof InvalidProducerEpochException) {
                    throw new Fenced(e.toString(), e);
                }
                log.warn("recovering {} failed, retrying: {}", prompts, e.toString());
                producer.close(Duration.ZERO);
                if (state == State.CLOSED) {
                    throw new InterruptedException("abandoned");
                }
                Thread.sleep(backoff);
                backoff = Math.min(backoff * 2, 5_000);
            }
        }
    }

    /** Whether this worker still owns the partition; asks again while the answer cannot be had. */
    private boolean owner() throws InterruptedException {
        long backoff = 100;
        while (true) {
            try {
                return recovery.stillOwner();
            } catch (RuntimeException e) {
                log.warn("cannot tell yet whether {} is still this worker's: {}", prompts, e.toString());
                if (state == State.CLOSED) {
                    throw new InterruptedException("abandoned");
                }
                Thread.sleep(backoff);
                backoff = Math.min(backoff * 2, 5_000);
            }
        }
    }

    private boolean offsetsChanged() {
        return !new OffsetAndMetadata(tracker.position(), scanMetadata()).equals(lastCommitted);
    }

    private String scanMetadata() {
        long scanFrom = streamEnd;
        for (Turn turn : inflight.values()) {
            scanFrom = Math.min(scanFrom, turn.startedOffset());
        }
        return StreamRecovery.metadata(scanFrom);
    }

    private void failQueued() {
        List<Request> left = new ArrayList<>();
        requests.drainTo(left);
        OutputClosedException closed = new OutputClosedException("partition " + prompts + " was handed over");
        for (Request request : left) {
            if (request instanceof Write w && w.durable() != null) {
                w.durable().completeExceptionally(closed);
            }
        }
        for (Sent sent : events) {
            if (sent.write.durable() != null) {
                sent.write.durable().completeExceptionally(closed);
            }
        }
    }

    /** Fenced when the broker refuses this writer's epoch; anything else a new producer may get past. */
    private static Failure classify(String what, Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException
                    || t instanceof AuthorizationException || t instanceof UnsupportedVersionException) {
                return new Fenced(what + ": " + t, e, true);
            }
        }
        return new WriteFailed(what + ": " + e, e);
    }
}
