package io.tokenpipe.common.id;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.regex.Pattern;

/**
 * Session and turn identifiers. Ids are URL-safe, so they go into paths unescaped; the format check
 * is what turns "not even an id" into a 400 before anything looks it up.
 */
public final class Ids {

    /** What a session or turn id may look like: 1 to 64 URL-safe characters. */
    public static final Pattern FORMAT = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Base64.Encoder BASE64 = Base64.getUrlEncoder().withoutPadding();

    private Ids() {
    }

    public static String newSessionId() {
        return "s_" + random128();
    }

    public static String newRequestId() {
        return "r_" + random128();
    }

    /**
     * The turn id of a client request: derived from the session and the request's idempotency key,
     * so a retried request maps to the same turn wherever it lands.
     */
    public static String turnId(String sessionId, String clientRequestId) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(sessionId.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) '\n');
            sha.update(clientRequestId.getBytes(StandardCharsets.UTF_8));
            return "t_" + BASE64.encodeToString(sha.digest()).substring(0, 22);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    public static boolean isValid(String id) {
        if (id == null || id.isEmpty() || id.length() > 64) {
            return false;
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private static String random128() {
        byte[] bytes = new byte[16];
        RANDOM.nextBytes(bytes);
        return BASE64.encodeToString(bytes);
    }
}
