package io.tokenpipe.common.auth;

import io.tokenpipe.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiKeysTest {

    @TempDir
    Path dir;

    @Test
    void aConfiguredKeyIsFoundByItsHashAndTheConfigurationHoldsNoKey() {
        String key = ApiKeys.newKey();
        String entry = ApiKeys.entry("svc", EnumSet.of(Scope.SUBMIT, Scope.READ), key);
        assertFalse(entry.contains(key), "the configuration stores the hash, never the key");
        ApiKeys keys = new ApiKeys("other:audit:" + ApiKeys.hash(ApiKeys.newKey()) + ";" + entry, null);
        ApiKeys.Entry found = keys.find(key).orElseThrow();
        assertEquals("svc", found.name());
        assertEquals(Set.of(Scope.SUBMIT, Scope.READ), found.scopes());
        assertTrue(keys.find(key + "x").isEmpty());
        assertEquals(2, keys.size());
    }

    @Test
    void newKeysAreLongRandomAndRecognisable() {
        String a = ApiKeys.newKey();
        assertTrue(a.startsWith(ApiKeys.PREFIX) && a.length() >= 40, a.length() + " characters");
        assertNotEquals(a, ApiKeys.newKey());
    }

    @Test
    void malformedEntriesAreConfigurationErrorsThatNeverEchoAKey() {
        String key = ApiKeys.newKey();
        ConfigException e = assertThrows(ConfigException.class, () -> new ApiKeys("svc:submit:" + key, null));
        assertFalse(e.getMessage().contains(key), e.getMessage());
        assertThrows(ConfigException.class, () -> new ApiKeys("svc:root:" + ApiKeys.hash(key), null));
        assertThrows(ConfigException.class, () -> new ApiKeys("svc:" + ApiKeys.hash(key), null));
    }

    @Test
    void keysInAFileRotateWithoutARestart() throws Exception {
        String oldKey = ApiKeys.newKey();
        String newKey = ApiKeys.newKey();
        Path file = dir.resolve("keys");
        Files.writeString(file, "# service keys\n" + ApiKeys.entry("svc", EnumSet.of(Scope.SUBMIT), oldKey) + "\n");
        ApiKeys keys = new ApiKeys("", file);
        assertTrue(keys.find(oldKey).isPresent());
        assertTrue(keys.find(newKey).isEmpty());

        Files.writeString(file, ApiKeys.entry("svc-2", EnumSet.of(Scope.SUBMIT), newKey) + "\n");
        // A different modification time, whatever the file system's clock granularity.
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plus(Duration.ofMinutes(1))));
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (keys.find(newKey).isEmpty() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals("svc-2", keys.find(newKey).orElseThrow().name());
        assertTrue(keys.find(oldKey).isEmpty(), "a key removed from the file is refused");

        // A broken file keeps the keys that were loaded rather than locking everyone out.
        Files.writeString(file, "garbage");
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plus(Duration.ofMinutes(2))));
        long until = System.nanoTime() + Duration.ofMillis(1500).toNanos();
        while (System.nanoTime() < until) {
            assertTrue(keys.find(newKey).isPresent());
        }
    }
}
