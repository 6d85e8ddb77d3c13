package io.tokenpipe.testing;

/** One dispatched Server-Sent Event, as a browser's EventSource would see it. */
public record SseEvent(String id, String event, String data) {

    public long offset() {
        return Long.parseLong(id);
    }
}
