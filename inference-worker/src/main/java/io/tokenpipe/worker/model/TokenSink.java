package io.tokenpipe.worker.model;

/** Receives generated text in order. */
@FunctionalInterface
public interface TokenSink {

    /**
     * Takes the next piece of text (one upstream delta: a token or a few).
     *
     * @return {@code false} when generation should stop now (a stop sequence or max tokens was reached)
     */
    boolean accept(String text) throws InterruptedException;

    /**
     * Takes the next piece of a reasoning model's thinking (not part of the answer). The turn runner
     * writes it as {@code reasoning} events; a sink that has no use for it keeps generation going.
     *
     * @return {@code false} when generation should stop now
     */
    default boolean reasoning(String text) throws InterruptedException {
        return true;
    }
}
