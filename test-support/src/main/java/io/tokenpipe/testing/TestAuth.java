package io.tokenpipe.testing;

import io.tokenpipe.common.auth.ApiKeys;
import io.tokenpipe.common.auth.AuthSettings;
import io.tokenpipe.common.auth.Scope;

import java.util.EnumSet;
import java.util.Map;

/**
 * The API keys and token secret every test stack is configured with. Tests run with authentication
 * on, as production does; the shared clients ({@link ApiClient}, {@link SseTestClient}) send
 * {@link #ADMIN_KEY} unless a test says otherwise. These keys are test fixtures, published in the
 * source on purpose: never configure them anywhere else.
 */
public final class TestAuth {

    public static final String ADMIN_KEY = "tpk_test-admin-0123456789abcdefghijklmnopqrstuvw";
    public static final String SUBMIT_KEY = "tpk_test-submit-0123456789abcdefghijklmnopqrstuv";
    public static final String READ_KEY = "tpk_test-read-0123456789abcdefghijklmnopqrstuvwxy";
    public static final String AUDIT_KEY = "tpk_test-audit-0123456789abcdefghijklmnopqrstuvwx";
    public static final String METRICS_KEY = "tpk_test-metrics-0123456789abcdefghijklmnopqrstu";
    public static final String TOKEN_SECRET = "test-only-token-secret-0123456789abcdefghij";

    private TestAuth() {
    }

    /** The environment variables that configure the keys above and the token secret. */
    public static Map<String, String> env() {
        String keys = String.join(";",
                ApiKeys.entry("test-admin", EnumSet.of(Scope.ADMIN), ADMIN_KEY),
                ApiKeys.entry("test-submit", EnumSet.of(Scope.SUBMIT), SUBMIT_KEY),
                ApiKeys.entry("test-read", EnumSet.of(Scope.READ), READ_KEY),
                ApiKeys.entry("test-audit", EnumSet.of(Scope.AUDIT), AUDIT_KEY),
                ApiKeys.entry("test-metrics", EnumSet.of(Scope.METRICS), METRICS_KEY));
        // One key drives every test client, hundreds of writes a second at times: a high limit, still on.
        return Map.of(AuthSettings.API_KEYS.name(), keys, AuthSettings.TOKEN_SECRET.name(), TOKEN_SECRET,
                AuthSettings.WRITES_PER_SECOND.name(), "100000", "SSE_MAX_STREAMS_PER_KEY", "100000");
    }

    /** The {@code Authorization} header value for a key or token. */
    public static String bearer(String credential) {
        return "Bearer " + credential;
    }
}
