package io.tokenpipe.index;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Reads partitions' end offsets for fresh lookups, one request at a time for all callers. Under
 * load every POST and every new stream asks; one admin request each queued behind the others and
 * took seconds (3 s median at 1,000 sessions). Here a caller joins the next request, which starts
 * as soon as the one in flight returns: it answers every caller waiting for it, and since it was
 * sent after they asked, its offsets include everything written before their question.
 */
final class EndOffsets {

    private final Admin admin;
    private final Duration timeout;
    private Batch next;
    private boolean inFlight;

    private record Batch(Set<TopicPartition> partitions, CompletableFuture<Map<TopicPartition, Long>> result) {
    }

    EndOffsets(Admin admin, Duration timeout) {
        this.admin = admin;
        this.timeout = timeout;
    }

    /** The offsets one past the last record of each partition, read after this call began. */
    CompletableFuture<Map<TopicPartition, Long>> read(Set<TopicPartition> partitions) {
        Batch batch;
        synchronized (this) {
            if (next == null) {
                next = new Batch(new HashSet<>(), new CompletableFuture<>());
            }
            next.partitions().addAll(partitions);
            batch = next;
            if (!inFlight) {
                send();
            }
        }
        return batch.result().thenApply(ends -> {
            Map<TopicPartition, Long> mine = new HashMap<>();
            partitions.forEach(tp -> mine.put(tp, ends.get(tp)));
            return mine;
        });
    }

    /** Sends the waiting batch; called holding the lock. */
    private void send() {
        Batch batch = next;
        next = null;
        inFlight = true;
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        batch.partitions().forEach(tp -> request.put(tp, OffsetSpec.latest()));
        CompletableFuture<Map<TopicPartition, Long>> sent;
        try {
            sent = admin.listOffsets(request, new ListOffsetsOptions().timeoutMs((int) timeout.toMillis()))
                    .all().toCompletionStage().toCompletableFuture()
                    .thenApply(infos -> {
                        Map<TopicPartition, Long> ends = new HashMap<>();
                        infos.forEach((tp, info) -> ends.put(tp, info.offset()));
                        return ends;
                    });
        } catch (RuntimeException e) { // e.g. the admin client is closed
            sent = CompletableFuture.failedFuture(e);
        }
        sent.whenComplete((ends, error) -> {
            synchronized (this) {
                inFlight = false;
                if (next != null) {
                    send();
                }
            }
            if (error != null) {
                batch.result().completeExceptionally(error);
            } else {
                batch.result().complete(ends);
            }
        });
    }
}
