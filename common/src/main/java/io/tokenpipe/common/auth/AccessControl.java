package io.tokenpipe.common.auth;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.websocket.WsContext;
import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.http.ApiException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Authenticates every request that reaches a route and checks it against {@link AccessRules#TABLE}
 * before the route's handler runs (a Javalin before-matched handler, so unknown paths still get 404).
 * Credentials: {@code Authorization: Bearer <API key or token>}, or a read token in the
 * {@code access_token} query parameter (a browser's EventSource cannot set headers). API keys are
 * refused in URLs, where proxies and browser histories would keep them. Nothing here logs a credential.
 */
public final class AccessControl {

    private static final Logger log = LoggerFactory.getLogger(AccessControl.class);
    public static final String TOKEN_PARAM = "access_token";
    private static final String PRINCIPAL = "tokenpipe.principal";

    private final boolean open;
    private final ApiKeys keys;
    private final ReadTokens tokens;
    private final List<AccessRule> rules;
    private final WriteRateLimit writes;

    public AccessControl(boolean open, ApiKeys keys, ReadTokens tokens, List<AccessRule> rules, WriteRateLimit writes) {
        this.open = open;
        this.keys = keys;
        this.tokens = tokens;
        this.rules = List.copyOf(rules);
        this.writes = writes;
    }

    /**
     * From the settings. {@code singleProcess}: this process both issues and checks every token (the
     * embedded launcher), so without AUTH_TOKEN_SECRET a random secret will do; separate services
     * must share one and refuse to start without it.
     */
    public static AccessControl from(AuthSettings settings, boolean singleProcess, Clock clock) {
        byte[] secret;
        if (settings.tokenSecret() != null) {
            secret = ReadTokens.secret(settings.tokenSecret());
        } else if (singleProcess || settings.open()) {
            secret = ReadTokens.randomSecret();
        } else {
            throw new ConfigException(AuthSettings.TOKEN_SECRET.name() + " must be set (32+ bytes, the same on every "
                    + "ingest-api and delivery-sse node) with AUTH_MODE=keys; e.g. openssl rand -base64 32");
        }
        ApiKeys keys = new ApiKeys(settings.apiKeys(), settings.apiKeysFile());
        if (settings.open()) {
            log.warn("AUTH_MODE=open: anyone who can reach this port can create sessions, read every session and spend the model budget");
        } else if (keys.size() == 0) {
            log.warn("no API keys configured (API_KEYS, API_KEYS_FILE): every API request will be refused");
        }
        return new AccessControl(settings.open(), keys, new ReadTokens(secret, settings.readTokenTtl(), clock), AccessRules.TABLE,
                new WriteRateLimit(settings.writesPerSecond(), System::nanoTime));
    }

    /** Checks every matched request before its handler. */
    public void register(RoutesConfig routes) {
        routes.beforeMatched(this::check);
        // A WebSocket upgrade does not pass through HTTP before-handlers: check it on its own hook.
        routes.wsBeforeUpgrade(this::check);
    }

    /** Signs read tokens (for ingest-api) and node tokens (for index lookups). */
    public ReadTokens tokens() {
        return tokens;
    }

    public boolean open() {
        return open;
    }

    /** The principal the request was admitted as (after {@link #register}'s check). */
    public static Optional<Principal> principal(Context ctx) {
        return Optional.ofNullable(ctx.<Principal>attribute(PRINCIPAL));
    }

    /** The principal a WebSocket's upgrade request was admitted as. */
    public static Optional<Principal> principal(WsContext ctx) {
        return Optional.ofNullable(ctx.<Principal>attribute(PRINCIPAL));
    }

    /**
     * Charges a write to the principal's write rate, as every POST is charged: for writes that arrive
     * another way (a turn submitted over the WebSocket). 429 when over it.
     */
    public void chargeWrite(Principal principal) {
        if (principal.kind() == Principal.Kind.API_KEY) {
            int retryAfter = writes.acquire(principal.name());
            if (retryAfter > 0) {
                throw new ApiException(429, "rate_limited", "the API key '" + principal.name()
                        + "' is over its write rate (RATE_LIMIT_WRITES_PER_SECOND); retry after " + retryAfter + " s", retryAfter);
            }
        }
    }

    /**
     * A read token sent inside a message rather than with the request (a WebSocket subscribe: one
     * socket, a read token per session). Only read tokens: API keys travel in the Authorization header.
     */
    public Principal verifyReadToken(String credential) {
        if (open) {
            return Principal.open();
        }
        if (credential.startsWith(ApiKeys.PREFIX)) {
            throw new ApiException(401, "key_in_message", "only read tokens go in messages; send API keys in the Authorization header");
        }
        try {
            return tokens.verify(credential);
        } catch (ReadTokens.InvalidToken e) {
            throw new ApiException(401, e.expired() ? "token_expired" : "invalid_credential", e.getMessage());
        }
    }

    /** The {@code Authorization} header value a node sends to another node's internal routes. */
    public String nodeAuthorization() {
        return "Bearer " + tokens.issueNode();
    }

    void check(Context ctx) {
        String method = ctx.req().getMethod().toUpperCase(Locale.ROOT);
        if (method.equals("OPTIONS")) {
            return; // CORS preflights carry no credentials by design; the request that follows does
        }
        String path = ctx.path();
        AccessRule.Match match = null;
        for (AccessRule rule : rules) {
            match = rule.match(method, path);
            if (match != null) {
                break;
            }
        }
        if (match != null && match.rule().access().isPublic()) {
            return;
        }
        Principal principal = open ? Principal.open() : authenticate(ctx);
        ctx.attribute(PRINCIPAL, principal);
        Access access = match != null ? match.rule().access() : Access.admin();
        access.check(principal, match != null ? match.sessionId() : null);
        if (method.equals("POST")) {
            chargeWrite(principal);
        }
    }

    private Principal authenticate(Context ctx) {
        String header = ctx.header("Authorization");
        String credential;
        boolean inUrl = false;
        if (header != null && !header.isBlank()) {
            String[] parts = header.trim().split("\\s+", 2);
            if (parts.length != 2 || !parts[0].equalsIgnoreCase("Bearer")) {
                throw unauthorized(ctx, "invalid_credential", "use Authorization: Bearer <API key or read token>");
            }
            credential = parts[1].trim();
        } else {
            credential = ctx.queryParam(TOKEN_PARAM);
            inUrl = true;
        }
        if (credential == null || credential.isBlank()) {
            throw unauthorized(ctx, "unauthorized",
                    "this route needs a credential: Authorization: Bearer <API key or read token>, or ?access_token=<read token>");
        }
        if (credential.startsWith(ApiKeys.PREFIX)) {
            if (inUrl) {
                throw unauthorized(ctx, "key_in_url", "send API keys in the Authorization header, never in a URL");
            }
            ApiKeys.Entry entry = keys.find(credential).orElseThrow(() -> unauthorized(ctx, "invalid_credential", "unknown API key"));
            return Principal.apiKey(entry.name(), entry.scopes());
        }
        try {
            return tokens.verify(credential);
        } catch (ReadTokens.InvalidToken e) {
            throw unauthorized(ctx, e.expired() ? "token_expired" : "invalid_credential", e.getMessage());
        }
    }

    private static ApiException unauthorized(Context ctx, String code, String message) {
        ctx.header("WWW-Authenticate", "Bearer realm=\"tokenpipe\"");
        return new ApiException(401, code, message);
    }
}
