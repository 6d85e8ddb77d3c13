package io.tokenpipe.common.event;

/** Token accounting for a turn, as reported by the backend (or counted by the worker when it reports none). */
public record Usage(int promptTokens, int completionTokens, int totalTokens) {

    public static Usage of(int promptTokens, int completionTokens) {
        return new Usage(promptTokens, completionTokens, promptTokens + completionTokens);
    }
}
