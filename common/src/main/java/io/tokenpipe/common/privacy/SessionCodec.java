package io.tokenpipe.common.privacy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;

import javax.crypto.SecretKey;
import java.io.IOException;
import java.util.Base64;

/**
 * The one place where session content is sealed on its way into Kafka and opened on its way out.
 * Writers seal a stream event's whole JSON and a prompt's {@code messages} (the rest of a prompt
 * stays readable: the session index needs its ids and hash, never its text); every reader opens
 * through here.
 */
public final class SessionCodec {

    static final String SEALED_MESSAGES = "sealed_messages";

    private final SessionKeys keys;

    public SessionCodec(SessionKeys keys) {
        this.keys = keys;
    }

    /** A codec that neither seals nor knows of deletions: plain JSON in and out. */
    public static SessionCodec plain() {
        return new SessionCodec(SessionKeys.none());
    }

    public SessionKeys keys() {
        return keys;
    }

    /**
     * A stream event's record value: its JSON sealed with the session's key, or the JSON itself for a
     * session created without one. A deleted session's late events (a turn still running when it was
     * deleted) are sealed with a key nobody keeps: they are unreadable from the moment they are written.
     */
    public byte[] sealEvent(String sessionId, byte[] json) {
        return switch (keys.known(sessionId)) {
            case SessionKeys.Present present -> SessionCipher.seal(present.key(), sessionId, json);
            case SessionKeys.Deleted deleted -> SessionCipher.seal(SessionCipher.newKey(), sessionId, json);
            case SessionKeys.Absent absent -> sealFresh(sessionId, json);
        };
    }

    private byte[] sealFresh(String sessionId, byte[] json) {
        if (!keys.encrypting()) {
            return json; // this node does not seal; a session's key would still have been found in memory
        }
        return switch (keys.fresh(sessionId)) {
            case SessionKeys.Present present -> SessionCipher.seal(present.key(), sessionId, json);
            case SessionKeys.Deleted deleted -> SessionCipher.seal(SessionCipher.newKey(), sessionId, json);
            case SessionKeys.Absent absent -> json; // created with encryption off
        };
    }

    /**
     * A stream record's JSON: the value itself when it is plain, else opened with the session's key.
     * Throws {@link SessionDeletedException} when the key was shredded (or never kept: a deleted
     * session's late event), {@link IllegalArgumentException} when the value does not open.
     */
    public byte[] openEvent(String sessionId, byte[] value) {
        if (!SessionCipher.sealed(value)) {
            return value;
        }
        return SessionCipher.open(keyFor(sessionId), sessionId, value);
    }

    private SecretKey keyFor(String sessionId) {
        SessionKeys.State state = keys.known(sessionId);
        if (state instanceof SessionKeys.Absent) {
            state = keys.fresh(sessionId);
        }
        return switch (state) {
            case SessionKeys.Present present -> present.key();
            // Sealed, yet no key after reading everything written before: shredded and compacted away.
            case SessionKeys.Absent absent -> throw new SessionDeletedException(sessionId);
            case SessionKeys.Deleted deleted -> throw new SessionDeletedException(sessionId);
        };
    }

    /** A prompt's record value, its messages sealed when the session has a key. */
    public byte[] sealPrompt(PromptSubmitted prompt, SecretKey key) {
        if (key == null) {
            return Json.bytes(prompt);
        }
        ObjectNode node = Json.MAPPER.valueToTree(prompt);
        JsonNode messages = node.remove("messages");
        byte[] sealed = SessionCipher.seal(key, prompt.sessionId(), Json.bytes(messages));
        node.put(SEALED_MESSAGES, Base64.getEncoder().encodeToString(sealed));
        return Json.bytes(node);
    }

    /** A prompt as its writer gave it, messages opened; {@link SessionDeletedException} when its key is gone. */
    public PromptSubmitted openPrompt(String sessionId, byte[] value) {
        try {
            ObjectNode node = (ObjectNode) Json.MAPPER.readTree(value);
            JsonNode sealed = node.remove(SEALED_MESSAGES);
            if (sealed != null) {
                byte[] messages = SessionCipher.open(keyFor(sessionId), sessionId, Base64.getDecoder().decode(sealed.asText()));
                node.set("messages", Json.MAPPER.readTree(messages));
            }
            return Json.MAPPER.treeToValue(node, PromptSubmitted.class);
        } catch (IOException | ClassCastException e) {
            throw new IllegalArgumentException("not a prompt: " + e.getMessage(), e);
        }
    }
}
