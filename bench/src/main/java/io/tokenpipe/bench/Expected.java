package io.tokenpipe.bench;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the synthetic model answers to a benchmark prompt: the same deterministic generator the
 * worker runs, at full speed. The pace options do not change the words, only when they come.
 */
final class Expected {

    // Unbounded options: the expected answer of any turn the benchmark asks for (the server's bounds are
    // the server's business; ServerProcess raises them to what the run needs).
    private static final SyntheticModel MODEL = new SyntheticModel(
            new SyntheticSettings(Duration.ZERO, 0, Duration.ofDays(1), 0, Long.MAX_VALUE));

    private Expected() {
    }

    /** The token texts, in order, of an answer of exactly {@code tokens} deltas. */
    static List<String> tokens(String prompt, long seed, int tokens) {
        List<String> out = new ArrayList<>(tokens);
        try {
            MODEL.generate(new ChatRequest("synthetic", List.of(ChatMessage.user(prompt)),
                    new GenerationParams(null, null, List.of(), seed, Map.of("tokens", tokens)), ""), t -> {
                out.add(t);
                return true;
            });
        } catch (Exception e) {
            throw new IllegalStateException("the synthetic model failed to generate the expected text", e);
        }
        return out;
    }

    static String text(String prompt, long seed, int tokens) {
        return String.join("", tokens(prompt, seed, tokens));
    }
}
