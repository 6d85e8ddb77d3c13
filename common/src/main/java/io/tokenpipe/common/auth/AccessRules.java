package io.tokenpipe.common.auth;

import java.util.List;

import static io.tokenpipe.common.auth.Scope.AUDIT;
import static io.tokenpipe.common.auth.Scope.METRICS;
import static io.tokenpipe.common.auth.Scope.READ;
import static io.tokenpipe.common.auth.Scope.SUBMIT;

/**
 * Who may call which route: the one table every tokenpipe HTTP server enforces (through
 * {@link AccessControl}). A route with no line here answers only admin keys, so a route added
 * without a line is closed, not open. Adding a route? Add its line; docs/security.md explains the model.
 */
public final class AccessRules {

    private AccessRules() {
    }

    /** Reading a session's events, by SSE or by a WebSocket subscription. */
    public static final Access SESSION_EVENTS = Access.keyWith(READ, AUDIT).orSessionToken();

    /** Cancelling (and, over the WebSocket, submitting) a turn. */
    public static final Access TURN_WRITE = Access.keyWith(SUBMIT);

    public static final List<AccessRule> TABLE = List.of(
            AccessRule.of("GET", "/health", Access.PUBLIC),
            AccessRule.webPage(),
            AccessRule.of("GET", "/web-config.js", Access.PUBLIC),

            AccessRule.of("POST", "/v1/sessions", Access.keyWith(SUBMIT)),
            AccessRule.of("POST", "/v1/sessions/{sessionId}/turns", Access.keyWith(SUBMIT)),
            AccessRule.of("POST", "/v1/sessions/{sessionId}/turns/{turnId}/cancel", Access.keyWith(SUBMIT)),
            AccessRule.of("POST", "/v1/sessions/{sessionId}/read-tokens", Access.keyWith(SUBMIT)),
            AccessRule.of("GET", "/v1/sessions/{sessionId}", Access.keyWith(SUBMIT, READ, AUDIT).orSessionToken()),
            AccessRule.of("GET", "/v1/sessions/{sessionId}/turns/{turnId}", Access.keyWith(SUBMIT, READ, AUDIT).orSessionToken()),
            AccessRule.of("GET", "/v1/sessions/{sessionId}/events", SESSION_EVENTS),
            // One socket for many sessions: each subscribe, submit or cancel on it is checked against
            // SESSION_EVENTS or TURN_WRITE for its own session (delivery-sse's SocketEndpoint).
            AccessRule.of("GET", "/v1/ws", Access.keyWith(SUBMIT, READ, AUDIT).orAnySessionToken()),
            // A read token's holder already sees every event of its session, prompts included.
            AccessRule.of("GET", "/v1/sessions/{sessionId}/transcript", Access.keyWith(AUDIT).orSessionToken()),

            // Auditors' search over every session (delivery-sse's AuditApi), and the trail of audit reads.
            AccessRule.of("GET", "/v1/sessions", Access.keyWith(AUDIT)),
            AccessRule.of("GET", "/v1/audit/trail", Access.admin()),

            // The session index's lookups between nodes (session-index's SessionIndex.ROUTE).
            AccessRule.of("GET", "/internal/v1/session-index/{sessionId}", Access.NODE),
            AccessRule.of("POST", "/internal/v1/session-search", Access.NODE),

            // The OpenAI-compatible endpoint (delivery-sse's ChatCompletions): creating one submits a
            // turn; reading one again (a resume) needs a key that may read or that could have created it.
            AccessRule.of("POST", "/v1/chat/completions", Access.keyWith(SUBMIT)),
            AccessRule.of("GET", "/v1/chat/completions/{completionId}", Access.keyWith(SUBMIT, READ, AUDIT)),

            AccessRule.of("GET", "/metrics", Access.keyWith(METRICS)),
            AccessRule.of("GET", "/metrics/runtime", Access.keyWith(METRICS)),
            AccessRule.of("GET", "/metrics/stages", Access.keyWith(METRICS)));
}
