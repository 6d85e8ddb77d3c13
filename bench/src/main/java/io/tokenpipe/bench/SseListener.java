package io.tokenpipe.bench;

/** What an {@link SseConnection} reports; every call comes from the connection's loop thread. */
interface SseListener {

    /** The response's status line and headers arrived. */
    default void onOpen(SseConnection connection, int status, long receivedMicros) {
    }

    /** A {@code retry:} field: the first thing our servers write on a stream. */
    default void onRetry(SseConnection connection, long millis, long receivedMicros) {
    }

    /**
     * One dispatched event.
     *
     * @param data the data lines joined with LF; valid only during the call
     */
    void onEvent(SseConnection connection, String id, String type, byte[] data, int dataLength, long receivedMicros);

    /** A comment line ({@code : heartbeat}). */
    default void onComment(SseConnection connection) {
    }

    /**
     * The connection is over.
     *
     * @param endOfResponse the server ended the response properly (last chunk), as a follow=false replay does
     * @param error         what broke it, or null; null with !endOfResponse and byUs means we closed it
     * @param status        the HTTP status (0 if none arrived)
     * @param body          the body of a non-200 response (an error), else empty
     */
    void onClosed(SseConnection connection, boolean endOfResponse, Throwable error, int status, String body, boolean byUs);
}
