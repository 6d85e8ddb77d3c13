package io.tokenpipe.bench;

/** What a {@link WsSubscription} reports; every call comes from its loop thread (as {@link SseListener}'s). */
interface WsSubscriber {

    /** The subscribe was acknowledged: the session's events follow (the SSE stream's {@code retry:} moment). */
    void onSubscribed(WsSubscription subscription, long receivedMicros);

    /** One event frame; {@code data} is the event's stored JSON, valid only during the call. */
    void onEvent(WsSubscription subscription, String id, String type, byte[] data, int dataLength, long receivedMicros);

    /**
     * The subscription is over without us asking: refused ({@code status} and the error frame in
     * {@code body}), or its socket closed or broke ({@code status} 0, {@code error} says why).
     */
    void onClosed(WsSubscription subscription, int status, String body, Throwable error);
}
