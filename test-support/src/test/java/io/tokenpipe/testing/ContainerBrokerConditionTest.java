package io.tokenpipe.testing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;

import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which test classes the container switch skips when there is no Docker engine. */
class ContainerBrokerConditionTest {

    private static final BooleanSupplier NO_DOCKER = () -> false;
    private static final BooleanSupplier NOT_ASKED = () -> {
        throw new AssertionError("Docker must not be looked up here");
    };

    @Test
    void withTheContainerSwitchAndNoDockerTheBrokerTestsAreSkippedWithTheReason() {
        ConditionEvaluationResult result = ContainerBrokerCondition.decide("PipelineIT", BrokerChoice.CONTAINER, NO_DOCKER);
        assertTrue(result.isDisabled());
        assertEquals(SharedKafka.NO_DOCKER, result.getReason().orElseThrow());
    }

    @Test
    void withDockerTheBrokerTestsRun() {
        assertFalse(ContainerBrokerCondition.decide("PipelineIT", BrokerChoice.CONTAINER, () -> true).isDisabled());
    }

    @Test
    void theEmbeddedBrokerNeedsNoDockerAndTestsWithoutABrokerAlwaysRun() {
        assertFalse(ContainerBrokerCondition.decide("PipelineIT", BrokerChoice.EMBEDDED, NOT_ASKED).isDisabled());
        assertFalse(ContainerBrokerCondition.decide("ComposeFileTest", BrokerChoice.CONTAINER, NOT_ASKED).isDisabled());
    }
}
