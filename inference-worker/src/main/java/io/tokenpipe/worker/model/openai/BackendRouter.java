package io.tokenpipe.worker.model.openai;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelRegistry;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.TokenSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongUnaryOperator;

/**
 * The OpenAI-compatible backends of a worker, as one {@link ChatModel}: picks the backend serving
 * the model a turn asked for, retries it while nothing has been delivered yet, then tries its
 * fallback chain.
 *
 * <ul>
 *   <li><b>Choice.</b> The first backend (in {@code MODEL_BACKENDS} order) that lists the model by
 *       name, else the first that lists {@code *}.</li>
 *   <li><b>Before the first token</b> a retryable failure ({@code upstream_unreachable},
 *       {@code upstream_timeout} except the turn timeout, {@code rate_limited}, {@code upstream_error},
 *       {@code upstream_disconnected}) is retried up to {@code MAX_RETRIES} times, after an exponential
 *       back-off with full jitter ({@code random(0, min(RETRY_MAX_MS, RETRY_BASE_MS * 2^(n-1)))}), and
 *       never sooner than a {@code Retry-After} says; a retry that could not start before the turn
 *       timeout is not made. Other failures (401, 400, ...) are not retried.</li>
 *   <li><b>Fallback.</b> If the backend still fails before its first token, whatever the reason, its
 *       {@code FALLBACK} is tried with its own retries, and so on down the chain; a backend already
 *       tried is not tried again, so chains that loop end. The last failure is thrown.</li>
 *   <li><b>After the first token</b> nothing is retried: the failure is rethrown with
 *       {@link ModelException#afterFirstToken()} set, and the caller resumes the turn (with a
 *       continuation) if it is {@link ModelException#retryable()}.</li>
 *   <li><b>Continuation.</b> A chain continues answers only if every backend in it uses
 *       {@code prefill} ({@link #continuesAnswers(String)}); otherwise the continuation is dropped for
 *       every backend of the chain, so a resumed turn is always a whole new answer.</li>
 * </ul>
 * Thread-safe.
 */
