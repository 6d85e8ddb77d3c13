package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.log.OutputClosedException;
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
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiFunction;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The worker's only writer of the stream and turns topics: one transactional producer and one thread
 * shared by all the partitions the worker owns, so that its cost does not grow with the partition count
 * (a producer per partition, tried first, spent 0.3 cores on 48 producers' network threads alone).
 *
 * <p><b>Readable at once.</b> Turns hand it events; its thread sends each at once ({@code acks=all},
 * idempotent) and an event is final the moment the broker acknowledges it: every reader reads
 * uncommitted records, so no token waits for a commit. The transaction is committed every
 * {@code commitInterval} (seconds), carrying the consumed prompt offsets of every partition; it exists
 * for fencing, never to make events visible.
 *
 * <p><b>Fenced by the broker.</b> The transactional id belongs to this worker. Each partition's
 * committed offset names the worker writing it ({@link StreamRecovery.Ownership}), committed before
 * the worker sends any event of the partition. A worker taking a partition over from one that did not
 * hand it over (a crash, a worker presumed dead) initialises that worker's transactional id first: the
 * broker then refuses every further write of the old worker, whatever the partition. A worker that
 * lost a partition without handing it over has left the group and owns nothing, so fencing it whole
 * is right; a worker that hands a partition over says so in its last commit and is not fenced.
 *
 * <p><b>Exactly once without relying on commit.</b> A record the broker appended stays readable even
 * if its transaction is aborted. So after a failed write the writer never simply writes again: it asks
 * the group coordinator which partitions are still this worker's (it drops the others: a new producer
 * would otherwise write into a partition another worker owns), starts a new producer (which fences the
 * old instance, so nothing more of it can land), reads what landed of each partition after its last
 * acknowledged event, and sends only the rest, in order.
 *
 * <p><b>Turn marks.</b> For each boundary event a mark naming its offset goes to the turns topic once
 * the event is acknowledged, and every 50 ms per partition a watermark says how far every boundary has
 * been marked. A take-over writes the marks of every boundary it read again.
 */
