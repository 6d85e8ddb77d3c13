package io.tokenpipe.common.log;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

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

    @Test
    void anEventWithoutATypeIsAPlainMessage() {
        assertEquals("id: 3\nevent: message\ndata: {}\n\n", frame(3, null, "{}"));
    }

    @Test
    void aLogEventIsFramedOnceForEveryStreamThatSendsIt() {
        LogEvent event = new LogEvent(0, 5, "s", "token", "{}".getBytes(StandardCharsets.UTF_8));
        assertSame(event.sseFrame(), event.sseFrame());
    }

    private static String frame(long offset, String type, String json) {
        return new String(SseFrames.event(offset, type, json.getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8);
    }
}
