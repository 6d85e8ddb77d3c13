package io.tokenpipe.bench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenpipe.common.event.Json;

import java.io.IOException;
import java.time.Instant;

/**
 * The fields of an event's JSON the benchmark checks, read with Jackson's streaming parser (nested
 * objects such as a turn.started's request are skipped unread), so that the client keeps up with
 * tens of thousands of events a second on one thread.
 */
final class EventData {

    private static final JsonFactory FACTORY = Json.MAPPER.getFactory();

    String turnId;
    int index = -1;
    int attempt = -1;
    /** produced_at in microseconds since the epoch, or Long.MIN_VALUE when absent. */
    long producedMicros = Long.MIN_VALUE;
    String text;
    String finishReason;

    static EventData parse(byte[] data, int length) {
        EventData e = new EventData();
        try (JsonParser p = FACTORY.createParser(data, 0, length)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("event data is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                switch (name) {
                    case "turn_id" -> e.turnId = p.getText();
                    case "index" -> e.index = p.getIntValue();
                    case "attempt" -> e.attempt = p.getIntValue();
                    case "produced_at" -> e.producedMicros = micros(p.getText());
                    case "text" -> e.text = p.getText();
                    case "finish_reason" -> e.finishReason = p.getText();
                    default -> {
                        if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
                            p.skipChildren();
                        }
                    }
                }
            }
        } catch (IOException ex) {
            throw new IllegalArgumentException("event data is not valid JSON: " + ex.getMessage(), ex);
        }
        return e;
    }

    /**
     * Microseconds since the epoch of an ISO-8601 UTC instant ({@code 2025-01-02T03:04:05.123456789Z}),
     * parsed by hand for speed; anything else goes through {@link Instant#parse}.
     */
    static long micros(String s) {
        int n = s.length();
        if (n >= 20 && s.charAt(4) == '-' && s.charAt(7) == '-' && s.charAt(10) == 'T' && s.charAt(13) == ':'
                && s.charAt(16) == ':' && s.charAt(n - 1) == 'Z') {
            try {
                int year = digits(s, 0, 4);
                int month = digits(s, 5, 2);
                int day = digits(s, 8, 2);
                int hour = digits(s, 11, 2);
                int minute = digits(s, 14, 2);
                int second = digits(s, 17, 2);
                long micros = 0;
                if (n > 20) {
                    if (s.charAt(19) != '.') {
                        return slow(s);
                    }
                    int fractionDigits = n - 21;
                    long fraction = 0;
                    for (int k = 0; k < 9; k++) {
                        fraction = fraction * 10 + (k < fractionDigits ? digit(s, 20 + k) : 0);
                    }
                    micros = fraction / 1_000;
                }
                long days = daysFromCivil(year, month, day);
                return ((days * 86_400L + hour * 3_600L + minute * 60L + second) * 1_000_000L) + micros;
            } catch (NumberFormatException e) {
                return slow(s);
            }
        }
        return slow(s);
    }

    private static long slow(String s) {
        Instant i = Instant.parse(s);
        return i.getEpochSecond() * 1_000_000L + i.getNano() / 1_000;
    }

    private static int digits(String s, int from, int count) {
        int v = 0;
        for (int k = 0; k < count; k++) {
            v = v * 10 + digit(s, from + k);
        }
        return v;
    }

    private static int digit(String s, int at) {
        char c = s.charAt(at);
        if (c < '0' || c > '9') {
            throw new NumberFormatException();
        }
        return c - '0';
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
    static long daysFromCivil(int y, int m, int d) {
        y -= m <= 2 ? 1 : 0;
        long era = (y >= 0 ? y : y - 399) / 400;
        long yoe = y - era * 400;
        long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146_097 + doe - 719_468;
    }
}
