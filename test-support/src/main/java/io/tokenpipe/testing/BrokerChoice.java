package io.tokenpipe.testing;

import java.util.Locale;

/**
 * Which Kafka broker the tests of this JVM share, chosen by the system property
 * {@value #PROPERTY} ({@code -Dtokenpipe.test.kafka=container} on the Maven command line). The tests
 * themselves do not change: they reach the broker through {@link SharedKafka}.
 */
public enum BrokerChoice {

    /** The in-process KRaft broker of embedded-kafka: the default, and what CI runs. */
    EMBEDDED,

    /**
     * A Kafka container (Testcontainers) on the image docker-compose.yml runs. Needs a Docker engine;
     * without one the tests that need a broker are skipped, not failed. Also turns on the compose
     * smoke test.
     */
    CONTAINER;

    public static final String PROPERTY = "tokenpipe.test.kafka";

    /** The choice of this JVM: {@link #EMBEDDED} unless {@value #PROPERTY} says otherwise. */
    public static BrokerChoice selected() {
        return parse(System.getProperty(PROPERTY));
    }

    static BrokerChoice parse(String value) {
        if (value == null || value.isBlank()) {
            return EMBEDDED;
        }
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "embedded" -> EMBEDDED;
            case "container" -> CONTAINER;
            // A typo must not quietly run the embedded broker instead of the one asked for.
            default -> throw new IllegalArgumentException(
                    "-D" + PROPERTY + "=" + value + ": expected 'embedded' (the default) or 'container'");
        };
    }
}
