package io.tokenpipe.testing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which test classes the container switch skips when there is no Docker engine. */
class ContainerBrokerConditionTest {

    private static final BooleanSupplier NO_DOCKER = () -> false;
    private static final BooleanSupplier DOCKER_NOT_ASKED = () -> {
        throw new AssertionError("Docker must not be looked up here");
    };
    private static final Supplier<BrokerChoice> SWITCH_NOT_READ = () -> {
        throw new AssertionError("the switch must not be read here");
    };

    @Test
    void withTheContainerSwitchAndNoDockerTheBrokerTestsAreSkippedWithTheReason() {
        ConditionEvaluationResult result = ContainerBrokerCondition.decide("PipelineIT", () -> BrokerChoice.CONTAINER, NO_DOCKER);
        assertTrue(result.isDisabled());
        assertEquals(SharedKafka.NO_DOCKER, result.getReason().orElseThrow());
    }

    @Test
    void withDockerTheBrokerTestsRun() {
        assertFalse(ContainerBrokerCondition.decide("PipelineIT", () -> BrokerChoice.CONTAINER, () -> true).isDisabled());
    }

    @Test
    void theEmbeddedBrokerNeedsNoDocker() {
        assertFalse(ContainerBrokerCondition.decide("PipelineIT", () -> BrokerChoice.EMBEDDED, DOCKER_NOT_ASKED).isDisabled());
    }

    @Test
    void testsOutsideTheBrokerTierRunWhateverTheSwitchSays() {
        assertFalse(ContainerBrokerCondition.decide("ComposeFileTest", SWITCH_NOT_READ, DOCKER_NOT_ASKED).isDisabled());
    }
}
