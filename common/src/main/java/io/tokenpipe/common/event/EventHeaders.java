package io.tokenpipe.common.event;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.nio.charset.StandardCharsets;

/**
 * Kafka record headers we set on every record. The event type travels as a header so that
 * delivery can frame an SSE event without parsing its JSON.
 */
public final class EventHeaders {

    public static final String TYPE = "tp-type";

    private EventHeaders() {
    }

    public static Headers withType(String type) {
        RecordHeaders headers = new RecordHeaders();
        headers.add(TYPE, type.getBytes(StandardCharsets.UTF_8));
        return headers;
    }

    /** The type header, or {@code null} if the record has none. */
    public static String type(Headers headers) {
        Header header = headers.lastHeader(TYPE);
        return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }
}
