package io.tokenpipe.worker.turn;

/**
 * A running turn's thread, so that a cancellation can interrupt exactly this turn: never the next
 * turn its lane runs after this one has ended.
 */
public final class TurnHandle {

    private final Thread thread;
    private boolean cancelled;
    private boolean ended;

    TurnHandle(Thread thread) {
        this.thread = thread;
    }

    /** Interrupts the turn unless it has ended. */
    synchronized void cancel() {
        if (!ended && !cancelled) {
            cancelled = true;
            thread.interrupt();
        }
    }

    public synchronized boolean cancelled() {
        return cancelled;
    }

    /** Called on the turn's own thread when the turn is over; clears an interrupt that came too late. */
    synchronized void end() {
        ended = true;
        Thread.interrupted();
    }
}
