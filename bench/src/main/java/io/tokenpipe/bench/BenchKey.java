package io.tokenpipe.bench;

import io.tokenpipe.common.auth.ApiKeys;
import io.tokenpipe.common.auth.Scope;

import java.util.EnumSet;

/**
 * The API key the benchmark's server is configured with and its clients send: made up per run,
 * so the benchmark measures the stack with authentication on, as it runs in production.
 */
final class BenchKey {

    static final String KEY = ApiKeys.newKey();

    private BenchKey() {
    }

    /** The {@code API_KEYS} entry for the server (its hash, never the key). */
    static String apiKeysEntry() {
        return ApiKeys.entry("bench", EnumSet.of(Scope.ADMIN), KEY);
    }

    static String authorization() {
        return "Bearer " + KEY;
    }
}
