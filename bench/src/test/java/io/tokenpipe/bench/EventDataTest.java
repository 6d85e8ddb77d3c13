package io.tokenpipe.bench;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;

class EventDataTest {

    private static long micros(Instant i) {
        return i.getEpochSecond() * 1_000_000L + i.getNano() / 1_000;
    }

    @Test
    void parsesInstantsLikeInstantParseAtEveryPrecision() {
        for (String s : new String[] {"2026-11-26T20:05:01.123456789Z", "2026-11-26T20:05:01.123456Z",
                "2026-11-26T20:05:01.1Z", "2026-11-26T20:05:01Z", "1999-02-28T23:59:59.999999Z", "2024-02-29T00:00:00.5Z",
                "1970-01-01T00:00:00Z"}) {
            assertEquals(micros(Instant.parse(s)), EventData.micros(s), s);
        }
    }

    @Test
    void readsTheFieldsTheBenchmarkChecksAndSkipsNestedOnes() {
        byte[] json = ("{\"type\":\"turn.started\",\"v\":1,\"session_id\":\"s_1\",\"turn_id\":\"t_1\",\"index\":0,\"attempt\":1,"
                + "\"produced_at\":\"2026-01-02T03:04:05.000006Z\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"params\":{\"options\":{\"text\":\"not this\"}},\"text\":\" word\"}").getBytes(StandardCharsets.UTF_8);
        EventData e = EventData.parse(json, json.length);
        assertEquals("t_1", e.turnId);
        assertEquals(0, e.index);
        assertEquals(1, e.attempt);
        assertEquals(micros(Instant.parse("2026-01-02T03:04:05.000006Z")), e.producedMicros);
        assertEquals(" word", e.text);
    }
}
