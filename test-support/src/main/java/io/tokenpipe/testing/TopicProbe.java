package io.tokenpipe.testing;

import io.tokenpipe.common.kafka.Topics;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Reads topic end offsets, to check that a refused request wrote nothing. */
public final class TopicProbe {

    private TopicProbe() {
    }

    /** The end offset of every partition of every topic (uncommitted data included). */
    public static Map<TopicPartition, Long> endOffsets(Topics topics) {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(), Map.of()),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            Map<TopicPartition, Long> ends = new HashMap<>();
            for (String topic : topics.all()) {
                List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                        .map(PartitionInfo::partition).map(p -> new TopicPartition(topic, p)).toList();
                ends.putAll(consumer.endOffsets(partitions));
            }
            return ends;
        }
    }
}
