package io.tokenpipe.delivery;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client that stops reading while its session streams on: its live queue overflows, and instead
 * of being dropped it is switched to reading the log, then receives every event once, in order.
 */
class SlowClientIT {

    @Test
    void aClientThatFallsBehindCatchesUpFromTheLogWithoutLosingOrDoublingAnything() throws Exception {
        Topics topics = SharedKafka.freshTopics("slow", 1);
        String session = "s_slow";
        DeliverySettings settings = new DeliverySettings(0, Duration.ofSeconds(30), Duration.ofSeconds(1), 4, 2, 10,
                "", List.of(), 16, 1 << 20, Duration.ofSeconds(5), 1 << 24, Duration.ofSeconds(30), 1 << 28);
        // A ring (16 events) smaller than the backlog: the catch-up must come from Kafka, not the tail's memory.
        KafkaSessionLog log = new KafkaSessionLog(SharedKafka.settings(), topics.stream(), 1, settings, () -> { }).start();
        StuckSocket socket = new StuckSocket();
        SseStream stream = new SseStream(session, ReplayPlan.unindexed(Partitioning.partitionOf(session, 1), -1), -1, true,
                new SseSink(socket), log, settings);
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(SharedKafka.settings().producer(Map.of(),
                Map.of("acks", "all")), new StringSerializer(), new ByteArraySerializer())) {
            CompletableFuture<Void> done = stream.start();
            send(producer, topics, session, 1);
            assertTrue(socket.stuck.await(10, TimeUnit.SECONDS), "the client stopped reading at the first event");
            for (int i = 2; i <= 200; i++) {
                send(producer, topics, session, i);
            }
            awaitOverflowed(stream);
            socket.unstick();

            List<Integer> indexes = socket.awaitIndexes(200, Duration.ofSeconds(20));
            assertEquals(java.util.stream.IntStream.rangeClosed(1, 200).boxed().toList(), indexes,
                    "every event once, in order, after falling behind");
            stream.end();
            done.get(10, TimeUnit.SECONDS);
        } finally {
            log.close();
        }
    }

    private static void send(KafkaProducer<String, byte[]> producer, Topics topics, String session, int index)
            throws Exception {
        TokenChunk chunk = new TokenChunk(StreamEvent.VERSION, session, "t_1", index, 1, Instant.now(), "w" + index);
        producer.send(new ProducerRecord<>(topics.stream(), null, session, Json.bytes(chunk),
                EventHeaders.withType(chunk.type()))).get();
    }

    private static void awaitOverflowed(SseStream stream) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!stream.fellBehind()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the live queue never overflowed");
            }
            Thread.sleep(10); // waiting for the live tail to fill the queue
        }
    }

    /** A socket whose peer stops reading at the second write (the first event), until released. */
    private static final class StuckSocket extends OutputStream {
        final CountDownLatch stuck = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private int writes;

        @Override
        public void write(int b) {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            boolean block;
            synchronized (this) {
                block = ++writes == 2;
            }
            if (block) {
                stuck.countDown();
                try {
                    released.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            synchronized (this) {
                received.write(b, off, len);
                notifyAll();
            }
        }

        void unstick() {
            released.countDown();
        }

        synchronized List<Integer> awaitIndexes(int count, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                List<Integer> indexes = new ArrayList<>();
                Matcher m = Pattern.compile("\"index\":(\\d+)").matcher(received.toString(StandardCharsets.UTF_8));
                while (m.find()) {
                    indexes.add(Integer.parseInt(m.group(1)));
                }
                long left = deadline - System.nanoTime();
                if (indexes.size() >= count || left <= 0) {
                    return indexes;
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
    }
}
