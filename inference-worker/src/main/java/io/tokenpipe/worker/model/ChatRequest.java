package io.tokenpipe.worker.model;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;

import java.util.List;

/**
 * What a model is asked.
 *
 * @param continuation answer text already delivered for this turn (empty for a first attempt)
 */
public record ChatRequest(String model, List<ChatMessage> messages, GenerationParams params, String continuation) {

    public ChatRequest {
        messages = List.copyOf(messages);
        params = params == null ? GenerationParams.DEFAULTS : params;
        continuation = continuation == null ? "" : continuation;
    }
}
