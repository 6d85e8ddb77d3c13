package io.tokenpipe.worker.turn;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns clients asked to cancel. A request may arrive while the turn runs (it is interrupted at
 * once, which also aborts its upstream request) or before it starts (it then ends as cancelled
 * without calling the model).
 */
public final class Cancellations {

    private static final int REMEMBERED = 10_000;

    private final Map<String, TurnHandle> running = new ConcurrentHashMap<>();
    private final Map<String, Boolean> requested = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED;
        }
    };

    public void requested(String turnId) {
        synchronized (requested) {
            requested.put(turnId, Boolean.TRUE);
        }
        TurnHandle handle = running.get(turnId);
        if (handle != null) {
            handle.cancel();
        }
    }

    /** Registers the current thread as running the turn. */
    public TurnHandle begin(String turnId) {
        TurnHandle handle = new TurnHandle(Thread.currentThread());
        running.put(turnId, handle);
        boolean already;
        synchronized (requested) {
            already = requested.containsKey(turnId);
        }
        if (already) {
            handle.cancel();
        }
        return handle;
    }

    public void end(String turnId, TurnHandle handle) {
        handle.end();
        running.remove(turnId, handle);
    }
}
