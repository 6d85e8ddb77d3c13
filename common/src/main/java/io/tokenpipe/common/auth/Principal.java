package io.tokenpipe.common.auth;

import java.util.EnumSet;
import java.util.Set;

/**
 * Who made a request: an API key (by its name, never its secret) with scopes, the holder of a read
 * token for one session, another node of the deployment, or anyone at all when auth is off.
 *
 * @param sessionId the one session a read token is for; {@code null} otherwise
 */
public record Principal(Kind kind, String name, Set<Scope> scopes, String sessionId) {

    public enum Kind { API_KEY, READ_TOKEN, NODE, OPEN }

    public static Principal apiKey(String name, Set<Scope> scopes) {
        return new Principal(Kind.API_KEY, name, Set.copyOf(scopes), null);
    }

    public static Principal readToken(String sessionId) {
        return new Principal(Kind.READ_TOKEN, "read-token", Set.of(), sessionId);
    }

    public static Principal node() {
        return new Principal(Kind.NODE, "node", Set.of(), null);
    }

    /** AUTH_MODE=open: every request may do everything. */
    public static Principal open() {
        return new Principal(Kind.OPEN, "anonymous", EnumSet.allOf(Scope.class), null);
    }

    public boolean has(Scope scope) {
        return scopes.contains(scope) || scopes.contains(Scope.ADMIN);
    }
}
