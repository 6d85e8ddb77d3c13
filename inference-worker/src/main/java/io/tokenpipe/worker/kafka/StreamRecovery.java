package io.tokenpipe.worker.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.kafka.KafkaSettings;
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
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What the previous owner of a partition left behind. Reads the stream partition from the
 * {@code scan_from} offset recorded with the committed prompt offset up to its end, and tells, for
 * every turn seen, how far it got: finished, or the index, attempt and text of its last event. Only
 * committed events are read, so whatever the previous owner wrote but did not commit is invisible
 * here exactly as it was to every client.
 */
public final class StreamRecovery {

    private static final Logger log = LoggerFactory.getLogger(StreamRecovery.class);

    /** A turn as the stream shows it. */
    public static final class TurnProgress {
        final String sessionId;
        /** Offset of the turn.started event, or -1 when the scan began after it. */
        final long startedOffset;
        int lastIndex;
        int attempt;
        int tokens;
        boolean finished;
        final StringBuilder text = new StringBuilder();

        TurnProgress(String sessionId, long startedOffset) {
            this.sessionId = sessionId;
            this.startedOffset = startedOffset;
        }

        public boolean finished() {
            return finished;
        }

        public int lastIndex() {
            return lastIndex;
        }

        public int attempt() {
            return attempt;
        }

        public int tokens() {
            return tokens;
        }

        public String text() {
            return text.toString();
        }

        public long startedOffset() {
            return startedOffset;
        }
    }

    /** The outcome: turns by id, and where the stream partition ended. */
    public record Result(Map<String, TurnProgress> turns, long streamEnd) {
    }

    private StreamRecovery() {
    }

    static String metadata(long scanFrom) {
        return "{\"v\":1,\"scan_from\":" + scanFrom + "}";
    }

    /** The scan start recorded with a committed offset, or {@code null} when nothing was recorded. */
    static Long scanFrom(OffsetAndMetadata committed) {
        if (committed == null || committed.metadata() == null || committed.metadata().isEmpty()) {
            return null;
        }
        try {
            JsonNode node = Json.MAPPER.readTree(committed.metadata());
            return node.hasNonNull("scan_from") ? node.get("scan_from").asLong() : null;
        } catch (java.io.IOException e) {
            log.warn("unreadable offset metadata '{}'", committed.metadata());
            return null;
        }
    }

    /**
     * Scans {@code stream} from {@code scanFrom} (nothing is scanned when it is {@code null}: there
     * was no previous owner) to its current end.
     */
    public static Result scan(KafkaSettings kafka, TopicPartition stream, Long scanFrom) {
        try (Consumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(
                Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2000),
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(Set.of(stream));
            long end = consumer.endOffsets(Set.of(stream)).get(stream);
            Map<String, TurnProgress> turns = new HashMap<>();
            if (scanFrom == null) {
                return new Result(turns, end);
            }
            long start = Math.max(scanFrom, consumer.beginningOffsets(Set.of(stream)).get(stream));
            consumer.seek(stream, start);
            long began = System.nanoTime();
            int records = 0;
            while (consumer.position(stream) < end) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200)).records(stream)) {
                    records++;
                    apply(turns, record);
                }
            }
            log.info("recovered {} turns of {} from {} records ({}..{}) in {} ms", turns.size(), stream, records,
                    start, end, (System.nanoTime() - began) / 1_000_000);
            return new Result(turns, end);
        }
    }

    private static void apply(Map<String, TurnProgress> turns, ConsumerRecord<String, byte[]> record) {
        StreamEvent event;
        try {
            event = Json.read(record.value(), StreamEvent.class);
        } catch (RuntimeException e) {
            log.error("unreadable stream event at {}-{}@{}", record.topic(), record.partition(), record.offset(), e);
            return;
        }
        TurnProgress turn = turns.get(event.turnId());
        if (turn == null) {
            // A turn first seen mid-way started before scan_from: it cannot be unfinished (the owner
            // keeps scan_from at or before every unfinished turn's start); only its end matters.
            turn = new TurnProgress(event.sessionId(), event instanceof TurnStarted ? record.offset() : -1);
            turns.put(event.turnId(), turn);
        }
        turn.lastIndex = Math.max(turn.lastIndex, event.index());
        turn.attempt = Math.max(turn.attempt, event.attempt());
        if (event instanceof TurnResumed resumed && resumed.restart()) {
            turn.tokens = 0;
            turn.text.setLength(0); // the answer started over
        }
        if (event instanceof TokenChunk chunk) {
            turn.tokens++;
            turn.text.append(chunk.text());
        }
        if (event.terminal()) {
            turn.finished = true;
        }
    }

}
