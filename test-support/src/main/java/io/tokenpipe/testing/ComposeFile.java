package io.tokenpipe.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The repository's docker-compose.yml, read by the tests that must run what it runs: the container
 * broker takes its image from here, so the two cannot drift apart.
 */
public final class ComposeFile {

    public static final String NAME = "docker-compose.yml";

    private ComposeFile() {
    }

    /** The nearest docker-compose.yml from the working directory upwards (tests run in a module's directory). */
    public static Path path() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path file = dir.resolve(NAME);
            if (Files.isRegularFile(file)) {
                return file;
            }
        }
        throw new IllegalStateException("no " + NAME + " in " + Path.of("").toAbsolutePath() + " or above it");
    }

    /** The image of the compose file's {@code kafka} service, e.g. {@code apache/kafka:4.3.1}. */
    public static String kafkaImage() {
        return kafkaImage(path());
    }

    static String kafkaImage(Path file) {
        JsonNode compose;
        try {
            // Anchors and merge keys elsewhere in the file need no resolving here: the kafka service
            // states its image directly.
            compose = new YAMLMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        String image = compose.path("services").path("kafka").path("image").asText("");
        if (image.isBlank()) {
            throw new IllegalStateException(file + " has no services.kafka.image");
        }
        return image;
    }
}
