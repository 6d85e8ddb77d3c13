package io.tokenpipe.worker.turn;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.log.InMemoryLog;
import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.SyntheticModel;
import io.tokenpipe.worker.model.SyntheticSettings;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The turn logic over an in-memory log: what a turn writes, without a broker. */
class TurnRunnerTest {

    private static final SyntheticModel SYNTHETIC = new SyntheticModel(new SyntheticSettings(Duration.ZERO, 10_000));

    private final InMemoryLog log = new InMemoryLog(4);

    @Test
    void aTurnIsStartedStreamsEveryTokenAndEndsOnce() throws Exception {
        PromptSubmitted prompt = prompt(Map.of("tokens", 12), null, List.of());
        runner(SYNTHETIC).run(new TurnJob(prompt, null, log, null), handle());

        List<StreamEvent> events = events(prompt);
        assertEquals(IntStream.rangeClosed(0, 13).boxed().toList(), events.stream().map(StreamEvent::index).toList());
        assertEquals("turn.started", events.getFirst().type());
        assertEquals(12, events.stream().filter(e -> e instanceof TokenChunk).count());
        assertEquals("stop", assertInstanceOf(TurnCompleted.class, events.getLast()).finishReason());
    }

    @Test
    void maxTokensEndsTheTurnWithFinishReasonLength() throws Exception {
        PromptSubmitted prompt = prompt(Map.of("tokens", 50), 7, List.of());
        runner(SYNTHETIC).run(new TurnJob(prompt, null, log, null), handle());

        List<StreamEvent> events = events(prompt);
        assertEquals(7, events.stream().filter(e -> e instanceof TokenChunk).count());
        assertEquals("length", assertInstanceOf(TurnCompleted.class, events.getLast()).finishReason());
    }

    @Test
    void aTakenOverTurnContinuesRightAfterItsLastEventWithTheTextThatFollows() throws Exception {
        PromptSubmitted prompt = prompt(Map.of("tokens", 20), null, List.of());
        runner(SYNTHETIC).run(new TurnJob(prompt, null, log, null), handle());
        List<StreamEvent> whole = events(prompt);

        // What a dead worker left: turn.started and the first 8 of 20 tokens. The new owner writes
        // turn.resumed (9), the other 12 tokens (10..21) and turn.completed (22).
        TurnProgress progress = new TurnProgress(prompt.sessionId(), 0);
        whole.subList(0, 9).forEach(progress::add);
        InMemoryLog after = new InMemoryLog(4);
        runner(SYNTHETIC).run(new TurnJob(prompt, null, after, progress), handle());

        List<StreamEvent> continued = events(after, prompt);
        TurnResumed resumed = assertInstanceOf(TurnResumed.class, continued.getFirst());
        assertEquals(9, resumed.index());
        assertEquals(2, resumed.attempt());
        assertEquals(TurnResumed.REASON_WORKER_TAKEOVER, resumed.reason());
        assertEquals(IntStream.rangeClosed(9, 22).boxed().toList(), continued.stream().map(StreamEvent::index).toList());
        assertEquals(text(whole), text(whole.subList(0, 9)) + text(continued), "no token lost or repeated");
    }

    @Test
    void aModelThatBreaksMidAnswerIsContinuedUnderANewAttempt() throws Exception {
        ChatModel flaky = new ChatModel() {
            private int calls;

            @Override
            public ModelResult generate(io.tokenpipe.worker.model.ChatRequest request,
                                        io.tokenpipe.worker.model.TokenSink sink) throws ModelException, InterruptedException {
                if (calls++ == 0) {
                    sink.accept("Hello");
                    throw new ModelException("upstream_disconnected", "connection reset", true, null, null, true);
                }
                assertEquals("Hello", request.continuation(), "the retry continues the published text");
                sink.accept(" world");
                return new ModelResult("stop", null);
            }
        };
        PromptSubmitted prompt = prompt(Map.of(), null, List.of());
        runner(flaky).run(new TurnJob(prompt, null, log, null), handle());

        List<StreamEvent> events = events(prompt);
        assertEquals(List.of("turn.started", "token", "turn.resumed", "token", "turn.completed"),
                events.stream().map(StreamEvent::type).toList());
        assertEquals(TurnResumed.REASON_UPSTREAM_RETRY, ((TurnResumed) events.get(2)).reason());
        assertEquals("Hello world", text(events));
    }

