package io.tokenpipe.worker.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.EventChain;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionDeletedException;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.worker.turn.TurnProgress;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What is in a stream partition: what the previous owner left behind when a worker takes a partition
 * over, and what landed of a failed write. Reads the partition as every client does: every event the
 * broker acknowledged is in the log for good, whether or not its writer's transaction committed, so
 * a reader here sees exactly what clients were sent.
 */
public final class StreamRecovery {

    private static final Logger log = LoggerFactory.getLogger(StreamRecovery.class);

    /**
     * An event found in the log, at its offset; with the record's value as stored and its chain link
     * when read from Kafka ({@code null} otherwise).
     */
    public record Landed(long offset, StreamEvent event, byte[] stored, byte[] chain) {
        public Landed(long offset, StreamEvent event) {
            this(offset, event, null, null);
        }
    }

    /**
     * What a take-over found: turns by id, where the stream partition ended, and the turn marks of the
     * boundary events it read (the previous owner may have died between an event and its mark; the new
     * owner writes them again, which the index takes as a no-op when they were already there).
     */
    public record Result(Map<String, TurnProgress> turns, long streamEnd, List<TurnMark> marks, Map<String, byte[]> chains) {
        /** The last chain link of each turn found: a turn continued by the new owner chains on from it. */
        public Map<String, byte[]> chains() {
            return chains;
        }
    }

    private StreamRecovery() {
    }

    /**
     * What a partition's committed offset says, in its metadata, to the partition's next owner.
     *
     * @param scanFrom   the stream offset from which every turn still in flight can be found
     * @param writer     the transactional id of the worker writing the partition (committed before it
     *                   writes any event of it), which a new owner fences; {@code null} in older metadata
     * @param handedOver the writer handed the partition over: it has stopped writing it, no need to fence it
     */
    public record Ownership(Long scanFrom, String writer, boolean handedOver) {

        static final Ownership NONE = new Ownership(null, null, false);

        String json() {
            Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("v", 2);
            m.put("scan_from", scanFrom);
            m.put("writer", writer);
            m.put("handed_over", handedOver);
            return Json.string(m);
        }

        /** What a committed offset's metadata says; {@link #NONE} when there was no commit or it says nothing. */
        static Ownership of(OffsetAndMetadata committed) {
            if (committed == null || committed.metadata() == null || committed.metadata().isEmpty()) {
                return NONE;
            }
            try {
                JsonNode node = Json.MAPPER.readTree(committed.metadata());
                return new Ownership(node.hasNonNull("scan_from") ? node.get("scan_from").asLong() : null,
                        node.hasNonNull("writer") ? node.get("writer").asText() : null,
                        node.path("handed_over").asBoolean(false));
            } catch (java.io.IOException e) {
                log.warn("unreadable offset metadata '{}'", committed.metadata());
                return NONE;
            }
        }
    }

    /** The scan start recorded with a committed offset, or {@code null} when nothing was recorded. */
    static Long scanFrom(OffsetAndMetadata committed) {
        return Ownership.of(committed).scanFrom();
    }

    /**
     * Scans {@code stream} from {@code scanFrom} (nothing is scanned when it is {@code null}: there
     * was no previous owner) to its current end.
     */
    public static Result scan(KafkaSettings kafka, TopicPartition stream, Long scanFrom) {
        return scan(kafka, stream, scanFrom, SessionCodec.plain());
    }

    /** As {@link #scan(KafkaSettings, TopicPartition, Long)}, opening encrypted sessions' events with {@code codec}. */
    public static Result scan(KafkaSettings kafka, TopicPartition stream, Long scanFrom, SessionCodec codec) {
        long began = System.nanoTime();
        Map<String, TurnProgress> turns = new HashMap<>();
        List<TurnMark> marks = new ArrayList<>();
        Map<String, byte[]> chains = new HashMap<>();
        if (scanFrom == null) {
            return new Result(turns, end(kafka, stream), marks, chains);
        }
        long[] end = new long[1];
        List<Landed> found = read(kafka, stream, scanFrom, end, codec);
        for (Landed landed : found) {
            StreamEvent event = landed.event();
            if (event == null) {
                continue; // a deleted session's: its turns are not continued (their prompts no longer open)
            }
            if (landed.chain() != null) {
                chains.put(event.turnId(), landed.chain());
            }
            // A turn first seen mid-way started before scan_from: it cannot be unfinished (the owner
            // keeps scan_from at or before every unfinished turn's start); only its end matters.
            turns.computeIfAbsent(event.turnId(), id -> TurnProgress.first(event, landed.offset())).add(event);
            TurnMark mark = TurnMark.of(event, landed.offset());
            if (mark != null) {
                marks.add(mark);
            }
        }
        log.info("recovered {} turns of {} from {} events ({}..{}) in {} ms", turns.size(), stream, found.size(),
                scanFrom, end[0], (System.nanoTime() - began) / 1_000_000);
        return new Result(turns, end[0], marks, chains);
    }

    /** The events of {@code stream} from {@code from} to its end now, in order. */
    public static List<Landed> landedFrom(KafkaSettings kafka, TopicPartition stream, long from) {
        return landedFrom(kafka, stream, from, SessionCodec.plain());
    }

    public static List<Landed> landedFrom(KafkaSettings kafka, TopicPartition stream, long from, SessionCodec codec) {
        return read(kafka, stream, from, new long[1], codec);
    }

    /** Events in order; a deleted session's (which no longer open) with a {@code null} event. */
    private static List<Landed> read(KafkaSettings kafka, TopicPartition stream, long from, long[] endOut,
                                     SessionCodec codec) {
        try (Consumer<String, byte[]> consumer = consumer(kafka)) {
            consumer.assign(Set.of(stream));
            long end = consumer.endOffsets(Set.of(stream)).get(stream);
            endOut[0] = end;
            long start = Math.max(from, consumer.beginningOffsets(Set.of(stream)).get(stream));
            List<Landed> found = new ArrayList<>();
            if (start >= end) {
                return found;
            }
            consumer.seek(stream, start);
            while (consumer.position(stream) < end) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200)).records(stream)) {
                    if (record.offset() >= end) {
                        break;
                    }
                    try {
                        StreamEvent event;
                        try {
                            event = Json.read(codec.openEvent(record.key(), record.value()), StreamEvent.class);
                        } catch (SessionDeletedException e) {
                            event = null;
                        }
                        found.add(new Landed(record.offset(), event, record.value(), EventChain.link(record.headers())));
                    } catch (RuntimeException e) {
                        log.error("unreadable stream event at {}-{}@{}", record.topic(), record.partition(), record.offset(), e);
                    }
                }
            }
            return found;
        }
    }

    private static long end(KafkaSettings kafka, TopicPartition stream) {
        try (Consumer<String, byte[]> consumer = consumer(kafka)) {
            return consumer.endOffsets(Set.of(stream)).get(stream);
        }
    }

    private static Consumer<String, byte[]> consumer(KafkaSettings kafka) {
        return new KafkaConsumer<>(kafka.consumer(
                Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2000),
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, KafkaSettings.STREAM_ISOLATION,
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                new StringDeserializer(), new ByteArrayDeserializer());
    }
}
