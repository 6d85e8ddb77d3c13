package io.tokenpipe.common.event;

import java.util.List;
import java.util.Map;

/**
 * How a turn should be generated. {@code null} means "the backend's default".
 *
 * @param maxTokens   upper bound on generated token chunks
 * @param temperature sampling temperature, 0..2
 * @param stop        stop sequences; generation ends before the first match, which is not emitted
 * @param seed        makes sampling repeatable where the backend supports it
 * @param options     backend-specific knobs passed through untouched (e.g. the synthetic model's pace)
 */
public record GenerationParams(
        Integer maxTokens,
        Double temperature,
        List<String> stop,
        Long seed,
        Map<String, Object> options) {

    public static final GenerationParams DEFAULTS = new GenerationParams(null, null, List.of(), null, Map.of());

    public GenerationParams {
        stop = stop == null ? List.of() : List.copyOf(stop);
        options = options == null ? Map.of() : Map.copyOf(options);
    }
}
