package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.log.TurnOutput;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One partition's share of the worker's {@link StreamWriter}: the prompts it has accepted and done, the
 * turns it has in flight, and the outputs of its turns. Made by {@link StreamWriter#attach}.
 */
public final class PartitionWriter {

    private final StreamWriter writer;
    private final StreamWriter.Part part;

    PartitionWriter(StreamWriter writer, StreamWriter.Part part) {
        this.writer = writer;
        this.part = part;
    }

    public TopicPartition partition() {
        return part.prompts;
    }

    /** Waits until this worker's ownership of the partition is committed: only then may events be written. */
    public PartitionWriter ready(Duration timeout) throws InterruptedException, TimeoutException {
        try {
            part.attached.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return this;
        } catch (ExecutionException e) {
            throw new IllegalStateException("the partition could not be attached: " + e.getCause().getMessage(), e.getCause());
        }
    }

    public boolean open() {
        return writer.open(part);
    }

    /** The output of the turn answering the prompt at {@code promptOffset}. */
    public TurnOutput output(long promptOffset) {
        return new TurnOutput() {
            @Override
            public void write(StreamEvent event) throws InterruptedException {
                writer.write(part, event, promptOffset);
            }

            @Override
            public CompletableFuture<Void> finish(StreamEvent terminal) throws InterruptedException {
                return writer.finish(part, terminal, promptOffset);
            }

            @Override
            public void release() throws InterruptedException {
                writer.skip(part, promptOffset);
            }
        };
    }

    /** Queues an event of the turn answering the prompt at {@code promptOffset}. */
    public void write(StreamEvent event, long promptOffset) throws InterruptedException {
        writer.write(part, event, promptOffset);
    }

    /** Queues a turn's final event; the future completes when the broker has acknowledged it, and the prompt is done. */
    public CompletableFuture<Void> finish(StreamEvent terminal, long promptOffset) throws InterruptedException {
        return writer.finish(part, terminal, promptOffset);
    }

    /** A prompt was fetched: it now holds back the committed position until it is done. */
    public void accepted(long promptOffset) throws InterruptedException {
        writer.accepted(part, promptOffset);
    }

    /** A prompt needs no answer (already answered, or a duplicate): mark it done. */
    public void skip(long promptOffset) throws InterruptedException {
        writer.skip(part, promptOffset);
    }

    /** A turn taken over from the previous owner, in flight since {@code startedOffset}. */
    public void inflight(String turnId, long promptOffset, long startedOffset) throws InterruptedException {
        writer.inflight(part, turnId, promptOffset, startedOffset);
    }

    /**
     * Hands the partition over: refuses new events, writes what is queued, and commits the offsets with
     * the in-flight metadata the next owner needs, saying the partition was handed over (so the next
     * owner need not fence this worker).
     */
    public void closeForHandover(Duration timeout) {
        writer.closeForHandover(part, timeout);
    }

    /** Stops without writing anything more: the partition already belongs to another worker. */
    public void abandon() {
        writer.abandon(part);
    }
}
