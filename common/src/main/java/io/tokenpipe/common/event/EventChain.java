package io.tokenpipe.common.event;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The hash chain of a turn's events: each stream record carries, in its {@code tp-chain} header,
 * {@code SHA-256(previous link | record value)}, where the previous link is that of the turn's previous
 * event (32 zero bytes before {@code turn.started}) and the value is the record's bytes exactly as
 * stored: sealed when the session is encrypted. So the chain verifies from the log alone, without any
 * key, and still does after the session's key was shredded; an altered, inserted or removed record
 * breaks it at that point.
 */
public final class EventChain {

    public static final String HEADER = "tp-chain";
    public static final int LINK_BYTES = 32;
    private static final byte[] GENESIS = new byte[LINK_BYTES];

    private EventChain() {
    }

    /** The link before a turn's first event. */
    public static byte[] genesis() {
        return GENESIS.clone();
    }

    public static byte[] next(byte[] previous, byte[] value) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(previous);
            sha.update(value);
            return sha.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /** The record's link, or {@code null} when it carries none (written before chains existed). */
    public static byte[] link(Headers headers) {
        Header header = headers.lastHeader(HEADER);
        return header == null ? null : header.value();
    }

    public static boolean follows(byte[] previous, byte[] value, byte[] link) {
        return link != null && Arrays.equals(next(previous, value), link);
    }

    public static String hex(byte[] link) {
        return link == null ? null : HexFormat.of().formatHex(link);
    }
}