public final class StreamWriter implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(StreamWriter.class);
    private static final int QUEUE_CAPACITY = 100_000;
    private static final int MAX_DRAIN = 5_000;
    private static final long WATERMARK_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long IDLE_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    /**
     * The largest event value written: below the broker's default record limit ({@code message.max.bytes},
     * 1,048,588) and the producer's ({@code max.request.size}, 1,048,576), with room for the key, the
     * headers and the batch around it. Turns split long text into several events to stay below it.
     */
    static final int MAX_EVENT_BYTES = 1_000_000;

    /** What the writer needs from its surroundings to get past a failed write. */
    public interface Recovery {

        /** Another producer of this worker's transactional id, initialised: this fences every earlier one. */
        Producer<String, byte[]> newProducer();

        /**
         * Whether the group coordinator assigns {@code prompts} to this worker now; throws when that
         * cannot be told (a rebalance in progress, the coordinator unreachable).
         */
        boolean stillOwner(TopicPartition prompts);

        /** The stream partition's events from {@code offset} to its end now, read as clients read them. */
        List<StreamRecovery.Landed> landedFrom(int partition, long offset);

        static Recovery of(Supplier<Producer<String, byte[]>> newProducer, Predicate<TopicPartition> stillOwner,
                           BiFunction<Integer, Long, List<StreamRecovery.Landed>> landedFrom) {
            return new Recovery() {
                @Override
                public Producer<String, byte[]> newProducer() {
                    return newProducer.get();
                }

                @Override
                public boolean stillOwner(TopicPartition prompts) {
                    return stillOwner.test(prompts);
                }

                @Override
                public List<StreamRecovery.Landed> landedFrom(int partition, long offset) {
                    return landedFrom.apply(partition, offset);
                }
            };
        }
    }

    /**
     * Where a partition starts.
     *
     * @param promptPosition the committed offset of the prompts partition
     * @param streamEnd      the end of the stream partition after the previous owner was fenced
     * @param repairs        marks of boundary events the previous owner may not have marked
     * @param unfinished     turns the previous owner left running, by id, at the offset of their first event:
     *                       until this owner has their prompts again, its commits must still point a later
     *                       owner at those events
     */
    public record Start(long promptPosition, long streamEnd, List<TurnMark> repairs, Map<String, Long> unfinished) {
        public Start {
            unfinished = Map.copyOf(unfinished);
        }

        public Start(long promptPosition, long streamEnd, List<TurnMark> repairs) {
            this(promptPosition, streamEnd, repairs, Map.of());
        }

        public static Start empty() {
            return new Start(0, 0, List.of());
        }
    }

    private sealed interface Request permits Write, Accepted, Skip, Inflight, Attach, Detach {
    }

    private record Write(Part part, StreamEvent event, byte[] json, long promptOffset, boolean done,
                         CompletableFuture<Void> durable, long queuedAt) implements Request {
    }

    private record Accepted(Part part, long promptOffset) implements Request {
    }

    private record Skip(Part part, long promptOffset) implements Request {
    }

    private record Inflight(Part part, String turnId, long promptOffset, long startedOffset) implements Request {
    }

    private record Attach(Part part) implements Request {
    }

    private record Detach(Part part, boolean handOver) implements Request {
    }

    /**
     * A turn whose prompt is not yet behind the committed position: the next owner must see its events.
     * A turn taken over from the previous owner is known by its first event before its prompt is fetched
     * again ({@link #PROMPT_NOT_YET_FETCHED}).
     */
    private record Turn(long promptOffset, long startedOffset) {
        static final long PROMPT_NOT_YET_FETCHED = -1;

        boolean behind(long position) {
            return promptOffset != PROMPT_NOT_YET_FETCHED && promptOffset < position;
        }
    }

    /**
     * A record waiting for the broker's acknowledgement. Each is sent on one producer instance (its
     * generation); the instance's thread fills in the outcome, unless the record was since sent again.
     */
    private static final class Sent {
        final Part part;
        final Write write;        // null for a turn mark
        final TurnMark mark;      // null for an event
        final long boundary;      // a mark's boundary offset; -1 for a watermark or an event
        final ProducerRecord<String, byte[]> record;
        volatile int generation = -1;
        volatile long sentAt;
        volatile RecordMetadata metadata;
        volatile Exception error;

        Sent(Part part, Write write, TurnMark mark, long boundary, ProducerRecord<String, byte[]> record) {
            this.part = part;
            this.write = write;
            this.mark = mark;
            this.boundary = boundary;
            this.record = record;
        }

        boolean answered() {
            return metadata != null || error != null;
        }
    }

    private enum PartState { ATTACHING, OPEN, DRAINING, CLOSED }

    /** One partition's share of the writer. Its fields belong to the writer's thread, but for {@link #state}. */
    final class Part {
        final TopicPartition prompts;
        final int number;
        final OffsetTracker tracker;
        final Map<String, Turn> inflight = new HashMap<>();
        final ArrayDeque<Sent> events = new ArrayDeque<>(); // taken, in order, not yet acknowledged
        final TreeSet<Long> unmarked = new TreeSet<>();     // boundaries in the log whose mark is not yet acknowledged
        final CompletableFuture<Void> attached = new CompletableFuture<>();
        final CompletableFuture<Void> detached = new CompletableFuture<>();
        final List<TurnMark> repairs;
        volatile PartState state = PartState.ATTACHING;
        long streamEnd;
        long lastWatermark = -1;
        long lastWatermarkAt;
        OffsetAndMetadata lastCommitted;
        boolean handOver;  // asked to hand over
        boolean drained;   // handing over, and nothing of it is waiting any more: say so in the commit

        Part(TopicPartition prompts, Start start) {
            this.prompts = prompts;
            this.number = prompts.partition();
            this.tracker = new OffsetTracker(start.promptPosition());
            this.streamEnd = start.streamEnd();
            this.repairs = start.repairs();
            // Without these, this owner's first commit would say "scan from the stream's end" while the
            // previous owner's turns are still to be continued: a third owner, taking over before their
            // prompts came back, would not find their first events and would start them again at index 0.
            start.unfinished().forEach((turnId, startedOffset) ->
                    inflight.put(turnId, new Turn(Turn.PROMPT_NOT_YET_FETCHED, startedOffset)));
        }

        OffsetAndMetadata offsets() {
            long scanFrom = streamEnd;
            for (Turn turn : inflight.values()) {
                scanFrom = Math.min(scanFrom, turn.startedOffset());
            }
            return new OffsetAndMetadata(tracker.position(),
                    new StreamRecovery.Ownership(scanFrom, transactionalId, drained).json());
        }
    }

    private final String streamTopic;
    private final String turnsTopic;
    private final String transactionalId;
    private final Recovery recovery;
    private final ConsumerGroupMetadata group;
    private final long commitIntervalNanos;
    private final long writeTimeoutNanos;
    private final BlockingQueue<Request> requests = new ArrayBlockingQueue<>(QUEUE_CAPACITY);
    private final Map<Integer, Part> parts = new ConcurrentHashMap<>(); // the writer's thread adds and removes
    private final Thread thread;
    private final LatencyHistogram writerQueue = StageTimes.of(StageTimes.WRITER_QUEUE);
    private final LatencyHistogram writeAck = StageTimes.of(StageTimes.WRITE_ACK);
    private volatile boolean running = true;
    private volatile int producersReplaced;
    private volatile String failure;

    // Everything below belongs to the writer's thread.
    private Producer<String, byte[]> producer;
    private int generation;
    private final ArrayDeque<Sent> marks = new ArrayDeque<>();  // marks and watermarks not yet acknowledged
    private final ArrayDeque<Sent> toSend = new ArrayDeque<>(); // waiting records not yet sent on the current producer
    private boolean inTransaction;
    private long transactionBegan;
    private long lastCommit;
    private boolean commitNow;

    /**
     * @param producer        a producer of {@code transactionalId} on which {@code initTransactions()} has completed
     * @param commitInterval  how long a transaction stays open: the rate of commits (markers, and a short
     *                        wait for them at the next write), and how often the prompts' offsets advance
     * @param writeTimeout    how long the broker may take to acknowledge a record before the producer is
     *                        replaced and whatever did not land is written again
     */
    public StreamWriter(String streamTopic, String turnsTopic, String transactionalId, Producer<String, byte[]> producer,
                        Recovery recovery, ConsumerGroupMetadata group, Duration commitInterval, Duration writeTimeout) {
        this.streamTopic = streamTopic;
        this.turnsTopic = turnsTopic;
        this.transactionalId = transactionalId;
        this.producer = producer;
        this.recovery = recovery;
        this.group = group;
        this.commitIntervalNanos = commitInterval.toNanos();
        this.writeTimeoutNanos = writeTimeout.toNanos();
        this.thread = Thread.ofPlatform().name("stream-writer").daemon().unstarted(this::run);
    }

    public StreamWriter start() {
        thread.start();
        return this;
    }

    /** The transactional id a new owner of one of this writer's partitions initialises to fence it. */
    public String transactionalId() {
        return transactionalId;
    }

    /** Whether the writer's thread runs (it survives failed writes; it stops on close or a bug). */
    public boolean running() {
        return thread.isAlive() && running;
    }

    /** Why the writer's thread stopped on its own (a refused record, a bug); {@code null} while it runs or after close. */
    public String failure() {
        return failure;
    }

    /** How often a failed or stalled write made this writer replace its producer. */
    public int producersReplaced() {
        return producersReplaced;
    }

    /**
     * Starts writing a partition this worker now owns. The returned handle is open once this worker's
     * ownership is committed to the partition's offset (so that a later owner knows whom to fence);
     * wait for {@link PartitionWriter#ready()} before handing it any event.
     */
    public PartitionWriter attach(TopicPartition prompts, Start start) throws InterruptedException {
        Part part = new Part(prompts, start);
        offer(new Attach(part));
        return new PartitionWriter(this, part);
    }

    // --- the partition handle's calls -------------------------------------------------------------

    void write(Part part, StreamEvent event, long promptOffset) throws InterruptedException {
        enqueue(part, new Write(part, event, json(event), promptOffset, false, null, System.nanoTime()));
    }

    CompletableFuture<Void> finish(Part part, StreamEvent terminal, long promptOffset) throws InterruptedException {
        CompletableFuture<Void> durable = new CompletableFuture<>();
        enqueue(part, new Write(part, terminal, json(terminal), promptOffset, true, durable, System.nanoTime()));
        return durable;
    }

    /**
     * The event's record value. One the broker would refuse is refused here, to the turn that wrote it:
     * sent, it would fail the transaction, and writing it again would fail again, for ever.
     */
    private static byte[] json(StreamEvent event) {
        byte[] json = Json.event(event);
        if (json.length > MAX_EVENT_BYTES) {
            throw new IllegalArgumentException("a " + event.type() + " event of turn " + event.turnId() + " is "
                    + json.length + " bytes; the most an event may be is " + MAX_EVENT_BYTES);
        }
        return json;
    }

    void accepted(Part part, long promptOffset) throws InterruptedException {
        enqueue(part, new Accepted(part, promptOffset));
    }

    void skip(Part part, long promptOffset) throws InterruptedException {
        enqueue(part, new Skip(part, promptOffset));
    }

    void inflight(Part part, String turnId, long promptOffset, long startedOffset) throws InterruptedException {
        enqueue(part, new Inflight(part, turnId, promptOffset, startedOffset));
    }

    /** Refuses the partition's new events, writes what it has, commits its offsets as handed over. */
    void closeForHandover(Part part, Duration timeout) {
        if (part.state == PartState.OPEN || part.state == PartState.ATTACHING) {
            part.state = PartState.DRAINING;
        }
        try {
            offer(new Detach(part, true));
            part.detached.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            log.warn("{} was not handed over within {}: {}", part.prompts, timeout, e.toString());
        }
    }

    /** Stops writing the partition at once: it belongs to another worker already. */
    void abandon(Part part) {
        part.state = PartState.CLOSED;
        try {
            offer(new Detach(part, false));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    boolean open(Part part) {
        return part.state == PartState.OPEN;
    }

    private void enqueue(Part part, Request request) throws InterruptedException {
        while (true) {
            if (part.state != PartState.OPEN || !running) {
                throw new OutputClosedException("partition " + part.prompts + " is no longer written by this worker");
            }
            if (requests.offer(request, 100, TimeUnit.MILLISECONDS)) {
                LockSupport.unpark(thread);
                return;
            }
        }
    }

    /** For the writer's own requests (attach, detach), which a full queue must not refuse. */
    private void offer(Request request) throws InterruptedException {
        requests.put(request);
        LockSupport.unpark(thread);
    }

    /** Stops the writer: hand partitions over with {@link PartitionWriter#closeForHandover} first. */
    @Override
    public void close() {
        running = false;
        LockSupport.unpark(thread);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ofSeconds(5));
    }

    /** Stops as a killed process would: nothing more is written or committed. */
    public void halt() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ZERO);
    }

    // --- the writer's thread ----------------------------------------------------------------------

    /** Why the writer cannot go on with its producer as it is. */
    private abstract static sealed class Failure extends Exception permits WriteFailed, Fenced, Rejected {
        Failure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A write that failed in a way a new producer can get past. */
    private static final class WriteFailed extends Failure {
        WriteFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The broker refused this writer's producer epoch: another worker initialised its transactional id. */
    private static final class Fenced extends Failure {
        Fenced(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The broker refused a record for what it is (too large, invalid): writing it again would fail again. */
    private static final class Rejected extends Failure {
        Rejected(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private void run() {
        try {
            while (running) {
                try {
                    step();
                } catch (Rejected e) {
                    // Retrying would stall every session of the partition for ever. Stopping hands the
                    // partitions to the group: the worker leaves it and reports itself unhealthy.
                    failure = e.getMessage();
                    log.error("the broker refused a record ({}); the stream writer stops", e.getMessage(), e);
                    return;
                } catch (Failure e) {
                    // A refused epoch means another worker took a partition of ours over without a
                    // hand-over (it thought this worker dead), or the coordinator aborted a transaction
                    // that outlived its timeout. Either way: keep what is still ours, on a new producer.
                    log.warn("a write failed ({}); keeping the partitions still this worker's and writing again "
                            + "what did not land", e.getMessage());
                    recover();
                }
            }
        } catch (InterruptedException e) {
            // halt()
        } catch (RuntimeException e) {
            failure = e.toString();
            log.error("the stream writer failed; its partitions stop and their next owners continue them", e);
        } finally {
            running = false;
            for (Part part : List.copyOf(parts.values())) {
                drop(part, "the stream writer stopped");
            }
            failQueued();
        }
    }

    private void step() throws InterruptedException, Failure {
        boolean progressed = applyAcknowledged();
        progressed |= takeRequests();
        long now = System.nanoTime();
        for (Part part : parts.values()) {
            maybeWatermark(part, now, false);
        }
        sendUnsent();
        checkStalled(now);
        progressed |= finishDetaching();
        if (commitNow || commitDue(now)) {
            commit();
            progressed = true;
        }
        if (!progressed && running) {
            LockSupport.parkNanos(this, nextDue(now) - now);
            if (Thread.interrupted()) {
                throw new InterruptedException("halted");
            }
        }
    }

    private boolean takeRequests() {
        boolean took = false;
        Request request;
        int taken = 0;
        while (taken++ < MAX_DRAIN && (request = requests.poll()) != null) {
            took = true;
            switch (request) {
                case Write w -> {
                    if (parts.get(w.part().number) != w.part()) {
                        failDurable(w);
                        continue;
                    }
                    Sent sent = new Sent(w.part(), w, null, -1, new ProducerRecord<>(streamTopic, w.part().number,
                            w.event().sessionId(), w.json(), EventHeaders.withType(w.event().type())));
                    w.part().events.add(sent);
                    toSend.add(sent);
                }
                case Accepted a -> a.part().tracker.accepted(a.promptOffset());
                case Skip s -> s.part().tracker.done(s.promptOffset());
                case Inflight f -> f.part().inflight.merge(f.turnId(), new Turn(f.promptOffset(), f.startedOffset()),
                        (known, fetched) -> known.promptOffset() == Turn.PROMPT_NOT_YET_FETCHED ? fetched : known);
                case Attach a -> {
                    Part part = a.part();
                    Part earlier = parts.put(part.number, part);
                    if (earlier != null && earlier != part) {
                        drop(earlier, "attached again");
                    }
                    for (TurnMark mark : part.repairs) {
                        queueMark(part, mark, mark.streamOffset());
                    }
                    commitNow = true; // the ownership is committed before the partition takes any event
                }
                case Detach d -> {
                    Part part = d.part();
                    if (parts.get(part.number) != part) {
                        part.detached.complete(null);
                    } else if (d.handOver()) {
                        part.handOver = true;
                    } else {
                        drop(part, "abandoned");
                    }
                }
            }
        }
        return took;
    }

    /** Partitions being handed over whose every record is acknowledged: commit them as handed over. */
    private boolean finishDetaching() throws InterruptedException, Failure {
        boolean any = false;
        for (Part part : parts.values()) {
            if (part.handOver && part.events.isEmpty() && requestsOf(part) == 0) {
                any = true;
            }
        }
        if (!any) {
            return false;
        }
        commit();
        for (Iterator<Part> it = parts.values().iterator(); it.hasNext(); ) {
            Part part = it.next();
            if (part.drained && part.lastCommitted != null && part.lastCommitted.equals(part.offsets())) {
                it.remove();
                part.state = PartState.CLOSED;
                part.detached.complete(null);
                log.info("handed over {} at prompt offset {}", part.prompts, part.lastCommitted.offset());
            }
        }
        return true;
    }

    /** Requests of the partition still queued (a hand-over waits for them). */
    private int requestsOf(Part part) {
        int n = 0;
        for (Request r : requests) {
            if (r instanceof Write w && w.part() == part) {
                n++;
            }
        }
        return n;
    }

    private void queueMark(Part part, TurnMark mark, long boundary) {
        Sent sent = new Sent(part, null, mark, boundary, new ProducerRecord<>(turnsTopic, part.number, mark.sessionId(),
                Json.bytes(mark), EventHeaders.withType(TurnMark.TYPE)));
        marks.add(sent);
        toSend.add(sent);
        if (boundary >= 0) {
            part.unmarked.add(boundary);
        }
    }

    /** Sends, in order, every waiting record not yet sent on the current producer. */
    private void sendUnsent() throws Failure {
        Sent next;
        while ((next = toSend.peek()) != null) {
            if (parts.get(next.part.number) == next.part) {
                send(next);
            }
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

    /** Applies, in order per partition, whatever the broker has acknowledged; true if anything was. */
    private boolean applyAcknowledged() throws Failure {
        boolean applied = false;
        for (Part part : parts.values()) {
            while (!part.events.isEmpty() && part.events.peek().answered()) {
                Sent sent = part.events.peek();
                if (sent.error != null) {
                    throw classify("write", sent.error); // it stays waiting: recovery finds out whether it landed
                }
                part.events.poll();
                writeAck.recordNanos(System.nanoTime() - sent.sentAt);
                applyLanded(part, sent.write, sent.metadata.offset());
                applied = true;
            }
        }
        while (!marks.isEmpty() && (marks.peek().answered() || parts.get(marks.peek().part.number) != marks.peek().part)) {
            Sent sent = marks.poll();
            if (parts.get(sent.part.number) != sent.part) {
                continue; // the partition is gone: its marks are its next owner's business
            }
            if (sent.error != null) {
                marks.addFirst(sent);
                throw classify("mark", sent.error);
            }
            if (sent.boundary >= 0) {
                sent.part.unmarked.remove(sent.boundary);
            }
            applied = true;
        }
        return applied;
    }

    /** An event is in the log at {@code offset}: final for every reader. */
    private void applyLanded(Part part, Write w, long offset) {
        part.streamEnd = Math.max(part.streamEnd, offset + 1);
        part.inflight.putIfAbsent(w.event().turnId(), new Turn(w.promptOffset(), offset));
        TurnMark mark = TurnMark.of(w.event(), offset);
        if (mark != null) {
            queueMark(part, mark, offset);
        }
        if (w.done()) {
            part.tracker.done(w.promptOffset());
            w.durable().complete(null);
        }
    }

    /**
     * Turns can stream for seconds without a boundary; without a mark meanwhile, readers would not know
     * how far the marks they have seen reach. The watermark names the highest offset below which every
     * boundary's mark of the partition has been acknowledged.
     */
    private void maybeWatermark(Part part, long now, boolean force) {
        long through = (part.unmarked.isEmpty() ? part.streamEnd : part.unmarked.first()) - 1;
        if (through > part.lastWatermark && (force || now - part.lastWatermarkAt >= WATERMARK_INTERVAL_NANOS)) {
            queueMark(part, TurnMark.watermark(through, Instant.now()), -1);
            part.lastWatermark = through;
            part.lastWatermarkAt = now;
        }
    }

    private void checkStalled(long now) throws WriteFailed {
        for (Part part : parts.values()) {
            stalled(part.events.peek(), now);
        }
        stalled(marks.peek(), now);
    }

    private void stalled(Sent oldest, long now) throws WriteFailed {
        if (oldest != null && oldest.generation == generation && now - oldest.sentAt > writeTimeoutNanos) {
            throw new WriteFailed("the broker has not acknowledged a record within " + writeTimeoutNanos / 1_000_000
                    + " ms", null);
        }
    }

    private boolean commitDue(long now) {
        if (inTransaction) {
            return now - transactionBegan >= commitIntervalNanos;
        }
        if (now - lastCommit < commitIntervalNanos) {
            return false;
        }
        for (Part part : parts.values()) {
            if (!part.offsets().equals(part.lastCommitted)) {
                return true;
            }
        }
        return false;
    }

    private long nextDue(long now) {
        long due = now + IDLE_PARK_NANOS;
        if (inTransaction) {
            due = Math.min(due, transactionBegan + commitIntervalNanos);
        }
        if (!marks.isEmpty()) {
            due = Math.min(due, now + TimeUnit.MILLISECONDS.toNanos(5)); // a callback wakes us sooner
        }
        return Math.max(due, now + 1);
    }

    /**
     * Waits for every acknowledgement, then commits the transaction with the prompts' offsets (and, in
     * their metadata, this worker's ownership). Nothing becomes visible here: it already is.
     */
    private void commit() throws InterruptedException, Failure {
        commitNow = false;
        long deadline = System.nanoTime() + writeTimeoutNanos;
        awaitAcknowledged(deadline);
        boolean handingOver = false;
        for (Part part : parts.values()) {
            if (part.handOver && part.events.isEmpty()) {
                maybeWatermark(part, System.nanoTime(), true); // the next owner's readers know every mark at once
                handingOver = true;
            }
        }
        if (handingOver) {
            awaitAcknowledged(deadline);
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = new LinkedHashMap<>();
        for (Part part : parts.values()) {
            // A finished turn stays listed until the committed position passes its prompt: until then the
            // next owner would fetch that prompt again and must find the turn's final event.
            long position = part.tracker.position();
            part.inflight.values().removeIf(t -> t.behind(position));
            if (part.handOver && part.events.isEmpty() && requestsOf(part) == 0) {
                part.drained = true;
            }
            OffsetAndMetadata current = part.offsets();
            if (!current.equals(part.lastCommitted)) {
                offsets.put(part.prompts, current);
            }
        }
        if (inTransaction || !offsets.isEmpty()) {
            try {
                if (!inTransaction) {
                    producer.beginTransaction();
                    inTransaction = true;
                }
                if (!offsets.isEmpty()) {
                    producer.sendOffsetsToTransaction(offsets, group);
                }
                producer.commitTransaction();
            } catch (KafkaException | IllegalStateException e) {
                throw classify("commit", e);
            }
            inTransaction = false;
            for (Part part : parts.values()) {
                OffsetAndMetadata committed = offsets.get(part.prompts);
                if (committed != null) {
                    part.lastCommitted = committed;
                }
                if (part.state == PartState.ATTACHING) {
                    part.state = PartState.OPEN;
                    part.attached.complete(null);
                }
            }
        }
        lastCommit = System.nanoTime();
    }

    private void awaitAcknowledged(long deadline) throws InterruptedException, Failure {
        while (true) {
            applyAcknowledged();
            sendUnsent(); // the marks of events just applied
            boolean waiting = !marks.isEmpty();
            for (Part part : parts.values()) {
                waiting |= !part.events.isEmpty();
            }
            if (!waiting) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new WriteFailed("acknowledgements still missing after " + writeTimeoutNanos / 1_000_000 + " ms", null);
            }
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(1));
            if (Thread.interrupted()) {
                throw new InterruptedException("halted");
            }
        }
    }

    /**
     * After a failed write: first the partitions that are no longer this worker's are dropped (a new
     * producer would write into another worker's partition). Then a new producer of the transactional
     * id aborts the open transaction and fences the old instance, so that nothing more of it can land.
     * The log shows what did land of each partition: a producer's records land in the order sent, so
     * those are a prefix of the partition's waiting events; they are applied as written, and only the
     * rest is sent again.
     */
    private void recover() throws InterruptedException {
        long backoff = 100;
        producer.close(Duration.ZERO);
        while (running) {
            inTransaction = false;
            generation++;
            try {
                for (Part part : List.copyOf(parts.values())) {
                    if (!recovery.stillOwner(part.prompts)) {
                        drop(part, "the group coordinator gave it to another worker");
                    }
                }
                producer = recovery.newProducer();
                producersReplaced++;
                int landedTotal = 0;
                int waitingTotal = 0;
                for (Part part : List.copyOf(parts.values())) {
                    List<StreamRecovery.Landed> landed = part.events.isEmpty() ? List.of()
                            : recovery.landedFrom(part.number, part.streamEnd);
                    List<Sent> waiting = new ArrayList<>(part.events);
                    if (!isPrefix(landed, waiting)) {
                        drop(part, "the log holds events this writer did not send after offset " + part.streamEnd);
                        continue;
                    }
                    for (StreamRecovery.Landed found : landed) {
                        applyLanded(part, part.events.poll().write, found.offset());
                    }
                    landedTotal += landed.size();
                    waitingTotal += waiting.size();
                }
                toSend.clear();
                for (Part part : parts.values()) {
                    toSend.addAll(part.events); // the rest, in order, and every mark not known to be written
                }
                marks.removeIf(m -> parts.get(m.part.number) != m.part);
                toSend.addAll(marks);
                sendUnsent();
                log.info("recovered: {} of {} waiting events had landed; the rest were sent again", landedTotal, waitingTotal);
                return;
            } catch (Failure | RuntimeException e) {
                log.warn("recovering failed, retrying: {}", e.toString());
                producer.close(Duration.ZERO);
                Thread.sleep(backoff);
                backoff = Math.min(backoff * 2, 5_000);
            }
        }
    }

    private static boolean isPrefix(List<StreamRecovery.Landed> landed, List<Sent> waiting) {
        if (landed.size() > waiting.size()) {
            return false;
        }
        for (int i = 0; i < landed.size(); i++) {
            StreamEvent sent = waiting.get(i).write.event();
            StreamEvent found = landed.get(i).event();
            if (!found.turnId().equals(sent.turnId()) || found.index() != sent.index() || found.attempt() != sent.attempt()) {
                return false;
            }
        }
        return true;
    }

    /** Forgets a partition: its waiting turns end without a final event; its next owner continues them. */
    private void drop(Part part, String why) {
        if (parts.get(part.number) == part) {
            parts.remove(part.number);
        }
        part.state = PartState.CLOSED;
        OutputClosedException closed = new OutputClosedException("partition " + part.prompts + ": " + why);
        for (Sent sent : part.events) {
            if (sent.write.durable() != null) {
                sent.write.durable().completeExceptionally(closed);
            }
        }
        part.events.clear();
        part.attached.completeExceptionally(closed);
        part.detached.complete(null);
        log.warn("stopped writing {}: {}", part.prompts, why);
    }

    private void failQueued() {
        List<Request> left = new ArrayList<>();
        requests.drainTo(left);
        for (Request request : left) {
            switch (request) {
                case Write w -> failDurable(w);
                case Attach a -> a.part().attached.completeExceptionally(new OutputClosedException("the writer stopped"));
                case Detach d -> d.part().detached.complete(null);
                default -> {
                }
            }
        }
    }

    private static void failDurable(Write w) {
        if (w.durable() != null) {
            w.durable().completeExceptionally(new OutputClosedException("partition " + w.part().prompts + " was handed over"));
        }
    }

    /** Fenced when the broker refuses this writer's epoch; anything else a new producer may get past. */
    private static Failure classify(String what, Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof RecordTooLargeException || t instanceof RecordBatchTooLargeException
                    || t instanceof InvalidRecordException || t instanceof InvalidTopicException) {
                return new Rejected(what + ": " + t, e);
            }
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException
                    || t instanceof AuthorizationException || t instanceof UnsupportedVersionException) {
                return new Fenced(what + ": " + t, e);
            }
        }
        return new WriteFailed(what + ": " + e, e);
    }
}
