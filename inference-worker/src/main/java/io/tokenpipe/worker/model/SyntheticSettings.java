package io.tokenpipe.worker.model;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/**
 * Default pace of the {@link SyntheticModel}; a request can override both through its options
 * ({@code time_to_first_token_ms}, {@code tokens_per_second}).
 *
 * @param tokensPerSecond deltas per second; 0 or less means as fast as possible
 */
public record SyntheticSettings(Duration timeToFirstToken, double tokensPerSecond) {

    public static final Setting TTFT_MS = Setting.of("SYNTHETIC_TTFT_MS", "150",
            "Time to first token of the synthetic generator.");
    public static final Setting TOKENS_PER_SECOND = Setting.of("SYNTHETIC_TOKENS_PER_SECOND", "40",
            "Pace of the synthetic generator in tokens per second; 0 = as fast as possible.");

    public static final List<Setting> SETTINGS = List.of(TTFT_MS, TOKENS_PER_SECOND);

    public SyntheticSettings {
        timeToFirstToken = timeToFirstToken == null || timeToFirstToken.isNegative() ? Duration.ZERO : timeToFirstToken;
    }

    public static SyntheticSettings from(Env env) {
        return new SyntheticSettings(env.millis(TTFT_MS), env.decimal(TOKENS_PER_SECOND));
    }
}
