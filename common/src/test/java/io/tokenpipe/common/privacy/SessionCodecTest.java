package io.tokenpipe.common.privacy;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import org.junit.jupiter.api.Test;

import javax.crypto.SecretKey;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SessionCodecTest {

    private static final byte[] EVENT = "{\"type\":\"token\",\"text\":\"a secret word\"}".getBytes(StandardCharsets.UTF_8);

    /** Keys in a map, as a node holds them after reading the key topic. */
    private static final class Keys implements SessionKeys {
        final Map<String, State> states = new HashMap<>();

        @Override
        public State known(String sessionId) {
            return states.getOrDefault(sessionId, ABSENT);
        }

        @Override
        public State fresh(String sessionId) {
            return known(sessionId);
        }

        @Override
        public SecretKey create(String sessionId) {
            SecretKey key = SessionCipher.newKey();
            states.put(sessionId, new Present(key));
            return key;
        }

        @Override
        public boolean encrypting() {
            return true;
        }

        @Override
        public void shred(String sessionId) {
            states.put(sessionId, DELETED);
        }

        @Override
        public void onDeleted(Consumer<String> listener) {
        }
    }

    @Test
    void anEncryptedSessionsEventIsSealedAndOpensOnlyForItsSession() {
        Keys keys = new Keys();
        SessionCodec codec = new SessionCodec(keys);
        SecretKey key = keys.create("s_a");
        byte[] sealed = codec.sealEvent("s_a", EVENT);
        assertTrue(SessionCipher.sealed(sealed));
        assertFalse(new String(sealed, StandardCharsets.ISO_8859_1).contains("secret"));
        assertArrayEquals(EVENT, codec.openEvent("s_a", sealed));
        assertThrows(IllegalArgumentException.class, () -> SessionCipher.open(key, "s_other", sealed),
                "the session id is authenticated with the value");
        byte[] flipped = sealed.clone();
        flipped[flipped.length - 20] ^= 1;
        assertThrows(IllegalArgumentException.class, () -> codec.openEvent("s_a", flipped), "GCM refuses an altered value");
    }

    @Test
    void aSessionWithoutAKeyIsStoredAndReadAsPlainJson() {
        SessionCodec codec = new SessionCodec(new Keys());
        assertSame(EVENT, codec.sealEvent("s_plain", EVENT));
        assertSame(EVENT, codec.openEvent("s_plain", EVENT));
    }

    @Test
    void aDeletedSessionsEventsNoLongerOpenAndLateOnesAreSealedWithAKeyNobodyKeeps() {
        Keys keys = new Keys();
        SessionCodec codec = new SessionCodec(keys);
        keys.create("s_gone");
        byte[] before = codec.sealEvent("s_gone", EVENT);
        keys.shred("s_gone");
        assertThrows(SessionDeletedException.class, () -> codec.openEvent("s_gone", before));
        byte[] late = codec.sealEvent("s_gone", EVENT);
        assertTrue(SessionCipher.sealed(late), "never written in plain text");
        assertThrows(SessionDeletedException.class, () -> codec.openEvent("s_gone", late));
        assertEquals(410, new SessionDeletedException("s_gone").status());
    }

    @Test
    void aPromptsMessagesAreSealedAndTheRestStaysReadable() {
        Keys keys = new Keys();
        SessionCodec codec = new SessionCodec(keys);
        SecretKey key = keys.create("s_p");
        PromptSubmitted prompt = new PromptSubmitted(1, "s_p", "t_1", "r_1", "hash", "synthetic",
                List.of(new ChatMessage("system", "you are private"), new ChatMessage("user", "my secret")),
                GenerationParams.DEFAULTS, Instant.parse("2026-12-02T15:00:00Z"));
        byte[] value = codec.sealPrompt(prompt, key);
        String stored = new String(value, StandardCharsets.UTF_8);
        assertFalse(stored.contains("secret") || stored.contains("private"), stored);
        assertTrue(stored.contains("\"turn_id\":\"t_1\"") && stored.contains("sealed_messages"));
        assertEquals(prompt, codec.openPrompt("s_p", value));
        assertEquals(List.of(), Json.read(value, PromptSubmitted.class).messages(), "the index reads it without the text");
        keys.shred("s_p");
        assertThrows(SessionDeletedException.class, () -> codec.openPrompt("s_p", value));
    }
}
