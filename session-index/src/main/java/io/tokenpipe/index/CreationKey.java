package io.tokenpipe.index;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;

/**
 * Keys of the sessions-by-creation store: the creation time in epoch milliseconds, zero-padded to 19
 * digits, a space, and the session id. Both stores Kafka Streams offers compare keys by their bytes,
 * so these sort by creation time, then by id, and a time range is a key range.
 */
final class CreationKey {

    private static final int DIGITS = 19;

    private CreationKey() {
    }

    static String of(Instant createdAt, String sessionId) {
        return pad(createdAt.toEpochMilli()) + " " + sessionId;
    }

    /** The smallest key of sessions created at or after {@code millis}. */
    static String atOrAfter(long millis) {
        return pad(Math.max(0, millis));
    }

    /**
     * The largest key a range ending before {@code millis} may include: every key of an earlier
     * millisecond sorts below it, and every key of that millisecond (it has a suffix) above it.
     */
    static String before(long millis) {
        return pad(Math.max(0, millis));
    }

    /** The smallest key greater than {@code key}. */
    static String after(String key) {
        return key + '\0';
    }

    static String sessionId(String key) {
        return key.substring(DIGITS + 1);
    }

    /** A key as the opaque cursor clients hand back. */
    static String cursor(String key) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(key.getBytes(StandardCharsets.UTF_8));
    }

    /** The key a cursor stands for; {@code null} if it is not one this index made. */
    static String fromCursor(String cursor) {
        try {
            String key = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
            if (key.length() > DIGITS + 1 && key.charAt(DIGITS) == ' ' && key.substring(0, DIGITS).chars().allMatch(Character::isDigit)) {
                return key;
            }
            return null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String pad(long millis) {
        String digits = Long.toString(millis);
        return "0".repeat(DIGITS - digits.length()) + digits;
    }
}
