package io.tokenpipe.testing;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Skips every {@code *IT} class (the tier that needs a broker) when the container broker is chosen and
 * there is no Docker engine, with {@link SharedKafka#NO_DOCKER} as the reason.
 *
 * <p>Why a condition and not only {@link SharedKafka}'s assumption: a test class that starts its
 * stack in {@code @BeforeAll} and is aborted there is reported by Surefire as "Tests run: 0", without
 * its tests or the reason; a disabled class is reported as skipped, test by test, with the reason.
 * Registered for every test JVM by JUnit's extension auto-detection (META-INF/services, enabled in the
 * parent pom's Surefire configuration).
 */
public final class ContainerBrokerCondition implements ExecutionCondition {

    /** The classes this condition was asked about in this JVM: lets a test see that it is registered. */
    static final Set<String> CONSULTED = ConcurrentHashMap.newKeySet();

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (context.getTestMethod().isPresent() || context.getTestClass().isEmpty()) {
            return ConditionEvaluationResult.enabled("decided for the class");
        }
        Class<?> testClass = context.getRequiredTestClass();
        while (testClass.getEnclosingClass() != null) {
            testClass = testClass.getEnclosingClass();
        }
        CONSULTED.add(testClass.getName());
        return decide(testClass.getSimpleName(), BrokerChoice::selected, DockerEngine::available);
    }

    /**
     * Skipped only for a class of the broker tier when the container is chosen and Docker is absent.
     * The switch is read for that tier only: a mistyped value fails those classes, not the others.
     */
    static ConditionEvaluationResult decide(String className, Supplier<BrokerChoice> choice, BooleanSupplier dockerAvailable) {
        if (!className.endsWith("IT")) {
            return ConditionEvaluationResult.enabled("needs no broker");
        }
        if (choice.get() != BrokerChoice.CONTAINER) {
            return ConditionEvaluationResult.enabled("the embedded broker needs no Docker");
        }
        return dockerAvailable.getAsBoolean()
                ? ConditionEvaluationResult.enabled("a Docker engine runs the container broker")
                : ConditionEvaluationResult.disabled(SharedKafka.NO_DOCKER);
    }
}
