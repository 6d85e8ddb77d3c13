package io.tokenpipe.delivery;

import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SessionLog;

import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** Who follows which session on this node: where the live tail hands each event. */
final class Subscriptions {

    private final ConcurrentHashMap<String, CopyOnWriteArrayList<Consumer<LogEvent>>> bySession = new ConcurrentHashMap<>();

    SessionLog.Subscription add(String sessionId, Consumer<LogEvent> listener) {
        bySession.computeIfAbsent(sessionId, id -> new CopyOnWriteArrayList<>()).add(listener);
        return () -> bySession.computeIfPresent(sessionId, (id, listeners) -> {
            listeners.remove(listener);
            return listeners.isEmpty() ? null : listeners;
        });
    }

    /** Hands the event to its session's listeners; most events have none on a given node. */
    void offer(LogEvent event) {
        List<Consumer<LogEvent>> listeners = bySession.get(event.sessionId());
        if (listeners != null) {
            for (Consumer<LogEvent> listener : listeners) {
                listener.accept(event);
            }
        }
    }
}
