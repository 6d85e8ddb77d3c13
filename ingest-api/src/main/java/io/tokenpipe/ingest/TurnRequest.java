package io.tokenpipe.ingest;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;

import java.util.List;

/** A validated request to add a turn to a session. */
public record TurnRequest(String model, List<ChatMessage> messages, GenerationParams params, String clientRequestId) {

    /** What decides whether two requests are "the same request" for idempotency. */
    record Fingerprint(String model, List<ChatMessage> messages, GenerationParams params) {
    }

    Fingerprint fingerprint() {
        return new Fingerprint(model, messages, params);
    }
}
