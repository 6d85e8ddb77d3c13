package io.tokenpipe.delivery;

import io.tokenpipe.common.event.EventHeaders;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.nio.charset.StandardCharsets;

/**
 * Server-Sent Events framing. An event's {@code id} is its Kafka offset and its {@code data} the
 * record's JSON as stored, so a frame is built without parsing the event.
 */
final class SseFrames {

    static final byte[] HEARTBEAT = ": heartbeat\n\n".getBytes(StandardCharsets.US_ASCII);

    private SseFrames() {
    }

    static byte[] retry(long millis) {
        return ("retry: " + millis + "\n\n").getBytes(StandardCharsets.US_ASCII);
    }

    static byte[] event(ConsumerRecord<String, byte[]> record) {
        String type = EventHeaders.type(record.headers());
        StringBuilder frame = new StringBuilder(record.value().length + 64);
        frame.append("id: ").append(record.offset()).append('\n');
        // Event names come from our own headers, but a CR or LF in one would forge extra fields.
        frame.append("event: ").append(type == null ? "message" : type.replace("\r", "").replace("\n", "")).append('\n');
        String data = new String(record.value(), StandardCharsets.UTF_8);
        if (data.indexOf('\n') < 0 && data.indexOf('\r') < 0) {
            frame.append("data: ").append(data).append('\n'); // our JSON: always one line
        } else {
            // Anything else is split into data lines, as the spec requires for multi-line data.
            for (String line : data.split("\r\n|\r|\n", -1)) {
                frame.append("data: ").append(line).append('\n');
            }
        }
        frame.append('\n');
        return frame.toString().getBytes(StandardCharsets.UTF_8);
    }
}
