package io.tokenpipe.index;

/** The index could not answer in time (starting, rebalancing, or the owning node is unreachable). */
public class IndexUnavailableException extends RuntimeException {
    public IndexUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    public IndexUnavailableException(String message) {
        super(message);
    }
}
