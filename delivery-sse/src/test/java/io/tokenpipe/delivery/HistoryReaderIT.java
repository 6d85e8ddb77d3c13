package io.tokenpipe.delivery;

import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.consumer.Consumer;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Reads of the past wait a bounded time for a free consumer, then are refused, never parked for ever. */
class HistoryReaderIT {

    @Test
    void aReadWhileEveryReaderIsBusyIsRefusedWith503AndServedOnceOneIsFree() throws Exception {
        Topics topics = SharedKafka.freshTopics("history-wait", 1);
        try (HistoryReader reader = new HistoryReader(SharedKafka.settings(), topics.stream(), 1, Duration.ofMillis(200))) {
            Consumer<String, byte[]> busy = reader.borrow(); // the pool's only consumer, held by another read

            ApiException refused = assertThrows(ApiException.class, () -> reader.read(0, "s_x", 0, 1, 10));
            assertEquals(503, refused.status());
            assertEquals("history_readers_busy", refused.code());

            reader.release(busy);
            assertEquals(0, reader.read(0, "s_x", 0, 0, 10).events().size(), "served once the reader is free");
        }
    }
}
