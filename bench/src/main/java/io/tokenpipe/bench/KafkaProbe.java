package io.tokenpipe.bench;

import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Diagnostic (opt-in, {@code --kafka-probe}): a consumer of the stream topic inside the benchmark,
 * reading as delivery-sse's live tail does (like a second delivery node). For each token it sees it
 * splits the chunk's latency into stages: produced_at → the record's CreateTime (the worker's producer
 * send: time spent queued in the partition writer), CreateTime → visible to the consumer (the produce
 * request, the broker's append and the fetch), and visible → received by the SSE client (delivery-sse's
 * tail, the per-client queue and writer, the socket). It is one more consumer on the broker: leave
 * it off for headline numbers.
 */
final class KafkaProbe implements AutoCloseable {

    private record Key(String sessionId, long offset) {
    }

    private final KafkaConsumer<String, byte[]> consumer;
    private final Thread thread;
    private final Histogram queued = LoadRun.histogram();     // produced_at -> CreateTime (ms precision)
    private final Histogram committed = LoadRun.histogram();  // CreateTime -> visible to the consumer
    private final Histogram visible = LoadRun.histogram();    // produced_at -> visible
    private final Histogram delivered = LoadRun.histogram();  // visible -> SSE client received
    private final ConcurrentHashMap<Key, Long> visibleAt = new ConcurrentHashMap<>();
    private volatile boolean running = true;
    private long records;
    private final String bootstrap;
    private Map<String, Long> topicRecords = Map.of();

    KafkaProbe(String bootstrap, String topic) {
        this.bootstrap = bootstrap;
        Map<String, Object> config = new LinkedHashMap<>();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted"); // as every reader of the stream topic
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-bench-probe");
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5_000);
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100); // as delivery-sse's live tail
        this.consumer = new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                .map(p -> new TopicPartition(topic, p.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        partitions.forEach(consumer::position);
        this.thread = Thread.ofPlatform().name("bench-kafka-probe").daemon().start(this::run);
    }

    private void run() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    long now = ClientLoop.nowMicros();
                    Header type = r.headers().lastHeader("tp-type");
                    if (type == null || !"token".equals(new String(type.value(), StandardCharsets.UTF_8))) {
                        continue;
                    }
                    records++;
                    EventData e = EventData.parse(r.value(), r.value().length);
                    long createMicros = r.timestamp() * 1000;
                    synchronized (this) {
                        // CreateTime has millisecond precision: up to 1 ms of error either way.
                        queued.recordValue(Math.max(0, createMicros - e.producedMicros));
                        committed.recordValue(Math.max(0, now - createMicros));
                        visible.recordValue(Math.max(0, now - e.producedMicros));
                    }
                    visibleAt.put(new Key(r.key(), r.offset()), now);
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            System.err.println("bench: kafka probe failed: " + e);
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    /** Called by a client when it received a token (any thread). */
    void received(String sessionId, long offset, long receivedMicros) {
        Long at = visibleAt.remove(new Key(sessionId, offset));
        if (at != null) {
            synchronized (this) {
                delivered.recordValue(Math.max(0, Math.min(LoadRun.HIGHEST_MICROS, receivedMicros - at)));
            }
        }
    }

    synchronized Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens_seen", records);
        m.put("produced_to_send", ModeResult.percentiles(queued));
        m.put("send_to_visible", ModeResult.percentiles(committed));
        m.put("produced_to_visible", ModeResult.percentiles(visible));
        m.put("visible_to_sse_client", ModeResult.percentiles(delivered));
        m.put("topic_offsets_written", topicRecords);
        return m;
    }

    synchronized String markdown() {
        StringBuilder md = new StringBuilder();
        md.append("| stage (kafka mode, per token) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |\n|---|---:|---:|---:|---:|\n");
        row(md, "produced_at → producer send (CreateTime; queued in the partition writer)", queued);
        row(md, "send → visible to a consumer (produce request, append, fetch)", committed);
        row(md, "produced_at → visible (sum of the two)", visible);
        row(md, "visible → received by the SSE client (delivery-sse tail, queue, writer, socket)", delivered);
        md.append("\nMeasured by a probe consumer in the benchmark (`--kafka-probe`); CreateTime has millisecond precision.\n");
        if (!topicRecords.isEmpty()) {
            md.append("\nOffsets written per topic by the end of the run (records and transaction markers, warm-up and replay "
                    + "session included):\n\n| topic | offsets |\n|---|---:|\n");
            topicRecords.forEach((t, n) -> md.append("| `").append(t).append("` | ").append(String.format(java.util.Locale.ROOT, "%,d", n)).append(" |\n"));
        }
        return md.toString();
    }

    private static void row(StringBuilder md, String name, Histogram h) {
        md.append("| ").append(name).append(" | ").append(Report.num(ModeResult.ms(h, 50))).append(" | ")
                .append(Report.num(ModeResult.ms(h, 90))).append(" | ").append(Report.num(ModeResult.ms(h, 99)))
                .append(" | ").append(Report.num(ModeResult.maxMs(h))).append(" |\n");
    }

    /**
     * Offsets written per topic so far (the sum of the end offsets of its partitions): how many
     * records, transaction markers included, each topic took. Shows what the broker is asked to write.
     */
    void countTopicRecords() {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-bench-topic-sizes");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            Map<String, Long> out = new java.util.TreeMap<>();
            for (var e : c.listTopics(Duration.ofSeconds(10)).entrySet()) {
                List<TopicPartition> tps = e.getValue().stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
                long sum = c.endOffsets(tps, Duration.ofSeconds(10)).values().stream().mapToLong(Long::longValue).sum();
                out.put(e.getKey(), sum);
            }
            synchronized (this) {
                topicRecords = out;
            }
        } catch (RuntimeException e) {
            System.err.println("bench: counting topic records failed: " + e);
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
