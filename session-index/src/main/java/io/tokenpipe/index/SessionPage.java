package io.tokenpipe.index;

import java.util.List;

/**
 * One page of found sessions, in creation order.
 *
 * @param nextCursor where the next page starts; {@code null} when nothing more matches. A page can
 *                   hold fewer sessions than asked (even none) and still have a next cursor: each
 *                   request examines a bounded number of sessions per partition.
 */
public record SessionPage(List<SessionRecord> sessions, String nextCursor) {
}
