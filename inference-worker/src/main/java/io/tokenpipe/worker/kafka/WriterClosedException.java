package io.tokenpipe.worker.kafka;

/** The partition's writer no longer accepts events: the partition was handed over, or this worker was fenced. */
public class WriterClosedException extends RuntimeException {
    public WriterClosedException(String message) {
        super(message);
    }
}
