package io.tokenpipe.common.log;

import org.slf4j.MDC;

/**
 * Puts a turn's session and turn ids into the logging context (SLF4J MDC) of the current thread, so
 * every line logged while the turn is handled carries them (as {@code mdc.session_id}/{@code mdc.turn_id}
 * with {@code LOG_FORMAT=json}). Closing restores what was there before, so contexts can nest.
 */
public final class TurnLogContext implements AutoCloseable {

    public static final String SESSION_ID = "session_id";
    public static final String TURN_ID = "turn_id";

    private final String previousSession;
    private final String previousTurn;

    private TurnLogContext(String sessionId, String turnId) {
        previousSession = MDC.get(SESSION_ID);
        previousTurn = MDC.get(TURN_ID);
        put(SESSION_ID, sessionId);
        put(TURN_ID, turnId);
    }

    /** @param turnId {@code null} when only the session is known (e.g. a session's stream) */
    public static TurnLogContext of(String sessionId, String turnId) {
        return new TurnLogContext(sessionId, turnId);
    }

    @Override
    public void close() {
        put(SESSION_ID, previousSession);
        put(TURN_ID, previousTurn);
    }

    private static void put(String key, String value) {
        if (value == null) {
            MDC.remove(key);
        } else {
            MDC.put(key, value);
        }
    }
}
