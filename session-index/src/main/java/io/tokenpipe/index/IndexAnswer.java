package io.tokenpipe.index;

/**
 * The answer to a lookup.
 *
 * @param session          the session, or {@code null} if it does not exist
 * @param partition        the session's partition (in all three topics)
 * @param streamNextOffset the first stream offset the index has not seen yet: every event of the
 *                         session before it is accounted for in {@code session}'s turns
 */
public record IndexAnswer(SessionRecord session, int partition, long streamNextOffset) {

    public boolean exists() {
        return session != null;
    }
}
