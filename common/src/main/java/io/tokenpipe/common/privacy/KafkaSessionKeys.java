package io.tokenpipe.common.privacy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.SkippedRecords;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.SecretKey;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The session keys topic, read in full by every node into memory (like a global table), written by
 * whoever creates or deletes a session. A key record ({@code {"v":1,"session_id":…,"key":…}}) is
 * replaced on deletion by a deletion record ({@code {"v":1,"session_id":…,"deleted_at":…}}), which
 * compaction keeps instead of the key: the key leaves the log, and every node, even one started
 * later, still knows that the session was deleted (a bare tombstone would itself be compacted away
 * after {@code delete.retention.ms}, and the session would then look as if it never existed).
 *
 * <p>Memory: one entry per session (the id, 32 key bytes and a map entry, about 150 bytes), so a
 * million sessions cost about 150 MB on every node; {@code SESSION_RETENTION} bounds it.
 */
public final class KafkaSessionKeys implements SessionKeys {

    private static final Logger log = LoggerFactory.getLogger(KafkaSessionKeys.class);
    private static final String TYPE_KEY = "session.key";
    private static final String TYPE_DELETED = "session.deleted";

    private final String topic;
    private final boolean encrypting;
    private final Duration freshWait;
    private final Clock clock;
    private final Consumer<String, byte[]> reader;
    private final Consumer<String, byte[]> ends;         // endOffsets for fresh reads; guarded by itself
    private final Producer<String, byte[]> producer;
    private final Map<String, SecretKey> keys = new ConcurrentHashMap<>();
    private final Set<String> deleted = ConcurrentHashMap.newKeySet();
    private final Map<Integer, Long> positions = new ConcurrentHashMap<>();
    private final List<java.util.function.Consumer<String>> listeners = new CopyOnWriteArrayList<>();
    private final Object progress = new Object();
    private final Thread thread;
    private int partitions;
    private volatile boolean running = true;
    private volatile boolean healthy;

