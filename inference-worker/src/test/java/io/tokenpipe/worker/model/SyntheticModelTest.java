package io.tokenpipe.worker.model;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticModelTest {

    private static final List<ChatMessage> PROMPT = List.of(ChatMessage.user("Tell me about rivers."));
    private final SyntheticModel fast = new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0));

    private record Run(List<String> deltas, ModelResult result) {
        String text() {
            return String.join("", deltas);
        }
    }

    private static GenerationParams params(Integer maxTokens, Long seed, Map<String, Object> options) {
        return new GenerationParams(maxTokens, null, List.of(), seed, options);
    }

    private static Run run(SyntheticModel model, GenerationParams params, String continuation) throws Exception {
        List<String> deltas = new ArrayList<>();
        ModelResult result = model.generate(new ChatRequest("synthetic", PROMPT, params, continuation), deltas::add);
        return new Run(deltas, result);
    }

    @Test
    void sameSeedGivesIdenticalText() throws Exception {
        Run a = run(fast, params(null, 42L, Map.of()), "");
        Run b = run(new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0)), params(null, 42L, Map.of()), "");
        assertEquals(a.deltas(), b.deltas());
        assertTrue(a.deltas().size() >= 30 && a.deltas().size() <= 90, "natural length in [30, 90]");
    }

    @Test
    void differentSeedGivesDifferentText() throws Exception {
        assertNotEquals(run(fast, params(null, 1L, Map.of()), "").text(), run(fast, params(null, 2L, Map.of()), "").text());
    }

    @Test
    void withoutSeedTheMessagesDecide() throws Exception {
        Run a = run(fast, params(null, null, Map.of()), "");
        Run b = run(fast, params(null, null, Map.of()), "");
        assertEquals(a.text(), b.text());
        List<String> other = new ArrayList<>();
        fast.generate(new ChatRequest("synthetic", List.of(ChatMessage.user("Something else")),
                params(null, null, Map.of()), ""), other::add);
        assertNotEquals(a.text(), String.join("", other));
    }

    @Test
    void textIsReadable() throws Exception {
        Run run = run(fast, params(null, 7L, Map.of("tokens", 60)), "");
        assertTrue(Character.isUpperCase(run.deltas().getFirst().charAt(0)), run.text());
        assertFalse(run.deltas().getFirst().startsWith(" "));
        for (String delta : run.deltas().subList(1, run.deltas().size())) {
            assertTrue(delta.matches(" [A-Za-z]+\\.?"), "one word per delta after a space: '" + delta + "'");
        }
        // Sentences of 6..16 words, capitalised, ending with '.'; the last one may be cut off.
        String sentence = "[A-Z][a-z]*( [a-z]+){4,14} [a-z]+\\.";
        String cutOff = "[A-Z][a-z]*( [a-z]+)*";
        assertTrue(run.text().matches(sentence + "( " + sentence + ")*( " + cutOff + ")?"), run.text());
    }

    @Test
    void maxTokensCutsWithFinishLength() throws Exception {
        Run run = run(fast, params(5, 3L, Map.of("tokens", 50)), "");
        assertEquals(5, run.deltas().size());
        assertEquals("length", run.result().finishReason());
        assertEquals(5, run.result().usage().completionTokens());
        assertEquals(run(fast, params(null, 3L, Map.of("tokens", 50)), "").deltas().subList(0, 5), run.deltas(),
                "the cut text is a prefix of the full text");
    }

    @Test
    void tokensOptionSetsNaturalLengthWithFinishStop() throws Exception {
        Run run = run(fast, params(100, 3L, Map.of("tokens", 12)), "");
        assertEquals(12, run.deltas().size());
        assertEquals("stop", run.result().finishReason());
        assertEquals(12, run.result().usage().completionTokens());
        assertEquals(6, run.result().usage().promptTokens(), "ceil(21 chars / 4)");
    }

    @Test
    void sinkReturningFalseStopsAtOnce() throws Exception {
        List<String> seen = new ArrayList<>();
        ModelResult result = fast.generate(new ChatRequest("synthetic", PROMPT, params(null, 9L, Map.of("tokens", 40)), ""),
                text -> {
                    seen.add(text);
                    return seen.size() < 3;
                });
        assertEquals(3, seen.size());
        assertEquals("stop", result.finishReason());
    }

    @Test
    void continuationResumesExactly() throws Exception {
        GenerationParams params = params(null, 11L, Map.of("tokens", 30));
        Run first = run(fast, params, "");
        String continuation = String.join("", first.deltas().subList(0, 10));
        Run second = run(fast, params, continuation);
        assertEquals(20, second.deltas().size(), "only the rest is emitted");
        assertEquals(first.text(), continuation + second.text());
        assertEquals(first.deltas().subList(10, 30), second.deltas());
        assertEquals(30, second.result().usage().completionTokens(), "usage counts the continuation too");
        assertEquals("stop", second.result().finishReason());
    }

    @Test
    void continuationCoveringEverythingEmitsNothing() throws Exception {
        GenerationParams params = params(8, 11L, Map.of("tokens", 30));
        Run first = run(fast, params, "");
        Run second = run(fast, params, first.text());
        assertEquals(List.of(), second.deltas());
        assertEquals("length", second.result().finishReason());
    }

    @Test
    void mismatchedContinuationFails() throws Exception {
        GenerationParams params = params(null, 11L, Map.of("tokens", 30));
        ModelException notAPrefix = assertThrows(ModelException.class, () -> run(fast, params, "Zebra crossing"));
        assertEquals("continuation_mismatch", notAPrefix.code());
        assertFalse(notAPrefix.retryable());
    }

    @Test
    void continuationEndingInsideADeltaResumesWithTheRestOfIt() throws Exception {
        GenerationParams params = params(null, 11L, Map.of("tokens", 30));
        Run first = run(fast, params, "");
        String continuation = String.join("", first.deltas().subList(0, 4)) + first.deltas().get(4).substring(0, 2);
        Run second = run(fast, params, continuation);
        assertEquals(first.deltas().get(4).substring(2), second.deltas().getFirst());
        assertEquals(first.text(), continuation + second.text());
    }

    @Test
    void wronglyTypedOptionsAreRejected() {
        for (Map<String, Object> options : List.<Map<String, Object>>of(Map.of("tokens", "abc"),
                Map.of("tokens", 2.5), Map.of("tokens_per_second", 0), Map.of("time_to_first_token_ms", "soon"))) {
            ModelException e = assertThrows(ModelException.class, () -> run(fast, params(null, 1L, options), ""));
            assertEquals("invalid_options", e.code(), options.toString());
            assertFalse(e.retryable());
        }
    }

    @Test
    void wholeDoublesAreAcceptedAsIntegers() throws Exception {
        assertEquals(4, run(fast, params(null, 1L, Map.of("tokens", 4.0)), "").deltas().size());
    }

    @Test
    void interruptingTheGeneratingThreadThrowsQuickly() throws Exception {
        SyntheticModel slow = new SyntheticModel(new SyntheticSettings(Duration.ZERO, 1));
        CountDownLatch firstDelta = new CountDownLatch(1);
        AtomicReference<Throwable> outcome = new AtomicReference<>();
        Thread worker = Thread.ofPlatform().start(() -> {
            try {
                slow.generate(new ChatRequest("synthetic", PROMPT, params(null, 1L, Map.of("tokens", 50)), ""), text -> {
                    firstDelta.countDown();
                    return true;
                });
            } catch (Throwable t) {
                outcome.set(t);
            }
        });
        assertTrue(firstDelta.await(5, TimeUnit.SECONDS));
        long interruptedAt = System.nanoTime();
        worker.interrupt();
        worker.join(Duration.ofSeconds(2));
        assertFalse(worker.isAlive(), "generate did not return within 2 s of the interrupt");
        assertTrue(System.nanoTime() - interruptedAt < TimeUnit.SECONDS.toNanos(2));
        assertInstanceOf(InterruptedException.class, outcome.get());
    }

    @Test
    void pacesDeltasAtTheRequestedRate() throws Exception {
        long start = System.nanoTime();
        Run run = run(fast, params(null, 1L, Map.of("tokens", 20, "tokens_per_second", 200, "time_to_first_token_ms", 0)), "");
        long elapsed = System.nanoTime() - start;
        assertEquals(20, run.deltas().size());
        assertTrue(elapsed >= TimeUnit.MILLISECONDS.toNanos(95), "19 gaps of 5 ms take at least 95 ms, took " + elapsed + " ns");
    }

    @Test
    void settingsDefaultsAndParsing() {
        SyntheticSettings defaults = SyntheticSettings.from(Env.of(Map.of()));
        assertEquals(Duration.ofMillis(150), defaults.timeToFirstToken());
        assertEquals(40.0, defaults.tokensPerSecond());
        SyntheticSettings custom = SyntheticSettings.from(Env.of(Map.of("SYNTHETIC_TTFT_MS", "0",
                "SYNTHETIC_TOKENS_PER_SECOND", "0")));
        assertEquals(Duration.ZERO, custom.timeToFirstToken());
        assertEquals(0.0, custom.tokensPerSecond());
        assertEquals(List.of("SYNTHETIC_TTFT_MS", "SYNTHETIC_TOKENS_PER_SECOND", "SYNTHETIC_MAX_OPTION_TTFT_MS",
                        "SYNTHETIC_MIN_OPTION_TOKENS_PER_SECOND", "SYNTHETIC_MAX_OPTION_TOKENS"),
                SyntheticSettings.SETTINGS.stream().map(s -> s.name()).toList());
        assertEquals(Duration.ofSeconds(10), defaults.maxOptionTtft());
        assertEquals(1.0, defaults.minOptionRate());
        assertEquals(4096, defaults.maxOptionTokens());
    }

    @Test
    void optionsBeyondTheServersBoundsFailTheTurnAtOnce() {
        SyntheticModel bounded = new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0, Duration.ofMillis(500), 2, 100));
        for (Map<String, Object> options : List.<Map<String, Object>>of(
                Map.of("tokens", 101),
                Map.of("tokens", Long.MAX_VALUE / 2),
                Map.of("time_to_first_token_ms", 501),
                Map.of("time_to_first_token_ms", 86_400_000),
                Map.of("tokens_per_second", 1.5),
                Map.of("tokens_per_second", 0.0001))) {
            ModelException e = assertThrows(ModelException.class, () -> run(bounded, params(null, 1L, options), ""));
            assertEquals("invalid_options", e.code(), options.toString());
        }
    }

    @Test
    void optionsAtTheBoundsAreServed() throws Exception {
        SyntheticModel bounded = new SyntheticModel(new SyntheticSettings(Duration.ZERO, 0, Duration.ofMillis(500), 2, 100));
        assertEquals(100, run(bounded, params(null, 1L, Map.of("tokens", 100, "time_to_first_token_ms", 0)), "").deltas().size());
    }
}
