package io.tokenpipe.worker.turn;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.tokenpipe.common.event.ErrorInfo;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.log.OutputClosedException;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.ModelResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Answers one prompt: announces the turn, streams the model's text through the stop-sequence filter
 * and the max-tokens limit (the same for every backend), and ends the turn with exactly one final
 * event. When the model's connection breaks mid-answer it continues the answer under a new attempt
 * ({@code turn.resumed}). When the worker is stopping, the turn ends without a final event and is
 * continued by the partition's next owner.
 */
public final class TurnRunner {

    private static final Logger log = LoggerFactory.getLogger(TurnRunner.class);
    private static final Timer TIME_TO_FIRST_TOKEN = Metrics.latency(Metrics.TIME_TO_FIRST_TOKEN,
            "Prompt submitted (ingest's clock) to its first token produced (the worker's clock)");
    private static final Timer INTER_TOKEN_GAP = Metrics.latency(Metrics.INTER_TOKEN_GAP,
            "Time between two consecutive tokens of a turn, at the worker");
    private static final Counter TOKENS = Metrics.counter(Metrics.TOKENS, "Token chunks produced by workers");
    static final String INTERNAL_ERROR = "internal_error";
    /**
     * The longest text one token event carries. A backend may hand over a whole answer at once (a
     * non-streaming answer can be 16 MiB); longer text goes out as several events, so that no event
     * comes near the broker's record limit (1 MiB by default), even with every character escaped.
     */
    static final int MAX_CHUNK_CHARS = 64 * 1024;

    private final ModelRegistry models;
    private final String workerId;
    private final Clock clock;
    private final int upstreamResumes;

    /** @param upstreamResumes how many times a turn may be continued after its model failed mid-answer */
    public TurnRunner(ModelRegistry models, String workerId, Clock clock, int upstreamResumes) {
        this.models = models;
        this.workerId = workerId;
        this.clock = clock;
        this.upstreamResumes = upstreamResumes;
    }

    /**
     * @throws InterruptedException the worker is handing the turn over: nothing more was written
     */
    public void run(TurnJob job, TurnHandle handle) throws InterruptedException {
        Turn turn = new Turn(job);
        try {
            answer(turn, handle);
        } catch (OutputClosedException e) {
            throw e; // handed over or fenced: the turn is no longer ours to end
        } catch (RuntimeException e) {
            // A bug or an event the log refuses: the README promises that a turn always ends, and its
            // prompt must be done for the committed position to move on.
            log.error("turn {} of session {} failed unexpectedly after index {}", job.prompt().turnId(),
                    job.prompt().sessionId(), turn.index, e);
            turn.fail(INTERNAL_ERROR, "the worker failed unexpectedly while answering");
        }
    }

    private void answer(Turn turn, TurnHandle handle) throws InterruptedException {
        TurnJob job = turn.job;
        PromptSubmitted prompt = job.prompt();
        Optional<ChatModel> model = models.find(prompt.model());
        boolean continues = model.map(m -> m.continuesAnswers(prompt.model())).orElse(true);
        try {
            turn.begin(continues);
            if (handle.cancelled()) {
                throw new InterruptedException("cancelled before it started");
            }
            if (model.isEmpty()) {
                turn.fail("unknown_model", "model '" + prompt.model() + "' is not served by this worker; it serves "
                        + models.names());
                return;
            }
            generate(turn, model.get(), continues);
        } catch (InterruptedException e) {
            if (!handle.cancelled()) {
                throw e;
            }
            Thread.interrupted();
            if (!turn.begun) {
                turn.begin(continues);
            }
            log.info("turn {} of session {} cancelled after {} tokens", prompt.turnId(), prompt.sessionId(), turn.tokens);
            turn.complete("cancelled", Usage.of(0, turn.tokens));
        }
    }

