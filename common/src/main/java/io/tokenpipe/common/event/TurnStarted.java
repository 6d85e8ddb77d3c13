package io.tokenpipe.common.event;

import java.time.Instant;
import java.util.List;

/**
 * A worker began answering a prompt. Carries the whole request so that the stream alone tells
 * what was asked, and where the prompt came from in Kafka.
 */
public record TurnStarted(
        int v,
        String sessionId,
        String turnId,
        int index,
        int attempt,
        Instant producedAt,
        String workerId,
        String model,
        List<ChatMessage> messages,
        GenerationParams params,
        String clientRequestId,
        Instant submittedAt,
        KafkaRef prompt) implements StreamEvent {

    public static final String TYPE = "turn.started";

    @Override
    public String type() {
        return TYPE;
    }
}
