package io.tokenpipe.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;

/**
 * Follows one turn through its session's events, for the OpenAI views of it: what was asked (model,
 * when), the text so far, how it ended. Events of other turns are ignored.
 */
final class TurnEvents {

    private final String turnId;
    private final StringBuilder text = new StringBuilder();
    private long created = Instant.now().getEpochSecond();
    private String model = "";
    private String finishReason;
    private JsonNode usage;
    private JsonNode error;
    private boolean ended;

    TurnEvents(String turnId) {
        this.turnId = turnId;
    }

    /** The event's JSON if it belongs to this turn (and updates what is known of it), else {@code null}. */
    JsonNode accept(LogEvent event) {
        if (event.type() == null || ended) {
            return null;
        }
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(event.json());
        } catch (IOException e) {
            throw new UncheckedIOException("unreadable stream event at " + event.offset(), e);
        }
        if (!turnId.equals(node.path("turn_id").asText())) {
            return null;
        }
        switch (event.type()) {
            case TurnStarted.TYPE -> {
                model = node.path("model").asText("");
                // Every chunk of a completion carries the same creation time: the prompt's submission.
                JsonNode submitted = node.get("submitted_at");
                if (submitted != null && submitted.isTextual()) {
                    created = Instant.parse(submitted.asText()).getEpochSecond();
                }
            }
            case TokenChunk.TYPE -> text.append(node.path("text").asText(""));
            case TurnCompleted.TYPE -> {
                finishReason = node.path("finish_reason").asText("stop");
                usage = node.get("usage");
                ended = true;
            }
            case TurnFailed.TYPE -> {
                error = node.get("error");
                ended = true;
            }
            default -> {
                if (node.path("restart").asBoolean(false)) {
                    text.setLength(0); // the answer starts over (see docs/events.md, turn.resumed)
                }
            }
        }
        return node;
    }

    long created() {
        return created;
    }

    String model() {
        return model;
    }

    String text() {
        return text.toString();
    }

    boolean ended() {
        return ended;
    }

    /** tokenpipe's finish reason; {@code null} unless completed. */
    String finishReason() {
        return finishReason;
    }

    JsonNode usage() {
        return usage;
    }

    /** The {@code turn.failed} error ({@code code}, {@code message}); {@code null} unless failed. */
    JsonNode error() {
        return error;
    }
}