    private void generate(Turn turn, ChatModel model, boolean continues) throws InterruptedException {
        PromptSubmitted prompt = turn.prompt;
        Integer maxTokens = prompt.params().maxTokens();
        int resumes = 0;
        while (true) {
            int tokensBefore = turn.tokens;
            StopSequenceFilter filter = new StopSequenceFilter(prompt.params().stop(), text -> {
                turn.token(text);
                return maxTokens == null || turn.tokens < maxTokens;
            });
            ChatRequest request = new ChatRequest(prompt.model(), prompt.messages(), prompt.params(),
                    continues ? turn.text.toString() : "");
            ModelResult result;
            try {
                result = model.generate(request, filter);
            } catch (ModelException e) {
                boolean midAnswer = e.afterFirstToken() || turn.tokens > tokensBefore;
                if (e.retryable() && midAnswer && resumes < upstreamResumes) {
                    resumes++;
                    log.info("turn {}: model failed mid-answer ({}); continuing, attempt {}", prompt.turnId(), e.code(),
                            turn.attempt + 1);
                    turn.resume(io.tokenpipe.common.event.TurnResumed.REASON_UPSTREAM_RETRY, continues);
                    continue;
                }
                turn.fail(e.code(), e.getMessage());
                return;
            } catch (OutputClosedException e) {
                throw e; // handed over or fenced: the turn is no longer ours to end
            } catch (RuntimeException e) {
                log.error("model {} failed on turn {}", prompt.model(), prompt.turnId(), e);
                turn.fail(INTERNAL_ERROR, "the model backend failed unexpectedly");
                return;
            }
            boolean lengthReached = maxTokens != null && turn.tokens >= maxTokens;
            if (!filter.stopped() && !lengthReached) {
                filter.flush();
            }
            String finish = filter.stopped() ? "stop" : lengthReached ? "length" : result.finishReason();
            Usage usage = result.usage() != null ? result.usage() : Usage.of(0, turn.tokens);
            turn.complete(finish, usage);
            return;
        }
    }

    /** The events of one turn, numbered in order, and the answer text they carry. */
    private final class Turn {
        private final TurnJob job;
        private final PromptSubmitted prompt;
        private final StringBuilder text = new StringBuilder();
        private int attempt;
        private int index;
        private int tokens;
        private boolean begun;
        private long lastTokenNanos; // 0 until this attempt's first token

        Turn(TurnJob job) {
            this.job = job;
            this.prompt = job.prompt();
            if (job.resume() == null) {
                this.attempt = 0;
                this.index = -1;
            } else {
                this.attempt = job.resume().attempt();
                this.index = job.resume().lastIndex();
                this.tokens = job.resume().tokens();
                this.text.append(job.resume().text());
            }
        }

        /** turn.started for a new turn; turn.resumed for one taken over from another worker. */
        void begin(boolean continues) throws InterruptedException {
            if (job.resume() == null) {
                attempt = 1;
                write(new TurnStarted(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), index + 1, attempt,
                        clock.instant(), workerId, prompt.model(), prompt.messages(), prompt.params(),
                        prompt.clientRequestId(), prompt.submittedAt(), job.promptRef()));
            } else {
                resume(TurnResumed.REASON_WORKER_TAKEOVER, continues);
            }
            begun = true;
        }

        void resume(String reason, boolean continues) throws InterruptedException {
            attempt++;
            lastTokenNanos = 0; // a gap across a failure is not an inter-token gap
            write(new TurnResumed(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), index + 1, attempt,
                    clock.instant(), reason, workerId, text.length(), !continues));
            if (!continues) {
                // The backend answers from the start again; clients were told to discard the text.
                text.setLength(0);
                tokens = 0;
            }
        }

        void token(String chunk) throws InterruptedException {
            tokens++;
            text.append(chunk);
            Instant now = clock.instant();
            for (int from = 0; from < chunk.length(); ) {
                int to = Math.min(chunk.length(), from + MAX_CHUNK_CHARS);
                if (to < chunk.length() && Character.isHighSurrogate(chunk.charAt(to - 1))) {
                    to--; // never split a character in two
                }
                write(new TokenChunk(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), index + 1, attempt,
                        now, chunk.substring(from, to)));
                from = to;
            }
            long nanos = System.nanoTime();
            if (lastTokenNanos != 0) {
                INTER_TOKEN_GAP.record(nanos - lastTokenNanos, TimeUnit.NANOSECONDS);
            } else if (tokens == 1 && job.resume() == null && prompt.submittedAt() != null) {
                TIME_TO_FIRST_TOKEN.record(Duration.between(prompt.submittedAt(), now));
            }
            lastTokenNanos = nanos;
            TOKENS.increment();
        }

        void complete(String finishReason, Usage usage) throws InterruptedException {
            job.output().finish(new TurnCompleted(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), index + 1,
                    attempt, clock.instant(), finishReason, usage));
            ended(finishReason);
        }

        void fail(String code, String message) throws InterruptedException {
            job.output().finish(new TurnFailed(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), index + 1,
                    Math.max(attempt, 1), clock.instant(), new ErrorInfo(code, message)));
            ended(code);
        }

        private void ended(String outcome) {
            Metrics.counter(Metrics.TURNS, "Turns ended by workers, by outcome (finish reason or error code)",
                    "outcome", outcome == null ? "unknown" : outcome).increment();
        }

        /** Indexes advance only for events the output took, so that they stay contiguous whatever fails. */
        private void write(StreamEvent event) throws InterruptedException {
            job.output().write(event);
            index = event.index();
        }
    }
}
