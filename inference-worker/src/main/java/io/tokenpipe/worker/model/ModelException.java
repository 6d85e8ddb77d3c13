package io.tokenpipe.worker.model;

/**
 * A backend failure. The code ends up in the turn.failed event, so it is stable and documented.
 *
 * @see #retryable()
 */
public class ModelException extends Exception {

    private final String code;
    private final boolean retryable;

    public ModelException(String code, String message, boolean retryable) {
        super(message);
        this.code = code;
        this.retryable = retryable;
    }

    public ModelException(String code, String message, boolean retryable, Throwable cause) {
        super(message, cause);
        this.code = code;
        this.retryable = retryable;
    }

    public String code() {
        return code;
    }

    /** Whether trying the same request again might succeed (timeouts, 5xx, 429), as opposed to 400/401. */
    public boolean retryable() {
        return retryable;
    }
}
