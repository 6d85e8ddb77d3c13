package io.tokenpipe.common.auth;

import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/** Who may call the HTTP API: read by every node that serves it (ingest-api, delivery-sse). */
public record AuthSettings(boolean open, String apiKeys, Path apiKeysFile, String tokenSecret, Duration readTokenTtl,
                           double writesPerSecond) {

    public static final Setting MODE = Setting.of("AUTH_MODE", "keys",
            "keys: every API route needs an API key or a read token (see docs/security.md). open: no authentication at all, for a laptop; logs a warning at start.");
    public static final Setting API_KEYS = Setting.of("API_KEYS", "",
            "API keys, as name:scope+scope:sha256 entries separated by ';' (scopes: submit, read, audit, admin; sha256 = hex SHA-256 of the key, never the key itself).");
    public static final Setting API_KEYS_FILE = Setting.of("API_KEYS_FILE", "",
            "File of more API keys, one name:scope+scope:sha256 entry per line; read again when it changes (rotation without restart).");
    public static final Setting TOKEN_SECRET = Setting.of("AUTH_TOKEN_SECRET", null,
            "Secret (32+ bytes) that signs read tokens and node tokens; the same on every ingest-api and delivery-sse node. Required with AUTH_MODE=keys, except by the embedded launcher, which makes one up.");
    public static final Setting READ_TOKEN_TTL_SECONDS = Setting.of("READ_TOKEN_TTL_SECONDS", "3600",
            "How long a per-session read token is accepted for opening a stream (an open stream is not cut when it expires).");

    public static final Setting WRITES_PER_SECOND = Setting.of("RATE_LIMIT_WRITES_PER_SECOND", "50",
            "Writes (POST requests) one API key may make per second on one node, in bursts of up to twice that; beyond it 429 with Retry-After. 0 = no limit.");

    public static final List<Setting> SETTINGS = List.of(MODE, API_KEYS, API_KEYS_FILE, TOKEN_SECRET, READ_TOKEN_TTL_SECONDS,
            WRITES_PER_SECOND);

    public static AuthSettings from(Env env) {
        String mode = env.required(MODE).trim().toLowerCase(Locale.ROOT);
        if (!mode.equals("keys") && !mode.equals("open")) {
            throw new ConfigException(MODE.name() + " must be 'keys' or 'open', got '" + mode + "'");
        }
        String file = env.string(API_KEYS_FILE);
        String secret = env.isSet(TOKEN_SECRET) ? env.string(TOKEN_SECRET) : null;
        return new AuthSettings(mode.equals("open"), env.string(API_KEYS), file == null || file.isBlank() ? null : Path.of(file),
                secret == null || secret.isBlank() ? null : secret, Duration.ofSeconds(env.positiveInteger(READ_TOKEN_TTL_SECONDS)),
                writesPerSecond(env));
    }

    private static double writesPerSecond(Env env) {
        double rate = env.decimal(WRITES_PER_SECOND);
        if (!(rate >= 0) || Double.isInfinite(rate)) {
            throw new ConfigException(WRITES_PER_SECOND.name() + " must be 0 or more, got " + rate);
        }
        return rate;
    }

    /** Whether any key is configured (in the environment or a file). */
    public boolean hasKeys() {
        return (apiKeys != null && !apiKeys.isBlank()) || apiKeysFile != null;
    }
}
