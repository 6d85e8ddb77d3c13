package io.tokenpipe.worker.model;

/**
 * A source of answers: the built-in synthetic generator or an OpenAI-compatible server. One call
 * answers one request; implementations are shared by many concurrent turns and must be thread-safe.
 */
public interface ChatModel {

    /**
     * Generates the answer, handing each piece of text to {@code sink} as soon as it exists, and
     * returns when generation ends: naturally, at the backend's length limit, or because the sink
     * returned {@code false} (then the result's finish reason is ignored by the caller).
     *
     * <p>When {@code request.continuation()} is not empty, that text was already delivered for this
     * turn by an earlier attempt: generate what follows it and do not hand it to the sink again.
     *
     * @throws ModelException       the backend failed; its code says how
     * @throws InterruptedException the turn was cancelled or the worker is stopping: stop at once
     */
    ModelResult generate(ChatRequest request, TokenSink sink) throws ModelException, InterruptedException;

    /**
     * Whether this model, for {@code model}, continues a partial answer given as
     * {@link ChatRequest#continuation()} (rather than answering from the start again).
     */
    default boolean continuesAnswers(String model) {
        return true;
    }
}