public final class BackendRouter implements ChatModel, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(BackendRouter.class);

    /** The name of the built-in generator in a {@link #registry(ChatModel) registry}. */
    public static final String SYNTHETIC = "synthetic";

    /** Waits between retries; tests substitute one that records instead of waiting. */
    @FunctionalInterface
    public interface Sleeper {
        Sleeper REAL = Thread::sleep;

        void sleep(Duration duration) throws InterruptedException;
    }

    private final Map<String, OpenAiChatModel> backends;
    private final Sleeper sleeper;
    private final LongUnaryOperator jitter;

    /** Backends in priority order, waiting for real between retries. */
    public BackendRouter(List<OpenAiChatModel> backends) {
        this(backends, Sleeper.REAL);
    }

    public BackendRouter(List<OpenAiChatModel> backends, Sleeper sleeper) {
        this(backends, sleeper, bound -> ThreadLocalRandom.current().nextLong(bound + 1));
    }

    /**
     * @param jitter given the back-off cap in milliseconds, the back-off to use (0..cap)
     */
    BackendRouter(List<OpenAiChatModel> backends, Sleeper sleeper, LongUnaryOperator jitter) {
        Map<String, OpenAiChatModel> byName = new LinkedHashMap<>();
        for (OpenAiChatModel backend : backends) {
            if (byName.putIfAbsent(backend.name(), backend) != null) {
                throw new IllegalArgumentException("two backends are named " + backend.name());
            }
        }
        for (OpenAiChatModel backend : backends) {
            String fallback = backend.settings().fallback();
            if (fallback != null && !byName.containsKey(fallback)) {
                throw new IllegalArgumentException("backend " + backend.name() + " falls back to " + fallback
                        + ", which is not one of " + byName.keySet());
            }
        }
        this.backends = Collections.unmodifiableMap(byName);
        this.sleeper = sleeper;
        this.jitter = jitter;
    }

    /** The backends {@code MODEL_BACKENDS} enables, or empty when it enables none. */
    public static Optional<BackendRouter> fromEnv(Env env) {
        List<BackendSettings> settings = BackendSettings.fromEnv(env);
        if (settings.isEmpty()) {
            return Optional.empty();
        }
        BackendRouter router = new BackendRouter(settings.stream().map(OpenAiChatModel::new).toList());
        settings.forEach(s -> log.info("model backend {}: {} serves {}{}{}", s.name(), s.displayUrl(), s.models(),
                s.upstreamModel() == null ? "" : " as " + s.upstreamModel(),
                s.fallback() == null ? "" : ", falls back to " + s.fallback()));
        return Optional.of(router);
    }

    /**
     * Every model a worker serves: {@value #SYNTHETIC} → {@code synthetic}, and each model name the
     * backends {@code MODEL_BACKENDS} enables list → a router over them (a backend's {@code *} is the
     * registry key {@code "*"}: see {@link #registry(ChatModel)}).
     */
    public static ModelRegistry registry(Env env, ChatModel synthetic) {
        return fromEnv(env).map(router -> router.registry(synthetic))
                .orElseGet(() -> new ModelRegistry(Map.of(SYNTHETIC, synthetic)));
    }

    /**
     * {@value #SYNTHETIC} → {@code synthetic}, and every model name a backend lists → this router.
     * When a backend lists {@code *}, the registry has the key {@code "*"}: a registry lookup should
     * fall back to it for names it does not know.
     */
    public ModelRegistry registry(ChatModel synthetic) {
        Map<String, ChatModel> models = new LinkedHashMap<>();
        for (String model : modelNames()) {
            if (model.equals(SYNTHETIC)) {
                log.warn("a model backend lists '{}'; that name stays with the built-in synthetic model", SYNTHETIC);
                continue;
            }
            models.put(model, this);
        }
        models.put(SYNTHETIC, synthetic);
        return new ModelRegistry(models);
    }

    /** The model names the backends list (including {@code *} if one does), in order. */
    public Set<String> modelNames() {
        Set<String> names = new LinkedHashSet<>();
        backends.values().forEach(b -> names.addAll(b.settings().models()));
        return Collections.unmodifiableSet(names);
    }

    public Map<String, OpenAiChatModel> backends() {
        return backends;
    }

    /** Whether some backend serves {@code model}, by name or through {@code *}. */
    public boolean serves(String model) {
        return primary(model).isPresent();
    }

    /** The backend chosen for {@code model}: the first listing it by name, else the first listing {@code *}. */
    public Optional<OpenAiChatModel> primary(String model) {
        for (OpenAiChatModel backend : backends.values()) {
            if (backend.settings().servesByName(model)) {
                return Optional.of(backend);
            }
        }
        return backends.values().stream().filter(b -> b.settings().serves(model)).findFirst();
    }

    /** The backends a request for {@code model} may use, in order: the chosen one and its fallbacks. */
    public List<OpenAiChatModel> chain(String model) {
        List<OpenAiChatModel> chain = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        OpenAiChatModel next = primary(model).orElse(null);
        while (next != null && seen.add(next.name())) {
            chain.add(next);
            String fallback = next.settings().fallback();
            next = fallback == null ? null : backends.get(fallback);
        }
        return chain;
    }

    /**
     * Whether a resumed turn for {@code model} continues the text already delivered (every backend of
     * its chain uses {@code prefill}); if not, the new attempt's text replaces it and clients must be
     * told to discard the partial answer.
     */
    @Override
    public boolean continuesAnswers(String model) {
        return chain(model).stream().allMatch(OpenAiChatModel::continuesAnswers);
    }

    @Override
    public ModelResult generate(ChatRequest request, TokenSink sink) throws ModelException, InterruptedException {
        List<OpenAiChatModel> chain = chain(request.model());
        if (chain.isEmpty()) {
            throw new ModelException("unknown_model", "no model backend serves '" + request.model() + "'", false);
        }
        ChatRequest effective = continuesAnswers(request.model()) || request.continuation().isEmpty() ? request
                : new ChatRequest(request.model(), request.messages(), request.params(), "");
        DeliveryTracker tracker = new DeliveryTracker(sink);
        long start = System.nanoTime();
        ModelException last = null;
        for (int i = 0; i < chain.size(); i++) {
            OpenAiChatModel backend = chain.get(i);
            if (i > 0) {
                log.info("model {}: backend {} failed before its first token ({}); falling back to backend {}",
                        request.model(), chain.get(i - 1).name(), last.code(), backend.name());
            }
            try {
                return withRetries(backend, effective, tracker, start + backend.settings().turnTimeout().toNanos());
            } catch (ModelException e) {
                if (e.afterFirstToken()) {
                    throw e;
                }
                last = e;
            }
        }
        throw last;
    }

    private ModelResult withRetries(OpenAiChatModel backend, ChatRequest request, DeliveryTracker tracker,
                                    long deadline) throws ModelException, InterruptedException {
        BackendSettings settings = backend.settings();
        for (int attempt = 1; ; attempt++) {
            try {
                return backend.generate(request, tracker, deadline);
            } catch (ModelException e) {
                if (tracker.delivered || e.afterFirstToken()) {
                    throw e.withAfterFirstToken(true); // the caller resumes the turn; no blind retry
                }
                if (!e.retryable() || attempt > settings.maxRetries()) {
                    throw e;
                }
                Duration delay = backoff(settings, attempt);
                if (e.retryAfter() != null && e.retryAfter().compareTo(delay) > 0) {
                    delay = e.retryAfter();
                }
                if (System.nanoTime() + delay.toNanos() - deadline >= 0) {
                    log.info("backend {}: attempt {} failed with {}; no retry: the next could not start within the turn "
                            + "timeout", settings.name(), attempt, e.code());
                    throw e;
                }
                log.info("backend {}: attempt {} of {} failed with {}; retrying in {} ms", settings.name(), attempt,
                        settings.maxRetries() + 1, e.code(), delay.toMillis());
                sleeper.sleep(delay);
            }
        }
    }

    /** Full jitter: uniformly 0..min(max, base * 2^(retry-1)). */
    Duration backoff(BackendSettings settings, int retry) {
        long base = settings.retryBase().toMillis();
        long max = settings.retryMax().toMillis();
        long cap = base;
        for (int i = 1; i < retry && cap < max; i++) {
            cap = cap * 2;
        }
        cap = Math.min(cap, max);
        return Duration.ofMillis(Math.max(0, Math.min(cap, jitter.applyAsLong(cap))));
    }

    @Override
    public void close() {
        backends.values().forEach(OpenAiChatModel::close);
    }

    /** Remembers whether any text went through, to tell a retryable start-up failure from a mid-answer one. */
    private static final class DeliveryTracker implements TokenSink {
        private final TokenSink downstream;
        private volatile boolean delivered;

        DeliveryTracker(TokenSink downstream) {
            this.downstream = downstream;
        }

        @Override
        public boolean accept(String text) throws InterruptedException {
            delivered = true;
            return downstream.accept(text);
        }

        @Override
        public boolean reasoning(String text) throws InterruptedException {
            delivered = true; // written to the log: another backend must not start the turn afresh
            return downstream.reasoning(text);
        }
    }
}