    @Test
    void aModelThatFailsBeforeItsFirstTokenEndsTheTurnWithItsCode() throws Exception {
        ChatModel refusing = (request, sink) -> {
            throw new ModelException("upstream_auth", "401", false);
        };
        PromptSubmitted prompt = prompt(Map.of(), null, List.of());
        runner(refusing).run(new TurnJob(prompt, null, log, null), handle());

        TurnFailed failed = assertInstanceOf(TurnFailed.class, events(prompt).getLast());
        assertEquals("upstream_auth", failed.error().code());
    }

    @Test
    void aTurnCancelledBeforeItStartsEndsAsCancelledWithoutCallingTheModel() throws Exception {
        ChatModel mustNotRun = (request, sink) -> {
            throw new AssertionError("the model was called");
        };
        PromptSubmitted prompt = prompt(Map.of(), null, List.of());
        Cancellations cancellations = new Cancellations();
        cancellations.requested(prompt.turnId());
        TurnHandle handle = cancellations.begin(prompt.turnId());
        try {
            runner(mustNotRun).run(new TurnJob(prompt, null, log, null), handle);
        } finally {
            cancellations.end(prompt.turnId(), handle);
        }

        List<StreamEvent> events = events(prompt);
        assertEquals(List.of("turn.started", "turn.completed"), events.stream().map(StreamEvent::type).toList());
        assertEquals("cancelled", ((TurnCompleted) events.getLast()).finishReason());
    }

    @Test
    void theTurnsEventsGetIncreasingOffsetsInTheSessionsPartition() throws Exception {
        PromptSubmitted prompt = prompt(Map.of("tokens", 5), null, List.of());
        runner(SYNTHETIC).run(new TurnJob(prompt, null, log, null), handle());

        List<LogEvent> stored = log.read(log.partitionOf(prompt.sessionId()), prompt.sessionId(), 0, Long.MAX_VALUE, 100).events();
        for (int i = 1; i < stored.size(); i++) {
            assertTrue(stored.get(i).offset() > stored.get(i - 1).offset());
        }
    }

    @Test
    void aLongChunkGoesOutInPiecesWithoutSplittingACharacter() throws Exception {
        String chunk = "a".repeat(TurnRunner.MAX_CHUNK_CHARS - 1) + "\uD83D\uDE00" + "b".repeat(TurnRunner.MAX_CHUNK_CHARS);
        ChatModel oneBigChunk = (request, sink) -> {
            sink.accept(chunk);
            return new ModelResult("stop", null);
        };
        PromptSubmitted prompt = prompt(Map.of(), null, List.of());
        runner(oneBigChunk).run(new TurnJob(prompt, null, log, null), handle());

        List<StreamEvent> events = events(prompt);
        List<String> pieces = events.stream().filter(e -> e instanceof TokenChunk).map(e -> ((TokenChunk) e).text()).toList();
        assertEquals(3, pieces.size(), "pieces of at most " + TurnRunner.MAX_CHUNK_CHARS + " characters");
        assertEquals(chunk, String.join("", pieces));
        assertTrue(pieces.stream().noneMatch(p -> Character.isHighSurrogate(p.charAt(p.length() - 1))), "no character cut in two");
        assertEquals(IntStream.range(0, events.size()).boxed().toList(), events.stream().map(StreamEvent::index).toList());
    }

    private static TurnRunner runner(ChatModel model) {
        return new TurnRunner(new ModelRegistry(Map.of("synthetic", model)), "w1", Clock.systemUTC(), 2);
    }

    private static TurnHandle handle() {
        return new Cancellations().begin("unrelated");
    }

    private static PromptSubmitted prompt(Map<String, Object> options, Integer maxTokens, List<String> stop) {
        String session = "s_" + System.nanoTime();
        return new PromptSubmitted(PromptSubmitted.VERSION, session, "t_1", "r_1", "h", "synthetic",
                List.of(ChatMessage.user("tell me")), new GenerationParams(maxTokens, null, stop, 7L, options),
                Instant.now());
    }

    private List<StreamEvent> events(PromptSubmitted prompt) {
        return events(log, prompt);
    }

    private static List<StreamEvent> events(InMemoryLog log, PromptSubmitted prompt) {
        return log.read(log.partitionOf(prompt.sessionId()), prompt.sessionId(), 0, Long.MAX_VALUE, 10_000).events()
                .stream().map(e -> Json.read(e.json(), StreamEvent.class)).toList();
    }

    private static String text(List<StreamEvent> events) {
        StringBuilder text = new StringBuilder();
        events.forEach(e -> {
            if (e instanceof TokenChunk chunk) {
                text.append(chunk.text());
            }
        });
        return text.toString();
    }
}
