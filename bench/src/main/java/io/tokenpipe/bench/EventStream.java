package io.tokenpipe.bench;

/** One client's view of its session's stream, whatever carries it: an SSE response or a WebSocket subscription. */
interface EventStream {

    boolean isOpen();

    /** Stops following the session, as a client going away would (the listener hears byUs). */
    void close();
}
