package io.tokenpipe.common.privacy;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;

/**
 * AES-256-GCM from the JDK (javax.crypto), nothing of our own: a sealed value is
 * {@code 0x01 | 12-byte random nonce | ciphertext | 16-byte tag}, authenticated together with the
 * session id (so a sealed value copied into another session does not open). The leading byte tells a
 * sealed value from a JSON one, which always starts with {@code {}.
 */
public final class SessionCipher {

    /** First byte of every sealed value; JSON starts with '{' (0x7B). */
    public static final byte SEALED = 0x01;
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final SecureRandom RANDOM = new SecureRandom();

    private SessionCipher() {
    }

    /** A new random 256-bit data key. */
    public static SecretKey newKey() {
        try {
            KeyGenerator generator = KeyGenerator.getInstance("AES");
            generator.init(256, RANDOM);
            return generator.generateKey();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES is part of every JDK", e);
        }
    }

    public static SecretKey key(byte[] raw) {
        return new SecretKeySpec(raw, "AES");
    }

    public static boolean sealed(byte[] value) {
        return value != null && value.length > 0 && value[0] == SEALED;
    }

    public static byte[] seal(SecretKey key, String sessionId, byte[] plain) {
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
            cipher.updateAAD(sessionId.getBytes(StandardCharsets.UTF_8));
            byte[] out = new byte[1 + NONCE_BYTES + cipher.getOutputSize(plain.length)];
            out[0] = SEALED;
            System.arraycopy(nonce, 0, out, 1, NONCE_BYTES);
            cipher.doFinal(plain, 0, plain.length, out, 1 + NONCE_BYTES);
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed to encrypt", e);
        }
    }

    /** The plaintext; throws {@link IllegalArgumentException} when the value was not sealed with this key for this session. */
    public static byte[] open(SecretKey key, String sessionId, byte[] sealed) {
        if (!sealed(sealed) || sealed.length < 1 + NONCE_BYTES + TAG_BITS / 8) {
            throw new IllegalArgumentException("not a sealed value");
        }
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, sealed, 1, NONCE_BYTES));
            cipher.updateAAD(sessionId.getBytes(StandardCharsets.UTF_8));
            return cipher.doFinal(sealed, 1 + NONCE_BYTES, sealed.length - 1 - NONCE_BYTES);
        } catch (AEADBadTagException e) {
            throw new IllegalArgumentException("the sealed value does not open with this session's key", e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed to decrypt", e);
        }
    }
}
