package io.tokenpipe.common.event;

import java.time.Instant;
import java.util.List;

/**
 * A turn accepted by ingest-api, on the prompts topic (keyed by session id).
 *
 * @param clientRequestId the client's Idempotency-Key (or a generated id); unique per session
 * @param requestHash     digest of the request body, to tell a retry from a different request that reuses a key
 */
public record PromptSubmitted(
        int v,
        String sessionId,
        String turnId,
        String clientRequestId,
        String requestHash,
        String model,
        List<ChatMessage> messages,
        GenerationParams params,
        Instant submittedAt) {

    public static final String TYPE = "prompt.submitted";
    public static final int VERSION = 1;

    public PromptSubmitted {
        // Empty where they were sealed (an encrypted session) and the reader has no business opening them: the index.
        messages = messages == null ? List.of() : List.copyOf(messages);
        params = params == null ? GenerationParams.DEFAULTS : params;
    }
}
