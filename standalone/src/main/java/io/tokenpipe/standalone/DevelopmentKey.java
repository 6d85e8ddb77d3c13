package io.tokenpipe.standalone;

import io.tokenpipe.common.auth.ApiKeys;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The embedded launcher's answer to "secure by default, one command": when no API key is configured
 * it makes one, keeps it in the data directory (readable by its owner only, so a restart keeps the
 * browser's key valid), and prints a URL that opens the web page with it. It is a real key: the
 * port is not open to anyone else who can reach it.
 */
final class DevelopmentKey {

    static final String FILE_NAME = "dev-api-key";

    private DevelopmentKey() {
    }

    static String loadOrCreate(Path dataDir) {
        Path file = dataDir.resolve(FILE_NAME);
        try {
            if (Files.isRegularFile(file)) {
                String key = Files.readString(file, StandardCharsets.UTF_8).strip();
                if (key.startsWith(ApiKeys.PREFIX) && key.length() > 30) {
                    return key;
                }
            }
            Files.createDirectories(dataDir);
            String key = ApiKeys.newKey();
            Files.deleteIfExists(file);
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException notPosix) {
                Files.createFile(file);
            }
            Files.writeString(file, key + "\n", StandardCharsets.UTF_8);
            return key;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot keep the development API key in " + file, e);
        }
    }
}
