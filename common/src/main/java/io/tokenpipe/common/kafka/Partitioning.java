package io.tokenpipe.common.kafka;

import org.apache.kafka.common.utils.Utils;

import java.nio.charset.StandardCharsets;

/**
 * The partition of a session: what Kafka's default partitioner picks for a record keyed by the
 * session id (murmur2 of the UTF-8 key). Readers use it to go straight to a session's partition.
 */
public final class Partitioning {

    private Partitioning() {
    }

    public static int partitionOf(String sessionId, int partitions) {
        byte[] key = sessionId.getBytes(StandardCharsets.UTF_8);
        return Utils.toPositive(Utils.murmur2(key)) % partitions;
    }
}
