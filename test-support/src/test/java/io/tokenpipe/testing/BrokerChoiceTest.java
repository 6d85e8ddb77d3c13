package io.tokenpipe.testing;

import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The switch between the embedded and the container broker, without starting either. */
class BrokerChoiceTest {

    @Test
    void withoutTheSwitchTheTestsUseTheEmbeddedBroker() {
        assertEquals(BrokerChoice.EMBEDDED, BrokerChoice.parse(null));
        assertEquals(BrokerChoice.EMBEDDED, BrokerChoice.parse(""));
        assertEquals(BrokerChoice.EMBEDDED, BrokerChoice.parse("embedded"));
    }

    @Test
    void theSwitchNamesTheContainerBroker() {
        assertEquals(BrokerChoice.CONTAINER, BrokerChoice.parse("container"));
        assertEquals(BrokerChoice.CONTAINER, BrokerChoice.parse(" Container "));
    }

    @Test
    void aMistypedChoiceIsRefusedRatherThanRunningTheOtherBroker() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BrokerChoice.parse("docker"));
        assertTrue(e.getMessage().contains("-Dtokenpipe.test.kafka=docker") && e.getMessage().contains("container"),
                e.getMessage());
        // `mvn -Dtokenpipe.test.kafka` without a value sets it to "true".
        assertThrows(IllegalArgumentException.class, () -> BrokerChoice.parse("true"));
    }

    @Test
    void choosingTheContainerWithoutDockerSkipsWithOneMessage() {
        TestAbortedException skipped = assertThrows(TestAbortedException.class,
                () -> SharedKafka.start(BrokerChoice.CONTAINER, () -> false));
        assertTrue(skipped.getMessage().contains(SharedKafka.NO_DOCKER), skipped.getMessage());
    }

    @Test
    void hereTestcontainersFindsNoDockerSoTheContainerChoiceSkips() {
        // The real look-up, as `-Dtokenpipe.test.kafka=container` runs it on a machine without an engine.
        assumeFalse(DockerEngine.available(), "a Docker engine runs here: the container broker would start");
        TestAbortedException skipped = assertThrows(TestAbortedException.class,
                () -> SharedKafka.start(BrokerChoice.CONTAINER, DockerEngine::available));
        assertTrue(skipped.getMessage().contains(SharedKafka.NO_DOCKER), skipped.getMessage());
    }
}
