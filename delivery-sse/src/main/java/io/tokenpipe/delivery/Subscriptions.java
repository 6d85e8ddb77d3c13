package io.tokenpipe.delivery;

import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** The streams open on this node, by session: where the live tail hands each event. */
final class Subscriptions {

    private final ConcurrentHashMap<String, CopyOnWriteArrayList<SseStream>> bySession = new ConcurrentHashMap<>();
    private final AtomicInteger count = new AtomicInteger();

    void add(String sessionId, SseStream stream) {
        bySession.computeIfAbsent(sessionId, id -> new CopyOnWriteArrayList<>()).add(stream);
        count.incrementAndGet();
    }

    void remove(String sessionId, SseStream stream) {
        bySession.computeIfPresent(sessionId, (id, streams) -> {
            if (streams.remove(stream)) {
                count.decrementAndGet();
            }
            return streams.isEmpty() ? null : streams;
        });
    }

    /** The streams of a session, or {@code null} when none is open here (the common case for most events). */
    List<SseStream> of(String sessionId) {
        return bySession.get(sessionId);
    }

    int count() {
        return count.get();
    }

    List<SseStream> all() {
        return bySession.values().stream().flatMap(List::stream).toList();
    }
}
