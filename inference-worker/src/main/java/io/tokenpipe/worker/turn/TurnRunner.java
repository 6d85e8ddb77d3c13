package io.tokenpipe.worker.turn;

import io.tokenpipe.common.event.ErrorInfo;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.worker.kafka.WriterClosedException;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.ModelResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.Optional;

/**
 * Answers one prompt: announces the turn, streams the model's text through the stop-sequence filter
 * and the max-tokens limit (the same for every backend), and ends the turn with exactly one final
 * event. If the worker is stopping, the turn ends without a final event and is continued by the
 * partition's next owner.
 */
public final class TurnRunner {

    private static final Logger log = LoggerFactory.getLogger(TurnRunner.class);

    private final ModelRegistry models;
    private final String workerId;
    private final Clock clock;

    public TurnRunner(ModelRegistry models, String workerId, Clock clock) {
        this.models = models;
        this.workerId = workerId;
        this.clock = clock;
    }

    /**
     * @throws InterruptedException the worker is handing the turn over: nothing more was written
     */
    public void run(TurnJob job) throws InterruptedException {
        Turn turn = new Turn(job);
        turn.begin();
        Optional<ChatModel> model = models.find(job.prompt().model());
        if (model.isEmpty()) {
            turn.fail("unknown_model", "model '" + job.prompt().model() + "' is not served by this worker; it serves "
                    + models.names());
            return;
        }
        PromptSubmitted prompt = job.prompt();
        Integer maxTokens = prompt.params().maxTokens();
        StopSequenceFilter filter = new StopSequenceFilter(prompt.params().stop(), text -> {
            turn.token(text);
            return maxTokens == null || turn.tokens < maxTokens;
        });
        ChatRequest request = new ChatRequest(prompt.model(), prompt.messages(), prompt.params(), turn.publishedText());
        ModelResult result;
        try {
            result = model.get().generate(request, filter);
        } catch (ModelException e) {
            turn.fail(e.code(), e.getMessage());
            return;
        } catch (WriterClosedException e) {
            throw e; // handed over or fenced: the turn is no longer ours to end
        } catch (RuntimeException e) {
            log.error("model {} failed on turn {}", prompt.model(), prompt.turnId(), e);
            turn.fail("internal_error", "the model backend failed unexpectedly");
            return;
        }
        boolean lengthReached = maxTokens != null && turn.tokens >= maxTokens;
        if (!filter.stopped() && !lengthReached) {
            filter.flush();
        }
        String finish = filter.stopped() ? "stop" : lengthReached ? "length" : result.finishReason();
        Usage usage = result.usage() != null ? result.usage() : Usage.of(0, turn.tokens);
        turn.complete(finish, usage);
    }

    /** The events of one turn, numbered in order. */
    private final class Turn {
        private final TurnJob job;
        private final PromptSubmitted prompt;
        private final long promptOffset;
        private final int attempt;
        private int index;
        private int tokens;

        Turn(TurnJob job) {
            this.job = job;
            this.prompt = job.prompt();
            this.promptOffset = job.promptRef().offset();
            if (job.resume() == null) {
                this.attempt = 1;
                this.index = -1;
            } else {
                this.attempt = job.resume().attempt() + 1;
                this.index = job.resume().lastIndex();
                this.tokens = job.resume().tokens();
            }
        }

        String publishedText() {
            return job.resume() == null ? "" : job.resume().text();
        }

        void begin() throws InterruptedException {
            if (job.resume() == null) {
                write(new TurnStarted(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), ++index, attempt,
                        clock.instant(), workerId, prompt.model(), prompt.messages(), prompt.params(),
                        prompt.clientRequestId(), prompt.submittedAt(), job.promptRef()));
            } else {
                write(new TurnResumed(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), ++index, attempt,
                        clock.instant(), TurnResumed.REASON_WORKER_TAKEOVER, workerId, publishedText().length()));
            }
        }

        void token(String text) throws InterruptedException {
            tokens++;
            write(new TokenChunk(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), ++index, attempt,
                    clock.instant(), text));
        }

        void complete(String finishReason, Usage usage) throws InterruptedException {
            job.writer().finish(new TurnCompleted(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), ++index,
                    attempt, clock.instant(), finishReason, usage), promptOffset);
        }

        void fail(String code, String message) throws InterruptedException {
            job.writer().finish(new TurnFailed(StreamEvent.VERSION, prompt.sessionId(), prompt.turnId(), ++index,
                    attempt, clock.instant(), new ErrorInfo(code, message)), promptOffset);
        }

        private void write(StreamEvent event) throws InterruptedException {
            job.writer().write(event, promptOffset);
        }
    }
}
