package io.tokenpipe.common.auth;

import io.tokenpipe.common.http.ApiException;

import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What a route requires: nothing ({@link #PUBLIC}), an API key with one of some scopes, optionally
 * (or instead) a read token for the session named in the path, or a node token. Admin keys pass every
 * check but {@link #PUBLIC}, which needs none.
 */
public record Access(boolean isPublic, Set<Scope> scopes, boolean sessionToken, boolean node, boolean anySessionToken) {

    public static final Access PUBLIC = new Access(true, Set.of(), false, false, false);
    /** Another node of the deployment (the session index's internal lookups). */
    public static final Access NODE = new Access(false, Set.of(), false, true, false);

    /** An API key with any of these scopes (or admin). */
    public static Access keyWith(Scope first, Scope... more) {
        return new Access(false, EnumSet.of(first, more), false, false, false);
    }

    /** An admin key only. */
    public static Access admin() {
        return new Access(false, Set.of(Scope.ADMIN), false, false, false);
    }

    /** As this, or a read token for the route's {@code {sessionId}}. */
    public Access orSessionToken() {
        return new Access(false, scopes, true, node, false);
    }

    /**
     * As this, or a read token for any session: for a route without a {@code {sessionId}} (the
     * WebSocket) that checks each session it serves itself, with {@link #check} on that session.
     */
    public Access orAnySessionToken() {
        return new Access(false, scopes, true, node, true);
    }

    /** Refuses the principal with 403 unless this access lets it in; {@code sessionId} is the path's, or {@code null}. */
    public void check(Principal principal, String sessionId) {
        if (isPublic || principal.kind() == Principal.Kind.OPEN || principal.has(Scope.ADMIN)) {
            return;
        }
        switch (principal.kind()) {
            case API_KEY -> {
                for (Scope scope : scopes) {
                    if (principal.has(scope)) {
                        return;
                    }
                }
                throw new ApiException(403, "insufficient_scope", "the API key '" + principal.name()
                        + "' has none of the scopes this route needs: " + describe());
            }
            case READ_TOKEN -> {
                if (!sessionToken) {
                    throw new ApiException(403, "insufficient_scope",
                            "a read token only reads its own session's stream and transcript; this route needs: " + describe());
                }
                if (anySessionToken && sessionId == null) {
                    return;
                }
                if (sessionId == null || !sessionId.equals(principal.sessionId())) {
                    throw new ApiException(403, "token_for_another_session", "this read token is for another session");
                }
            }
            case NODE -> {
                if (!node) {
                    throw new ApiException(403, "insufficient_scope", "a node token only serves index lookups");
                }
            }
            default -> throw new IllegalStateException("unexpected principal " + principal.kind());
        }
    }

    String describe() {
        String keys = scopes.stream().map(Scope::json).collect(Collectors.joining(" or "));
        if (node) {
            return "a node token";
        }
        return (keys.isEmpty() ? "" : "an API key with scope " + keys) + (sessionToken ? (keys.isEmpty() ? "" : ", or ")
                + "a read token for this session" : "");
    }
}
