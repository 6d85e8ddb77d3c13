package io.tokenpipe.bench;

/** One session followed on a shared {@link WsSocket}. Lives on the socket's loop thread. */
final class WsSubscription implements EventStream {

    final String sessionId;
    final String lastEventId;
    final WsSubscriber subscriber;
    private final WsSocket socket;
    /** The subscribe ack arrived: event frames for the session are ours from here on. */
    boolean acked;
    private boolean open = true;

    WsSubscription(WsSocket socket, String sessionId, String lastEventId, WsSubscriber subscriber) {
        this.socket = socket;
        this.sessionId = sessionId;
        this.lastEventId = lastEventId;
        this.subscriber = subscriber;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    /** Unsubscribes (the socket stays open for its other sessions). */
    @Override
    public void close() {
        if (open) {
            open = false;
            socket.unsubscribe(this);
        }
    }

    /** Ended by the socket or the server, not by us. */
    void ended(int status, String body, Throwable error) {
        if (open) {
            open = false;
            subscriber.onClosed(this, status, body, error);
        }
    }
}
