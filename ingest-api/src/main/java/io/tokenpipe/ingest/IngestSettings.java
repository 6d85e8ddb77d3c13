package io.tokenpipe.ingest;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/** What ingest-api accepts. */
public record IngestSettings(
        int httpPort,
        int promptMaxBytes,
        int maxTokensLimit,
        String defaultModel,
        List<String> allowedModels,
        int maxTurnsPerSession,
        String streamBaseUrl,
        Duration kafkaWriteTimeout,
        List<String> corsOrigins) {

    public static final Setting HTTP_PORT = Setting.of("INGEST_HTTP_PORT", "8081", "HTTP port of ingest-api.");
    public static final Setting PROMPT_MAX_BYTES = Setting.of("PROMPT_MAX_BYTES", "32768",
            "Largest prompt accepted: total UTF-8 bytes of all message contents. Larger prompts get 413.");
    public static final Setting MAX_TOKENS_LIMIT = Setting.of("MAX_TOKENS_LIMIT", "4096",
            "Largest max_tokens a turn may ask for.");
    public static final Setting DEFAULT_MODEL = Setting.of("DEFAULT_MODEL", "synthetic",
            "Model used when a turn names none.");
    public static final Setting ALLOWED_MODELS = Setting.of("ALLOWED_MODELS", "",
            "Comma-separated model names a turn may ask for; empty accepts any (the worker fails turns for models it cannot serve).");
    public static final Setting MAX_TURNS_PER_SESSION = Setting.of("MAX_TURNS_PER_SESSION", "1000",
            "Turns one session may hold; further turns get 409.");
    public static final Setting STREAM_BASE_URL = Setting.of("STREAM_BASE_URL", "",
            "Public base URL of delivery-sse, used in the events_url and transcript_url of responses; empty gives paths relative to this host.");
    public static final Setting KAFKA_WRITE_TIMEOUT_MS = Setting.of("INGEST_KAFKA_WRITE_TIMEOUT_MS", "10000",
            "How long a request waits for Kafka to acknowledge its write before answering 503.");
    public static final Setting CORS_ORIGINS = Setting.of("CORS_ORIGINS", "",
            "Comma-separated origins allowed to call the HTTP API from a browser (e.g. the web page's origin when it is served by another node); empty allows none; * allows any (credentials are still required).");

    public static final List<Setting> SETTINGS = List.of(HTTP_PORT, PROMPT_MAX_BYTES, MAX_TOKENS_LIMIT, DEFAULT_MODEL,
            ALLOWED_MODELS, MAX_TURNS_PER_SESSION, STREAM_BASE_URL, KAFKA_WRITE_TIMEOUT_MS, CORS_ORIGINS);

    /**
     * What decides whether a turn is accepted and how it is written: read also by delivery-sse, whose
     * {@code POST /v1/chat/completions} submits turns.
     */
    public static final List<Setting> TURN_SETTINGS = List.of(PROMPT_MAX_BYTES, MAX_TOKENS_LIMIT, DEFAULT_MODEL,
            ALLOWED_MODELS, MAX_TURNS_PER_SESSION, KAFKA_WRITE_TIMEOUT_MS);

    public static IngestSettings from(Env env) {
        return new IngestSettings(env.integer(HTTP_PORT), env.positiveInteger(PROMPT_MAX_BYTES),
                env.positiveInteger(MAX_TOKENS_LIMIT), env.required(DEFAULT_MODEL), env.list(ALLOWED_MODELS),
                env.positiveInteger(MAX_TURNS_PER_SESSION), env.string(STREAM_BASE_URL),
                env.millis(KAFKA_WRITE_TIMEOUT_MS), env.list(CORS_ORIGINS));
    }

    /** The largest request body: generous for JSON around a prompt at the limit, but bounded. */
    public long maxRequestBytes() {
        return promptMaxBytes * 4L + 64 * 1024;
    }
}
