package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.testing.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The events of partition 0 of a stream topic, read as every client reads them. */
final class StreamEvents {

    private StreamEvents() {
    }

    static List<StreamEvent> read(Topics topics) {
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(SharedKafka.settings().consumer(Map.of(),
                Map.of("isolation.level", KafkaSettings.STREAM_ISOLATION)), new StringDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition stream = new TopicPartition(topics.stream(), 0);
            consumer.assign(Set.of(stream));
            consumer.seekToBeginning(Set.of(stream));
            long end = consumer.endOffsets(Set.of(stream)).get(stream);
            List<StreamEvent> events = new ArrayList<>();
            while (consumer.position(stream) < end) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                    events.add(Json.read(record.value(), StreamEvent.class));
                }
            }
            return events;
        }
    }
}
