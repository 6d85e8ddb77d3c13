package io.tokenpipe.common.config;

/**
 * One environment variable a service reads: its name, its default (as written in the README's
 * configuration table; {@code null} when there is none) and what it does. Declaring settings as
 * values lets tests check the README and docker-compose.yml against what the code reads.
 */
public record Setting(String name, String defaultValue, String description) {

    public static Setting of(String name, String defaultValue, String description) {
        return new Setting(name, defaultValue, description);
    }
}
