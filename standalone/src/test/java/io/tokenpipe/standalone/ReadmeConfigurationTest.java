package io.tokenpipe.standalone;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** README's configuration table lists exactly the variables the services read, with their defaults. */
class ReadmeConfigurationTest {

    @Test
    void theReadmeTableMatchesTheDeclaredSettings() throws IOException {
        List<String> readme = Files.readAllLines(repoRoot().resolve("README.md"));
        List<String> expected = ConfigurationTable.rows();
        int start = readme.indexOf(expected.getFirst());
        assertTrue(start >= 0, "README.md has no configuration table; generate it with ConfigurationTable.main");
        List<String> actual = readme.subList(start, Math.min(readme.size(), start + expected.size()));
        assertEquals(String.join("\n", expected), String.join("\n", actual),
                "README's configuration table is out of date; regenerate it with ConfigurationTable.main");
        int after = start + expected.size();
        assertTrue(after >= readme.size() || !readme.get(after).startsWith("|"),
                "README's table has rows for variables no service reads: " + (after < readme.size() ? readme.get(after) : ""));
    }

    @Test
    void theReadmeOpensWithTheTwoCommands() throws IOException {
        String readme = Files.readString(repoRoot().resolve("README.md"));
        int run = readme.indexOf("./tokenpipe run");
        int test = readme.indexOf("./tokenpipe test");
        assertTrue(run > 0 && test > run, "README starts with ./tokenpipe run, then ./tokenpipe test");
        assertTrue(readme.indexOf("```") < run && readme.indexOf("```", readme.indexOf("```") + 3) > test,
                "both commands are in the first code block");
        String ci = Files.readString(repoRoot().resolve(".ci/run"));
        assertTrue(ci.contains("./tokenpipe test"), ".ci/run runs the README's test command");
    }

    static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("README.md"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("no README.md above " + Path.of("").toAbsolutePath());
        }
        return dir;
    }
}
