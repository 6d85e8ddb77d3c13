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
}
