package io.tokenpipe.common.log;

import io.tokenpipe.common.event.StreamEvent;

import java.util.concurrent.CompletableFuture;

/**
 * Where one turn's events go. The turn logic writes here and knows nothing of what keeps the
 * events: a Kafka partition writer in the product, an {@link InMemoryLog} in the benchmark's
 * Kafka-less control and in fast tests.
 *
 * <p>Events of one turn are appended in the order written. Either method may throw
 * {@link OutputClosedException}: the turn is no longer this process's to write (its partition was
 * handed over or taken away), and it must stop without a final event.
 */
public interface TurnOutput {

    /** Appends an event of the turn; it becomes durable and readable shortly after. */
    void write(StreamEvent event) throws InterruptedException;

    /** Appends the turn's final event; the future completes once it is durable. */
    CompletableFuture<Void> finish(StreamEvent terminal) throws InterruptedException;

    /**
     * The turn cannot end with a final event (writing even its failure failed): its prompt no longer
     * holds anything back. A last resort, so that one broken turn does not stop the others' progress.
     */
    default void release() throws InterruptedException {
    }
}
