package io.tokenpipe.common.event;

import java.time.Instant;
import java.util.Map;

/** A session was opened; on the compacted sessions topic, keyed by session id. */
public record SessionCreated(int v, String sessionId, Instant createdAt, Map<String, String> metadata) {

    public static final String TYPE = "session.created";
    public static final int VERSION = 1;

    public SessionCreated {
        metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    }
}
