package io.tokenpipe.worker.turn;

import io.tokenpipe.worker.model.TokenSink;

import java.util.List;

/**
 * Cuts a backend's output at the first stop sequence, so stop sequences behave the same for every
 * backend whatever it supports. Text that might be the start of a stop sequence is held back until
 * the next delta shows whether it is; {@link #flush()} releases it at the natural end.
 *
 * <p>Never emits an empty string, never emits any part of a matched stop sequence, and never ends
 * an emitted piece with a high surrogate (the low one would arrive alone). One instance per turn;
 * not thread-safe.
 */
public final class StopSequenceFilter implements TokenSink {

    private final List<String> stops;
    private final TokenSink downstream;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    /** Empty or null stop sequences are ignored: they would match before any text. */
    public StopSequenceFilter(List<String> stops, TokenSink downstream) {
        this.stops = stops == null ? List.of()
                : stops.stream().filter(s -> s != null && !s.isEmpty()).toList();
        this.downstream = downstream;
    }

    @Override
    public boolean accept(String text) throws InterruptedException {
        if (stopped) {
            return false;
        }
        if (text == null || text.isEmpty()) {
            return true;
        }
        pending.append(text);
        String buffered = pending.toString();
        int match = earliestMatch(buffered);
        if (match >= 0) {
            stopped = true;
            pending.setLength(0);
            if (match > 0) {
                downstream.accept(buffered.substring(0, match));
            }
            return false;
        }
        int end = safeCut(buffered, buffered.length() - heldBack(buffered));
        if (end == 0) {
            return true;
        }
        pending.delete(0, end);
        return downstream.accept(buffered.substring(0, end));
    }

    /**
     * Emits the held-back text, which at the natural end of generation turned out not to be a stop
     * sequence. Returns downstream's answer, or {@code true} when there was nothing to emit.
     */
    public boolean flush() throws InterruptedException {
        if (pending.isEmpty()) {
            return true;
        }
        String rest = pending.toString();
        pending.setLength(0);
        return downstream.accept(rest);
    }

    /** Whether a stop sequence matched (and generation should end). */
    public boolean stopped() {
        return stopped;
    }

    private int earliestMatch(String text) {
        int earliest = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop);
            if (at >= 0 && (earliest < 0 || at < earliest)) {
                earliest = at;
            }
        }
        return earliest;
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of some stop sequence. */
    private int heldBack(String text) {
        int longest = 0;
        for (String stop : stops) {
            for (int len = Math.min(stop.length() - 1, text.length()); len > longest; len--) {
                if (text.regionMatches(text.length() - len, stop, 0, len)) {
                    longest = len;
                    break;
                }
            }
        }
        return longest;
    }

    /** Moves a cut that would leave a high surrogate last one char back, keeping the pair together. */
    private static int safeCut(String text, int end) {
        return end > 0 && Character.isHighSurrogate(text.charAt(end - 1)) ? end - 1 : end;
    }
}
