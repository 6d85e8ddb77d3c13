package io.tokenpipe.common.auth;

import io.tokenpipe.common.http.ApiException;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The WebSocket's two-step check: any read token opens the socket; each session is then checked on its own. */
class AccessTest {

    private static final Access SOCKET = Access.keyWith(Scope.SUBMIT, Scope.READ, Scope.AUDIT).orAnySessionToken();

    @Test
    void anyReadTokenOpensTheSocketButReadsOnlyItsOwnSession() {
        Principal token = Principal.readToken("s_mine");
        assertDoesNotThrow(() -> SOCKET.check(token, null));
        assertDoesNotThrow(() -> AccessRules.SESSION_EVENTS.check(token, "s_mine"));
        assertEquals("token_for_another_session",
                assertThrows(ApiException.class, () -> AccessRules.SESSION_EVENTS.check(token, "s_other")).code());
        assertEquals(403, assertThrows(ApiException.class, () -> AccessRules.TURN_WRITE.check(token, "s_mine")).status());
    }

    @Test
    void aRouteForOneSessionStillRefusesATokenWithoutThatSession() {
        Access events = Access.keyWith(Scope.READ).orSessionToken();
        assertThrows(ApiException.class, () -> events.check(Principal.readToken("s_mine"), null));
    }

    @Test
    void aSubmitKeyOpensTheSocketAndWritesButDoesNotRead() {
        Principal submit = Principal.apiKey("k", EnumSet.of(Scope.SUBMIT));
        assertDoesNotThrow(() -> SOCKET.check(submit, null));
        assertDoesNotThrow(() -> AccessRules.TURN_WRITE.check(submit, "s_any"));
        assertEquals("insufficient_scope",
                assertThrows(ApiException.class, () -> AccessRules.SESSION_EVENTS.check(submit, "s_any")).code());
    }
}
