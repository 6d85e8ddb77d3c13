package io.tokenpipe.delivery;

import io.tokenpipe.common.event.EventChain;
import io.tokenpipe.common.log.LogEvent;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Verifies one turn's hash chain as a transcript reads it (see {@link EventChain}): each event's link
 * must be {@code SHA-256(previous link | value as stored)}, starting from the zero link at
 * {@code turn.started}, with the turn's indexes 0, 1, 2… without gap or repeat. An altered record
 * breaks its own link; a removed or inserted one breaks the next event's; a truncated turn shows as a
 * turn that ended without its final event (the index knows it ended).
 */
final class ChainCheck {

    private byte[] previous = EventChain.genesis();
    private int expectedIndex;
    private int events;
    private int unchained;
    private final List<Long> broken = new ArrayList<>();

    /** The next event of the turn, in log order, with its index as its JSON says. */
    void add(LogEvent stored, int index) {
        events++;
        byte[] link = stored.chain();
        if (link == null) {
            unchained++; // written before events carried links
            return;
        }
        byte[] expectedPrevious = index == 0 ? EventChain.genesis() : previous;
        if (index != expectedIndex || !EventChain.follows(expectedPrevious, stored.stored(), link)) {
            broken.add(stored.offset());
        }
        previous = link; // go on from the link as written: a single bad record is reported once
        expectedIndex = index + 1;
    }

    /**
     * {@code verified}: true when every event is linked and every link holds; false when any link is
     * broken (the offsets listed) or the turn lacks its final event while its index says it ended; null
     * when its events carry no links.
     */
    Map<String, Object> render(boolean endedPerIndex, boolean endSeen) {
        Map<String, Object> out = new LinkedHashMap<>();
        boolean truncated = endedPerIndex && !endSeen;
        if (events > 0 && unchained == events) {
            out.put("verified", null);
            out.put("reason", "its events carry no hash chain (written before chains existed)");
        } else {
            out.put("verified", broken.isEmpty() && unchained == 0 && !truncated);
        }
        out.put("events", events);
        if (!broken.isEmpty()) {
            out.put("broken_at_offsets", broken);
        }
        if (truncated) {
            out.put("missing_final_event", true);
        }
        out.put("head", EventChain.hex(previous));
        return out;
    }
}
