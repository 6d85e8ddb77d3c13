package io.tokenpipe.delivery;

import io.tokenpipe.common.event.EventHeaders;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

class SseFramesTest {

    @Test
    void anEventIsItsOffsetItsTypeAndItsJsonAsStored() {
        assertEquals("id: 42\nevent: token\ndata: {\"text\":\"héllo\"}\n\n", frame(42, "token", "{\"text\":\"héllo\"}"));
    }

    @Test
    void multiLineDataBecomesSeveralDataLines() {
        assertEquals("id: 1\nevent: token\ndata: a\ndata: b\ndata: c\n\n", frame(1, "token", "a\nb\r\nc"));
    }

    @Test
    void aLineBreakInTheTypeCannotForgeAField() {
        assertEquals("id: 7\nevent: tokenid: 99\ndata: {}\n\n", frame(7, "token\nid: 99", "{}"));
    }

    private static String frame(long offset, String type, String json) {
        ConsumerRecord<String, byte[]> record = new ConsumerRecord<>("t", 0, offset, 0L, TimestampType.CREATE_TIME, 0, 0,
                "s", json.getBytes(StandardCharsets.UTF_8), EventHeaders.withType(type), Optional.empty());
        return new String(SseFrames.event(record), StandardCharsets.UTF_8);
    }
}