    public KafkaSessionKeys(KafkaSettings kafka, String topic, boolean encrypting, Duration freshWait, Clock clock) {
        this.topic = topic;
        this.encrypting = encrypting;
        this.freshWait = freshWait;
        this.clock = clock;
        Map<String, Object> enforced = Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        this.reader = new KafkaConsumer<>(kafka.consumer(Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-session-keys",
                // A deletion must reach every node quickly; the topic is quiet, so a short wait costs little.
                ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50), enforced), new StringDeserializer(), new ByteArrayDeserializer());
        this.ends = new KafkaConsumer<>(kafka.consumer(Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "tokenpipe-session-keys-ends"),
                enforced), new StringDeserializer(), new ByteArrayDeserializer());
        this.producer = new KafkaProducer<>(kafka.producer(Map.of(ProducerConfig.LINGER_MS_CONFIG, 0,
                        ProducerConfig.CLIENT_ID_CONFIG, "tokenpipe-session-keys"),
                Map.of(ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)),
                new StringSerializer(), new ByteArraySerializer());
        this.thread = Thread.ofPlatform().name("session-keys").daemon().unstarted(this::run);
    }

    /** Reads the whole topic before returning, so that this node knows every deletion before it serves anything. */
    public KafkaSessionKeys start() {
        List<TopicPartition> tps = reader.partitionsFor(topic).stream()
                .map(PartitionInfo::partition).map(p -> new TopicPartition(topic, p)).toList();
        partitions = tps.size();
        reader.assign(tps);
        reader.seekToBeginning(tps);
        Map<TopicPartition, Long> end = reader.endOffsets(tps);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (end.entrySet().stream().anyMatch(e -> reader.position(e.getKey()) < e.getValue())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("could not read the session keys topic " + topic + " within 60 s");
            }
            pollOnce();
        }
        thread.start();
        return this;
    }

    public boolean healthy() {
        return healthy && thread.isAlive();
    }

    private void run() {
        try {
            while (running) {
                pollOnce();
                healthy = true;
            }
        } catch (WakeupException e) {
            // close()
        } catch (RuntimeException e) {
            log.error("reading the session keys topic {} failed", topic, e);
        } finally {
            healthy = false;
            reader.close(Duration.ofSeconds(1));
        }
    }

    private void pollOnce() {
        for (ConsumerRecord<String, byte[]> record : reader.poll(Duration.ofMillis(200))) {
            apply(record);
        }
        for (TopicPartition tp : reader.assignment()) {
            positions.put(tp.partition(), reader.position(tp));
        }
        synchronized (progress) {
            progress.notifyAll();
        }
    }

    private void apply(ConsumerRecord<String, byte[]> record) {
        String sessionId = record.key();
        if (sessionId == null) {
            SkippedRecords.skip("session_keys", record.topic(), record.partition(), record.offset(), "no key");
            return;
        }
        try {
            JsonNode node = record.value() == null ? null : Json.MAPPER.readTree(record.value());
            if (node == null || node.hasNonNull("deleted_at")) {
                forget(sessionId);
            } else if (node.hasNonNull("key") && !deleted.contains(sessionId)) {
                keys.put(sessionId, SessionCipher.key(Base64.getDecoder().decode(node.get("key").asText())));
            }
        } catch (java.io.IOException | RuntimeException e) {
            SkippedRecords.skip("session_keys", record.topic(), record.partition(), record.offset(), e);
        }
    }

    private void forget(String sessionId) {
        keys.remove(sessionId);
        if (deleted.add(sessionId)) {
            for (java.util.function.Consumer<String> listener : listeners) {
                try {
                    listener.accept(sessionId);
                } catch (RuntimeException e) {
                    log.error("a listener failed on the deletion of session {}", sessionId, e);
                }
            }
        }
    }

    @Override
    public State known(String sessionId) {
        if (deleted.contains(sessionId)) {
            return DELETED;
        }
        SecretKey key = keys.get(sessionId);
        return key == null ? ABSENT : new Present(key);
    }

    @Override
    public State fresh(String sessionId) {
        State known = known(sessionId);
        if (!(known instanceof Absent)) {
            return known;
        }
        int partition = Partitioning.partitionOf(sessionId, partitions);
        TopicPartition tp = new TopicPartition(topic, partition);
        long end;
        synchronized (ends) {
            end = ends.endOffsets(Set.of(tp)).get(tp);
        }
        long deadline = System.nanoTime() + freshWait.toNanos();
        synchronized (progress) {
            while (positions.getOrDefault(partition, 0L) < end) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw ApiException.unavailable("session_keys_unavailable",
                            "this node has not caught up with the session keys topic; retry shortly");
                }
                try {
                    progress.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw ApiException.unavailable("shutting_down", "the server is shutting down");
                }
            }
        }
        return known(sessionId);
    }

    @Override
    public SecretKey create(String sessionId) {
        if (!encrypting) {
            return null;
        }
        SecretKey key = SessionCipher.newKey();
        ObjectNode value = Json.MAPPER.createObjectNode().put("v", 1).put("session_id", sessionId)
                .put("key", Base64.getEncoder().encodeToString(key.getEncoded()))
                .put("created_at", clock.instant().toString());
        write(sessionId, TYPE_KEY, value);
        keys.putIfAbsent(sessionId, key);
        return key;
    }

    @Override
    public boolean encrypting() {
        return encrypting;
    }

    @Override
    public void shred(String sessionId) {
        ObjectNode value = Json.MAPPER.createObjectNode().put("v", 1).put("session_id", sessionId)
                .put("deleted_at", clock.instant().toString());
        write(sessionId, TYPE_DELETED, value);
        forget(sessionId); // this node at once; the others when they read it
    }

    private void write(String sessionId, String type, ObjectNode value) {
        try {
            producer.send(new ProducerRecord<>(topic, null, sessionId, Json.bytes(value), EventHeaders.withType(type)))
                    .get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw ApiException.unavailable("kafka_unavailable", "could not write the session key: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("shutting_down", "the server is shutting down");
        }
    }

    @Override
    public void onDeleted(java.util.function.Consumer<String> listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        running = false;
        reader.wakeup();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (ends) {
            ends.close(Duration.ofSeconds(1));
        }
        producer.close(Duration.ofSeconds(2));
    }
}
