package io.tokenpipe.standalone.browser;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.standalone.StackFixture;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A whole stack on the shared test broker for the browser tests, and what the synthetic model will
 * answer a prompt the page sends.
 */
final class BrowserStack {

    private BrowserStack() {
    }

    static Standalone start(String name, Path dataDir, Map<String, String> overrides) {
        return StackFixture.start(SharedKafka.freshTopics(name, 1), dataDir, overrides);
    }

    /** What the synthetic model answers {@code {"prompt": prompt}} (no seed: it seeds itself from the messages). */
    static List<String> syntheticDeltas(String prompt) {
        List<String> deltas = new java.util.ArrayList<>();
        try {
            new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0)).generate(new ChatRequest("synthetic",
                    List.of(ChatMessage.user(prompt)), GenerationParams.DEFAULTS, ""), t -> {
                deltas.add(t);
                return true;
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return deltas;
    }

    /** The first of the prompts whose synthetic answer has between min and max deltas. */
    static String promptWithLength(List<String> candidates, int min, int max) {
        for (String prompt : candidates) {
            int n = syntheticDeltas(prompt).size();
            if (n >= min && n <= max) {
                return prompt;
            }
        }
        throw new IllegalStateException("no candidate prompt has a synthetic answer of " + min + ".." + max + " tokens");
    }
}
