package io.tokenpipe.common.event;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

import java.time.Instant;

/**
 * An event of a turn, on the stream topic (keyed by session id). Within a turn, {@code index} counts
 * every event from 0 (turn.started) without gaps; {@code attempt} counts worker take-overs and
 * upstream retries (1 for the first). The event's Kafka offset is its position in the session.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
        @JsonSubTypes.Type(value = TurnStarted.class, name = TurnStarted.TYPE),
        @JsonSubTypes.Type(value = TokenChunk.class, name = TokenChunk.TYPE),
        @JsonSubTypes.Type(value = ReasoningChunk.class, name = ReasoningChunk.TYPE),
        @JsonSubTypes.Type(value = TurnResumed.class, name = TurnResumed.TYPE),
        @JsonSubTypes.Type(value = TurnCompleted.class, name = TurnCompleted.TYPE),
        @JsonSubTypes.Type(value = TurnFailed.class, name = TurnFailed.TYPE),
})
public sealed interface StreamEvent permits TurnStarted, TokenChunk, ReasoningChunk, TurnResumed, TurnCompleted, TurnFailed {

    int VERSION = 1;

    int v();

    String sessionId();

    String turnId();

    int index();

    int attempt();

    Instant producedAt();

    /** The event name, as written in the JSON {@code type} field and the SSE {@code event:} line. */
    @JsonIgnore
    String type();

    /** True for the events that end a turn. */
    @JsonIgnore
    default boolean terminal() {
        return false;
    }
}
