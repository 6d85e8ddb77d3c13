package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TurnMark;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * The only writer of one stream partition, and the only committer of the matching prompts partition.
 *
 * <p>Turns hand it events; one thread writes them in back-to-back Kafka transactions, each carrying
 * every event that arrived while the previous one committed. A turn's final event and the commit of
 * its prompt's offset go into the same transaction, so a prompt is never marked done without its
 * answer, and never answered twice.
 *
 * <p>The transactional id belongs to the partition, not to the worker: the next owner of the
 * partition initialises the same id, which aborts whatever this worker left open and fences it, so
 * a worker that was presumed dead cannot write into any session afterwards.
 *
 * <p>Each commit also records, in the offset's metadata, the stream offset from which the next owner
 * must read to find every turn still in flight ({@code scan_from}); see {@link StreamRecovery}.
 *
 * <p>A transaction whose records the broker has not acknowledged within the write timeout is given
 * up with its producer: under load we saw a produce request stay unanswered for minutes, and with
 * it the partition's every session. A new producer of the same transactional id aborts the open
 * transaction (nothing of it was committed: the commit is only requested after every record was
 * acknowledged), and the same events are written again.
 */
public final class PartitionWriter {

    private static final Logger log = LoggerFactory.getLogger(PartitionWriter.class);
    private static final int QUEUE_CAPACITY = 100_000;
    private static final int MAX_BATCH = 5_000;
    private static final long WATERMARK_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private sealed interface Request permits Write, Accepted, Skip, Inflight {
    }

