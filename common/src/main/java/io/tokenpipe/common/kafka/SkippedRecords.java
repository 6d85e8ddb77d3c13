package io.tokenpipe.common.kafka;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Records a long-lived reader could not use (no value, malformed JSON, an unknown type or version)
 * and went past. One bad record must never stop a partition or a stream: the log keeps it for
 * whoever wants to look, the reader counts it and goes on. The counts, per reader, are in
 * {@code GET /metrics} as {@code skipped_records}; each record is logged once with its position,
 * however often it is read again (a replay reads the same history many times).
 */
public final class SkippedRecords {

    private static final Logger log = LoggerFactory.getLogger(SkippedRecords.class);
    private static final int LOGGED_POSITIONS = 10_000;

    private static final Map<String, LongAdder> BY_READER = new ConcurrentHashMap<>();
    private static final Map<String, Boolean> LOGGED = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > LOGGED_POSITIONS;
        }
    };

    private SkippedRecords() {
    }

    /**
     * Counts one skipped record.
     *
     * @param reader who skipped it: {@code stream_tail}, {@code prompt_consumer}, ...
     * @param why    what was wrong with it: a short text or the exception it caused
     */
    public static void skip(String reader, String topic, int partition, long offset, Object why) {
        BY_READER.computeIfAbsent(reader, r -> new LongAdder()).increment();
        String position = topic + "-" + partition + "@" + offset;
        boolean first;
        synchronized (LOGGED) {
            first = LOGGED.put(reader + " " + position, Boolean.TRUE) == null;
        }
        if (first) {
            if (why instanceof Throwable t) {
                log.warn("{} skipped the unreadable record {}: {}", reader, position, t.toString());
            } else {
                log.warn("{} skipped the unreadable record {}: {}", reader, position, why);
            }
        }
    }

    /** How many records {@code reader} skipped since this process started. */
    public static long count(String reader) {
        LongAdder count = BY_READER.get(reader);
        return count == null ? 0 : count.sum();
    }

    /** Every reader's count, for {@code GET /metrics}. */
    public static Map<String, Long> snapshot() {
        Map<String, Long> out = new TreeMap<>();
        BY_READER.forEach((reader, count) -> out.put(reader, count.sum()));
        return out;
    }
}
