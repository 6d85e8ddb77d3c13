package io.tokenpipe.common.config;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads {@link Setting}s from a map of environment variables. Takes a map rather than reading
 * {@link System#getenv()} so that tests and the embedded launcher can pass their own.
 */
public final class Env {

    private final Map<String, String> values;

    private Env(Map<String, String> values) {
        this.values = Map.copyOf(values);
    }

    public static Env of(Map<String, String> values) {
        return new Env(values);
    }

    public static Env system() {
        return new Env(System.getenv());
    }

    /** A copy with some variables replaced or added. */
    public Env with(Map<String, String> overrides) {
        Map<String, String> merged = new TreeMap<>(values);
        merged.putAll(overrides);
        return new Env(merged);
    }

    /** The variables, for handing to a child process. */
    public Map<String, String> asMap() {
        return values;
    }

    public boolean isSet(Setting setting) {
        String value = values.get(setting.name());
        return value != null && !value.isBlank();
    }

    public String string(Setting setting) {
        String value = values.get(setting.name());
        return value == null || value.isBlank() ? setting.defaultValue() : value.trim();
    }

    public String required(Setting setting) {
        String value = string(setting);
        if (value == null) {
            throw new ConfigException(setting.name() + " must be set (" + setting.description() + ")");
        }
        return value;
    }

    public int integer(Setting setting) {
        String value = required(setting);
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new ConfigException(setting.name() + " must be an integer, got '" + value + "'");
        }
    }

    public int positiveInteger(Setting setting) {
        int value = integer(setting);
        if (value <= 0) {
            throw new ConfigException(setting.name() + " must be greater than 0, got " + value);
        }
        return value;
    }

    public long longValue(Setting setting) {
        String value = required(setting);
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new ConfigException(setting.name() + " must be an integer, got '" + value + "'");
        }
    }

    public long positiveLong(Setting setting) {
        long value = longValue(setting);
        if (value <= 0) {
            throw new ConfigException(setting.name() + " must be greater than 0, got " + value);
        }
        return value;
    }

    /** Settings whose name ends in {@code _MS} are durations in milliseconds. */
    public Duration millis(Setting setting) {
        long value = longValue(setting);
        if (value < 0) {
            throw new ConfigException(setting.name() + " must not be negative, got " + value);
        }
        return Duration.ofMillis(value);
    }

    public double decimal(Setting setting) {
        String value = required(setting);
        try {
            return Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw new ConfigException(setting.name() + " must be a number, got '" + value + "'");
        }
    }

    public boolean bool(Setting setting) {
        String value = required(setting).toLowerCase();
        return switch (value) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new ConfigException(setting.name() + " must be true or false, got '" + value + "'");
        };
    }

    /** A comma-separated list; empty when unset. */
    public List<String> list(Setting setting) {
        String value = string(setting);
        if (value == null || value.isBlank()) {
            return List.of();
        }
        return Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    /** Every variable whose name starts with {@code prefix}, with the prefix kept. */
    public Map<String, String> withPrefix(String prefix) {
        Map<String, String> out = new TreeMap<>();
        values.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k, v);
            }
        });
        return out;
    }
}
