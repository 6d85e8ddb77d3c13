package io.tokenpipe.common.log;

/** A turn's output no longer accepts events: its partition now belongs to another process. */
public final class OutputClosedException extends RuntimeException {

    public OutputClosedException(String message) {
        super(message);
    }
}
