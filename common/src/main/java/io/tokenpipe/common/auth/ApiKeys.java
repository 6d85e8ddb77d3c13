package io.tokenpipe.common.auth;

import io.tokenpipe.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The API keys this node accepts, stored only as SHA-256 hashes. A key is 32 random bytes, so a
 * plain (unsalted, fast) hash is enough: there is nothing to guess. An entry is
 * {@code name:scope+scope:sha256hex}; {@code API_KEYS} holds entries separated by {@code ;} or
 * newlines, {@code API_KEYS_FILE} one per line ({@code #} starts a comment). The file is read again
 * when it changes, so keys rotate without a restart: add the new key, move clients over, remove the old.
 */
public final class ApiKeys {

    private static final Logger log = LoggerFactory.getLogger(ApiKeys.class);
    /** Every key tokenpipe generates starts with this, so a key is recognisable in a config and never mistaken for a token. */
    public static final String PREFIX = "tpk_";
    private static final Pattern HASH = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.@-]{1,64}");
    private static final long FILE_CHECK_INTERVAL_NANOS = 1_000_000_000L;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A configured key: its name (shown in logs), its scopes. */
    public record Entry(String name, Set<Scope> scopes) {
    }

    private final Map<String, Entry> fromEnv;
    private final Path file;
    private volatile Map<String, Entry> fromFile = Map.of();
    private volatile FileTime fileTime;
    private volatile long nextFileCheck;

    /**
     * @param entries the {@code API_KEYS} value (may be empty)
     * @param file    the {@code API_KEYS_FILE}, or {@code null}
     */
    public ApiKeys(String entries, Path file) {
        this.fromEnv = parse(entries, "API_KEYS");
        this.file = file;
        if (file != null) {
            reloadFile(true);
        }
    }

    /** The key's entry, if the key is configured. */
    public Optional<Entry> find(String presentedKey) {
        String hash = hash(presentedKey);
        Entry entry = fromEnv.get(hash);
        if (entry == null && file != null) {
            if (System.nanoTime() - nextFileCheck > 0) {
                reloadFile(false);
            }
            entry = fromFile.get(hash);
        }
        return Optional.ofNullable(entry);
    }

    /** Keys configured now (environment and file). */
    public int size() {
        return fromEnv.size() + fromFile.size();
    }

    /** A new random key ({@code tpk_} and 43 base64url characters). */
    public static String newKey() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /** The SHA-256 of a key in lower-case hex: what a configuration stores. */
    public static String hash(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /** The configuration entry for a key: {@code name:scope+scope:sha256hex}. */
    public static String entry(String name, Set<Scope> scopes, String key) {
        StringBuilder out = new StringBuilder(name).append(':');
        String sep = "";
        for (Scope scope : scopes) {
            out.append(sep).append(scope.json());
            sep = "+";
        }
        return out.append(':').append(hash(key)).toString();
    }

    private synchronized void reloadFile(boolean atStart) {
        if (System.nanoTime() - nextFileCheck < 0 && !atStart) {
            return; // another thread just checked
        }
        nextFileCheck = System.nanoTime() + FILE_CHECK_INTERVAL_NANOS;
        try {
            FileTime modified = Files.getLastModifiedTime(file);
            if (modified.equals(fileTime)) {
                return;
            }
            Map<String, Entry> parsed = parse(Files.readString(file), file.toString());
            fromFile = parsed;
            fileTime = modified;
            log.info("loaded {} API keys from {}", parsed.size(), file);
        } catch (IOException | ConfigException e) {
            if (atStart) {
                throw new ConfigException("API_KEYS_FILE " + file + ": " + e.getMessage());
            }
            // Keep the keys we had: a half-written file must not lock everyone out.
            log.warn("API_KEYS_FILE {} could not be read again, keeping the previous keys: {}", file, e.getMessage());
        }
    }

    static Map<String, Entry> parse(String text, String source) {
        Map<String, Entry> keys = new HashMap<>();
        if (text == null) {
            return keys;
        }
        int number = 0;
        for (String raw : text.split("[;\\n]")) {
            number++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] parts = line.split(":");
            if (parts.length != 3 || !NAME.matcher(parts[0]).matches() || !HASH.matcher(parts[2].toLowerCase()).matches()) {
                throw new ConfigException(source + " entry " + number
                        + " is not name:scope+scope:sha256hex (the key's SHA-256, 64 hex digits; never the key itself)");
            }
            Set<Scope> scopes = EnumSet.noneOf(Scope.class);
            try {
                for (String scope : parts[1].split("\\+")) {
                    scopes.add(Scope.parse(scope));
                }
            } catch (IllegalArgumentException e) {
                throw new ConfigException(source + " entry " + number + " (" + parts[0] + "): " + e.getMessage());
            }
            keys.put(parts[2].toLowerCase(), new Entry(parts[0], scopes));
        }
        return Map.copyOf(keys);
    }
}
