package io.tokenpipe.worker.model;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/**
 * Default pace of the {@link SyntheticModel}; a request can override both through its options
 * ({@code time_to_first_token_ms}, {@code tokens_per_second}), within bounds, so that one request
 * cannot park a worker's lane for hours or fill the stream topic.
 *
 * @param tokensPerSecond    deltas per second; 0 or less means as fast as possible
 * @param maxOptionTtft      the largest {@code time_to_first_token_ms} a request may ask for
 * @param minOptionRate      the slowest {@code tokens_per_second} a request may ask for
 * @param maxOptionTokens    the largest {@code tokens} a request may ask for
 */
public record SyntheticSettings(Duration timeToFirstToken, double tokensPerSecond, Duration maxOptionTtft,
                                double minOptionRate, long maxOptionTokens) {

    public static final Setting TTFT_MS = Setting.of("SYNTHETIC_TTFT_MS", "150",
            "Time to first token of the synthetic generator.");
    public static final Setting TOKENS_PER_SECOND = Setting.of("SYNTHETIC_TOKENS_PER_SECOND", "40",
            "Pace of the synthetic generator in tokens per second; 0 = as fast as possible.");

    public static final Setting MAX_OPTION_TTFT_MS = Setting.of("SYNTHETIC_MAX_OPTION_TTFT_MS", "10000",
            "Largest options.time_to_first_token_ms a turn may ask the synthetic generator for; above it the turn fails with invalid_options.");
    public static final Setting MIN_OPTION_TOKENS_PER_SECOND = Setting.of("SYNTHETIC_MIN_OPTION_TOKENS_PER_SECOND", "1",
            "Slowest options.tokens_per_second a turn may ask the synthetic generator for; below it the turn fails with invalid_options.");
    public static final Setting MAX_OPTION_TOKENS = Setting.of("SYNTHETIC_MAX_OPTION_TOKENS", "4096",
            "Largest options.tokens a turn may ask the synthetic generator for (max_tokens bounds the answer as well).");

    public static final List<Setting> SETTINGS = List.of(TTFT_MS, TOKENS_PER_SECOND, MAX_OPTION_TTFT_MS,
            MIN_OPTION_TOKENS_PER_SECOND, MAX_OPTION_TOKENS);

    /** The pace, with the default bounds on what requests may ask for. */
    public SyntheticSettings(Duration timeToFirstToken, double tokensPerSecond) {
        this(timeToFirstToken, tokensPerSecond, Duration.ofSeconds(10), 1, 4096);
    }

    public SyntheticSettings {
        timeToFirstToken = timeToFirstToken == null || timeToFirstToken.isNegative() ? Duration.ZERO : timeToFirstToken;
    }

    public static SyntheticSettings from(Env env) {
        return new SyntheticSettings(env.millis(TTFT_MS), env.decimal(TOKENS_PER_SECOND), env.millis(MAX_OPTION_TTFT_MS),
                env.decimal(MIN_OPTION_TOKENS_PER_SECOND), env.positiveInteger(MAX_OPTION_TOKENS));
    }
}