    private record Write(StreamEvent event, long promptOffset, boolean done, CompletableFuture<Void> committed)
            implements Request {
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

    private enum State { OPEN, DRAINING, CLOSED, FENCED }

    private final TopicPartition prompts;
    private final String streamTopic;
    private final String turnsTopic;
    private final Supplier<Producer<String, byte[]>> replacements;
    private final long writeTimeoutNanos;
    private volatile Producer<String, byte[]> producer;
    private volatile int producersReplaced; // written by the writer's thread only
    private final ConsumerGroupMetadata group;
    private final BlockingQueue<Request> queue = new LinkedBlockingQueue<>(QUEUE_CAPACITY);
    private final OffsetTracker tracker;
    private final Map<String, Turn> inflight = new HashMap<>();
    private final Thread thread;
    private final long commitIntervalNanos;
    private final long offsetCommitIntervalNanos;
    private volatile State state = State.OPEN;
    private long streamEnd;
    private OffsetAndMetadata lastCommitted;
    private long lastBegin;
    private long lastOffsetCommit;
    private long lastMark;

    /**
     * @param producer       a transactional producer on which {@code initTransactions()} has completed
     * @param replacements   makes another such producer of the same transactional id, for a stalled write
     * @param promptPosition the committed offset of the prompts partition
     * @param streamEnd      the end of the stream partition when this writer takes over
     * @param commitInterval shortest time between the starts of two transactions: what arrives
     *                       meanwhile shares one. A transaction costs the broker several requests,
     *                       so this bounds their rate whatever the load, for at most this much latency.
     * @param offsetCommitInterval how often the prompts' committed offset is advanced. Later is safe:
     *                       the next owner skips prompts whose turns it finds finished in the stream.
     * @param writeTimeout   how long the broker may take to acknowledge a transaction's records
     *                       before the producer is replaced and the events written again
     */
    public PartitionWriter(TopicPartition prompts, String streamTopic, String turnsTopic, Producer<String, byte[]> producer,
                           Supplier<Producer<String, byte[]>> replacements, ConsumerGroupMetadata group,
                           long promptPosition, long streamEnd, Duration commitInterval, Duration offsetCommitInterval,
                           Duration writeTimeout) {
        this.replacements = replacements;
        this.writeTimeoutNanos = writeTimeout.toNanos();
        this.turnsTopic = turnsTopic;
        this.commitIntervalNanos = commitInterval.toNanos();
        this.offsetCommitIntervalNanos = offsetCommitInterval.toNanos();
        this.prompts = prompts;
        this.streamTopic = streamTopic;
        this.producer = producer;
        this.group = group;
        this.tracker = new OffsetTracker(promptPosition);
        this.streamEnd = streamEnd;
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

    /** Queues an event of the turn answering the prompt at {@code promptOffset}; readers see it once committed. */
    public void write(StreamEvent event, long promptOffset) throws InterruptedException {
        enqueue(new Write(event, promptOffset, false, null));
    }

    /** Queues a turn's final event together with the completion of its prompt. */
    public CompletableFuture<Void> finish(StreamEvent terminal, long promptOffset) throws InterruptedException {
        CompletableFuture<Void> committed = new CompletableFuture<>();
        enqueue(new Write(terminal, promptOffset, true, committed));
        return committed;
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
     * Hands the partition over: refuses new events, commits what is queued (with the offsets and
     * the in-flight metadata the next owner needs), and closes the producer.
     */
    public void closeForHandover(Duration timeout) {
        if (state == State.OPEN) {
            state = State.DRAINING;
        }
        join(timeout);
        producer.close(Duration.ofSeconds(5));
    }

    /** Stops without committing anything more: the partition already belongs to another worker. */
    public void abandon() {
        state = State.CLOSED;
        thread.interrupt();
        join(Duration.ofSeconds(5));
        producer.close(Duration.ZERO);
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
                throw new WriterClosedException("partition " + prompts + " is no longer written by this worker");
            }
            if (queue.offer(request, 100, TimeUnit.MILLISECONDS)) {
                return;
            }
        }
    }

    private void run() {
        List<Request> batch = new ArrayList<>();
        try {
            while (state == State.OPEN || state == State.DRAINING) {
                Request first = queue.poll(50, TimeUnit.MILLISECONDS);
                if (first == null) {
                    if (state == State.DRAINING) {
                        break;
                    }
                    if (System.nanoTime() - lastOffsetCommit >= offsetCommitIntervalNanos && offsetsChanged()) {
                        commit(List.of(), true); // idle: bring the committed offset up to date
                    }
                    continue;
                }
                long wait = lastBegin + commitIntervalNanos - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait); // group commit: what arrives meanwhile joins this one
                }
                batch.add(first);
                queue.drainTo(batch, MAX_BATCH - 1);
                commit(batch, false);
                batch.clear();
            }
            if (state == State.DRAINING) {
                commit(List.of(), true); // a last commit, so the offsets and scan_from are current for the next owner
                state = State.CLOSED;
                log.info("handed over {} at prompt offset {}", prompts, lastCommitted == null ? "-" : lastCommitted.offset());
            }
        } catch (InterruptedException e) {
            // abandon(): stop where we are
        } catch (FencedException e) {
            state = State.FENCED;
            log.warn("fenced on {}: another worker owns it now ({})", prompts, e.getCause().toString());
        }
        failQueued();
    }

    private void commit(List<Request> batch, boolean withOffsets) throws InterruptedException, FencedException {
        Map<String, Turn> inflightBefore = new HashMap<>(inflight);
        long endBefore = streamEnd;
        long backoff = 50;
        while (true) {
            try {
                commitOnce(batch, withOffsets);
                return;
            } catch (ProducerFencedException | InvalidProducerEpochException | OutOfOrderSequenceException
                     | UnsupportedVersionException | AuthorizationException e) {
                throw new FencedException(e);
            } catch (KafkaException | ExecutionException e) {
                if (isFenced(e)) {
                    throw new FencedException(e);
                }
                log.warn("transaction on {} failed, retrying the same events: {}", prompts, e.toString());
                try {
                    producer.abortTransaction();
                } catch (ProducerFencedException | InvalidProducerEpochException fenced) {
                    throw new FencedException(fenced);
                } catch (KafkaException abortFailure) {
                    log.warn("abort on {} failed: {}", prompts, abortFailure.toString());
                }
            } catch (TimeoutException e) {
                log.warn("the broker has not acknowledged a transaction on {} within {} ms; replacing the producer "
                        + "(which aborts the transaction) and writing the same events again",
                        prompts, writeTimeoutNanos / 1_000_000);
                replaceProducer();
            }
            inflight.clear();
            inflight.putAll(inflightBefore);
            streamEnd = endBefore;
            if (state == State.CLOSED) {
                throw new InterruptedException("abandoned");
            }
            Thread.sleep(backoff);
            backoff = Math.min(backoff * 2, 2_000);
        }
    }

    /** Closes the stalled producer at once and initialises another of the same transactional id. */
    private void replaceProducer() throws InterruptedException, FencedException {
        producer.close(Duration.ZERO);
        long backoff = 200;
        while (true) {
            try {
                producer = replacements.get();
                producersReplaced++;
                return;
            } catch (ProducerFencedException | InvalidProducerEpochException e) {
                throw new FencedException(e); // another worker owns the partition now
            } catch (KafkaException e) {
                log.warn("a new producer for {} could not be initialised, retrying: {}", prompts, e.toString());
                if (state == State.CLOSED) {
                    throw new InterruptedException("abandoned");
                }
                Thread.sleep(backoff);
                backoff = Math.min(backoff * 2, 5_000);
            }
        }
    }

    /** How often a stalled write made this writer replace its producer. */
    public int producersReplaced() {
        return producersReplaced;
    }

    private void commitOnce(List<Request> batch, boolean withOffsets)
            throws ExecutionException, InterruptedException, TimeoutException {
        lastBegin = System.nanoTime();
        producer.beginTransaction();
        List<Future<RecordMetadata>> sent = new ArrayList<>(batch.size());
        for (Request request : batch) {
            if (request instanceof Write w) {
                StreamEvent e = w.event();
                sent.add(producer.send(new ProducerRecord<>(streamTopic, prompts.partition(), e.sessionId(),
                        Json.bytes(e), EventHeaders.withType(e.type()))));
            }
        }
        // Wait for the acknowledgements against a deadline, not with flush(): a write the broker never
        // answers must not hold the partition. Nothing is committed before all of them arrived.
        long deadline = lastBegin + writeTimeoutNanos;
        for (Future<RecordMetadata> f : sent) {
            await(f, deadline);
        }
        List<Future<RecordMetadata>> marks = new ArrayList<>();
        int i = 0;
        for (Request request : batch) {
            switch (request) {
                case Accepted a -> tracker.accepted(a.promptOffset());
                case Skip s -> tracker.done(s.promptOffset());
                case Inflight f -> inflight.putIfAbsent(f.turnId(), new Turn(f.promptOffset(), f.startedOffset()));
                case Write w -> {
                    long offset = sent.get(i++).resultNow().offset();
                    streamEnd = Math.max(streamEnd, offset + 1);
                    inflight.putIfAbsent(w.event().turnId(), new Turn(w.promptOffset(), offset));
                    if (w.done()) {
                        tracker.done(w.promptOffset());
                    }
                    // The boundary's position, for the session index, in the same transaction as the event.
                    TurnMark mark = TurnMark.of(w.event(), offset);
                    if (mark != null) {
                        marks.add(sendMark(mark.sessionId(), mark));
                    }
                }
            }
        }
        if (lastBegin - lastMark >= WATERMARK_INTERVAL_NANOS && streamEnd > 0 && !sent.isEmpty()) {
            // Turns can stream for seconds without a boundary; without a mark meanwhile, readers would
            // not know how far the marks they have seen reach, and would read the partition from the
            // last one.
            marks.add(sendMark(null, TurnMark.watermark(streamEnd - 1, Instant.now())));
        }
        // A finished turn stays listed until the committed position passes its prompt: until then the
        // next owner would fetch that prompt again and must find the turn's final event.
        long position = tracker.position();
        inflight.values().removeIf(t -> t.promptOffset() < position);
        OffsetAndMetadata offsets = new OffsetAndMetadata(position, scanMetadata());
        boolean commitOffsets = !offsets.equals(lastCommitted)
                && (withOffsets || lastBegin - lastOffsetCommit >= offsetCommitIntervalNanos);
        for (Future<RecordMetadata> f : marks) {
            await(f, deadline);
        }
        if (commitOffsets) {
            producer.sendOffsetsToTransaction(Map.of(prompts, offsets), group);
        }
        commitTransaction();
        if (commitOffsets) {
            lastCommitted = offsets;
            lastOffsetCommit = lastBegin;
        }
        for (Request request : batch) {
            if (request instanceof Write w && w.committed() != null) {
                w.committed().complete(null);
            }
        }
    }

    private Future<RecordMetadata> sendMark(String sessionId, TurnMark mark) {
        lastMark = lastBegin;
        return producer.send(new ProducerRecord<>(turnsTopic, prompts.partition(), sessionId, Json.bytes(mark),
                EventHeaders.withType(TurnMark.TYPE)));
    }

    /** Waits for a record's acknowledgement until {@code deadline} (System.nanoTime()). */
    private static void await(Future<RecordMetadata> ack, long deadline)
            throws ExecutionException, InterruptedException, TimeoutException {
        long left = deadline - System.nanoTime();
        ack.get(Math.max(0, left), TimeUnit.NANOSECONDS);
    }

    /**
     * Commits, retrying the same commit when it times out: once the commit may have reached the
     * coordinator, only completing it is safe (aborting or writing again could publish twice).
     */
    private void commitTransaction() throws InterruptedException {
        while (true) {
            try {
                producer.commitTransaction();
                return;
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                log.warn("commit on {} timed out; completing the same commit: {}", prompts, e.toString());
                if (state == State.CLOSED) {
                    throw new InterruptedException("abandoned");
                }
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
        queue.drainTo(left);
        WriterClosedException closed = new WriterClosedException("partition " + prompts + " was handed over");
        for (Request request : left) {
            if (request instanceof Write w && w.committed() != null) {
                w.committed().completeExceptionally(closed);
            }
        }
    }

    private static boolean isFenced(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) {
                return true;
            }
        }
        return false;
    }

    private static final class FencedException extends Exception {
        FencedException(Throwable cause) {
            super(cause);
        }
    }
}
