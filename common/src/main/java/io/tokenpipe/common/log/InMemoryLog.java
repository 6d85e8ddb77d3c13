package io.tokenpipe.common.log;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.kafka.Partitioning;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A log of stream events kept in memory: written as a {@link TurnOutput}, read as a
 * {@link SessionLog}. Partitions and offsets work as in Kafka (a session hashes to a partition, each
 * event gets the partition's next offset), so the stream logic above it cannot tell the difference;
 * nothing is durable and nothing expires. It is the benchmark's Kafka-less control (the same turn
 * and stream code with the Kafka hop taken out) and the log of fast tests.
 */
public final class InMemoryLog implements TurnOutput, SessionLog {

    private final Partition[] partitions;
    private final Map<String, List<Consumer<LogEvent>>> subscribers = new ConcurrentHashMap<>();

    private static final class Partition {
        final List<LogEvent> events = new ArrayList<>();
        final Map<String, List<LogEvent>> bySession = new HashMap<>();
    }

    public InMemoryLog(int partitions) {
        this.partitions = new Partition[partitions];
        for (int i = 0; i < partitions; i++) {
            this.partitions[i] = new Partition();
        }
    }

    /** Appends an event of any session at its partition's next offset and hands it to live subscribers. */
    public LogEvent append(StreamEvent event) {
        byte[] json = Json.event(event);
        int p = partitionOf(event.sessionId());
        Partition partition = partitions[p];
        // Under the partition's lock, so that subscribers see each session's events in offset order.
        synchronized (partition) {
            LogEvent stored = new LogEvent(p, partition.events.size(), event.sessionId(), event.type(), json,
                    System.nanoTime());
            partition.events.add(stored);
            partition.bySession.computeIfAbsent(event.sessionId(), id -> new ArrayList<>()).add(stored);
            List<Consumer<LogEvent>> listeners = subscribers.get(event.sessionId());
            if (listeners != null) {
                listeners.forEach(listener -> listener.accept(stored));
            }
            return stored;
        }
    }

    @Override
    public void write(StreamEvent event) {
        append(event);
    }

    @Override
    public CompletableFuture<Void> finish(StreamEvent terminal) {
        append(terminal);
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public int partitionOf(String sessionId) {
        return Partitioning.partitionOf(sessionId, partitions.length);
    }

    @Override
    public Batch read(int partition, String sessionId, long from, long to, int max) {
        List<LogEvent> found = new ArrayList<>();
        Partition p = partitions[partition];
        synchronized (p) {
            List<LogEvent> session = p.bySession.getOrDefault(sessionId, List.of());
            for (int i = firstAtOrAfter(session, from); i < session.size() && found.size() < max; i++) {
                LogEvent event = session.get(i);
                if (event.offset() >= to) {
                    break;
                }
                found.add(event);
            }
        }
        long next = found.size() >= max ? found.getLast().offset() + 1 : Math.max(from, to);
        return new Batch(found, next);
    }

    @Override
    public long end(int partition) {
        Partition p = partitions[partition];
        synchronized (p) {
            return p.events.size();
        }
    }

    @Override
    public long start(int partition) {
        return 0;
    }

    @Override
    public List<LogEvent> recent(int partition, String sessionId, long from) {
        return read(partition, sessionId, from, Long.MAX_VALUE, Integer.MAX_VALUE).events();
    }

    @Override
    public boolean holdsRecent(int partition, long offset) {
        return offset >= 0 && offset <= end(partition);
    }

    @Override
    public Subscription subscribe(String sessionId, Consumer<LogEvent> listener) {
        subscribers.computeIfAbsent(sessionId, id -> new CopyOnWriteArrayList<>()).add(listener);
        return () -> subscribers.computeIfPresent(sessionId, (id, listeners) -> {
            listeners.remove(listener);
            return listeners.isEmpty() ? null : listeners;
        });
    }

    /** Binary search over a session's events, in increasing offsets. */
    private static int firstAtOrAfter(List<LogEvent> events, long offset) {
        int lo = 0;
        int hi = events.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (events.get(mid).offset() < offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
