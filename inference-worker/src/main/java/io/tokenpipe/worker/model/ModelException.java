package io.tokenpipe.worker.model;

import java.time.Duration;

/**
 * A backend failure. The code ends up in the turn.failed event, so it is stable and documented.
 *
 * <p>Besides the code, a failure says whether trying again might help ({@link #retryable()}), how
 * long the backend asked to be left alone ({@link #retryAfter()}, from a {@code Retry-After}
 * header), and whether it happened after the first piece of text of the attempt was handed to the
 * sink ({@link #afterFirstToken()}): before it, the same request can simply be sent again; after
 * it, the caller must resume the turn with the text already delivered as the continuation.
 *
 * @see #retryable()
 */
public class ModelException extends Exception {

    private final String code;
    private final boolean retryable;
    private final Duration retryAfter;
    private final boolean afterFirstToken;

    public ModelException(String code, String message, boolean retryable) {
        this(code, message, retryable, null, null, false);
    }

    public ModelException(String code, String message, boolean retryable, Throwable cause) {
        this(code, message, retryable, cause, null, false);
    }

    /**
     * @param retryAfter      how long the backend asked the caller to wait before trying again, or {@code null}
     * @param afterFirstToken whether the attempt had already handed text to the sink when it failed
     */
    public ModelException(String code, String message, boolean retryable, Throwable cause, Duration retryAfter,
                          boolean afterFirstToken) {
        super(message, cause);
        this.code = code;
        this.retryable = retryable;
        this.retryAfter = retryAfter != null && retryAfter.isNegative() ? Duration.ZERO : retryAfter;
        this.afterFirstToken = afterFirstToken;
    }

    public String code() {
        return code;
    }

    /** Whether trying the same request again might succeed (timeouts, 5xx, 429), as opposed to 400/401. */
    public boolean retryable() {
        return retryable;
    }

    /** How long the backend asked to wait before the next attempt (its {@code Retry-After}); {@code null} if it did not say. */
    public Duration retryAfter() {
        return retryAfter;
    }

    /** Whether the failing attempt had already handed text to the sink (so it cannot simply be repeated). */
    public boolean afterFirstToken() {
        return afterFirstToken;
    }

    /** This failure, marked as having happened after (or before) the first token; the same instance if it already is. */
    public ModelException withAfterFirstToken(boolean value) {
        if (value == afterFirstToken) {
            return this;
        }
        ModelException copy = new ModelException(code, getMessage(), retryable, getCause(), retryAfter, value);
        copy.setStackTrace(getStackTrace());
        return copy;
    }

    /** This failure with another {@link #retryAfter()}. */
    public ModelException withRetryAfter(Duration value) {
        ModelException copy = new ModelException(code, getMessage(), retryable, getCause(), value, afterFirstToken);
        copy.setStackTrace(getStackTrace());
        return copy;
    }
}
