package io.tokenpipe.worker.kafka;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.log.OutputClosedException;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.LongFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The partition writer against kafka-clients' {@link MockProducer}: the test decides when (and
 * whether) the broker acknowledges, and what a read of the log after a failure finds.
 */
class PartitionWriterTest {

    private static final TopicPartition PROMPTS = new TopicPartition("prompts", 0);
    private static final Duration WAIT = Duration.ofSeconds(10);

    @Test
    void eventsThatLandedWithoutAnAcknowledgementAreNotWrittenAgain() throws Exception {
        MockProducer<String, byte[]> stalled = producer(false); // never answers
        MockProducer<String, byte[]> replacement = producer(true);
        // After the stall, the log shows the first two events: they landed, only their answers were lost.
        LongFunction<List<StreamRecovery.Landed>> log = from -> List.of(
                new StreamRecovery.Landed(from, token(1)), new StreamRecovery.Landed(from + 1, token(2)));
        PartitionWriter writer = writer(stalled, replacement, log, Duration.ofMillis(200)).start();

        writer.write(token(1), 0);
        writer.write(token(2), 0);
        writer.write(token(3), 0);

        await(() -> !streamRecords(replacement).isEmpty(), "the writer recovered on a new producer");
        assertEquals(List.of(3), indexes(streamRecords(replacement)), "only what had not landed is written again");
        assertEquals(1, writer.producersReplaced());
        writer.abandon();
    }

    @Test
    void aFencedProducerStopsTheWriterAndItsTurns() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        PartitionWriter writer = new PartitionWriter(PROMPTS, "stream", "turns", producer,
                PartitionWriter.Recovery.of(() -> producer(true), () -> false, from -> List.of()),
                new ConsumerGroupMetadata("workers"), PartitionWriter.Start.empty(), Duration.ofHours(1), WAIT).start();
        writer.write(token(1), 0);
        await(() -> streamRecords(producer).size() == 1, "the first event was written");

        producer.fenceProducer(); // another worker initialised the partition's transactional id
        writer.write(token(2), 0);

        await(() -> !writer.open(), "the writer stopped");
        assertThrows(OutputClosedException.class, () -> writer.write(token(3), 0));
        assertEquals(List.of(1), indexes(streamRecords(producer)));
        writer.abandon();
    }

    @Test
    void anEventInTheLogThatThisWriterDidNotSendMeansItIsNoLongerTheOwner() throws Exception {
        TokenChunk foreign = new TokenChunk(StreamEvent.VERSION, "s", "t_other", 1, 2, Instant.now(), "not mine");
        MockProducer<String, byte[]> replacement = producer(true);
        PartitionWriter writer = writer(producer(false), replacement,
                from -> List.of(new StreamRecovery.Landed(from, foreign)), Duration.ofMillis(200)).start();

        writer.write(token(1), 0);

        await(() -> !writer.open(), "the writer stopped rather than write into another owner's stream");
        assertEquals(List.of(), streamRecords(replacement));
        writer.abandon();
    }

    @Test
    void aWriterThatLostThePartitionNeverFencesTheOwnerWithANewProducer() throws Exception {
        AtomicInteger created = new AtomicInteger();
        PartitionWriter writer = new PartitionWriter(PROMPTS, "stream", "turns", producer(false),
                PartitionWriter.Recovery.of(() -> {
                    created.incrementAndGet();
                    return producer(true);
                }, () -> false, from -> List.of()),
                new ConsumerGroupMetadata("workers"), PartitionWriter.Start.empty(), Duration.ofHours(1),
                Duration.ofMillis(100)).start();

        writer.write(token(1), 0); // never acknowledged: the writer wants a new producer

        await(() -> !writer.open(), "the writer stopped");
        assertEquals(0, created.get(), "no producer that would fence the partition's owner");
        writer.abandon();
    }

    @Test
    void aRefusedEpochWhileStillTheOwnerIsATimedOutTransactionAndTheWriterGoesOn() throws Exception {
        MockProducer<String, byte[]> timedOut = producer(true);
        MockProducer<String, byte[]> replacement = producer(true);
        PartitionWriter writer = writer(timedOut, replacement, from -> List.of(), WAIT).start();
        writer.write(token(1), 0);
        await(() -> streamRecords(timedOut).size() == 1, "the first event was written");

        timedOut.fenceProducer(); // as the coordinator does to a transaction past its timeout
        writer.write(token(2), 0);

        await(() -> streamRecords(replacement).size() == 1, "the writer went on with a new producer");
        assertEquals(List.of(2), indexes(streamRecords(replacement)));
        assertTrue(writer.open());
        writer.abandon();
    }

    @Test
    void aTurnsFinalEventIsDurableOnlyOnceTheBrokerAcknowledgedIt() throws Exception {
        MockProducer<String, byte[]> producer = producer(false);
        PartitionWriter writer = writer(producer, producer(true), from -> List.of(), WAIT).start();

        CompletableFuture<Void> durable = writer.finish(completed(1), 0);
        await(() -> !producer.uncommittedRecords().isEmpty(), "the event was sent");
        assertFalse(durable.isDone(), "not acknowledged yet");

        producer.completeNext();
        durable.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        writer.abandon();
    }

    @Test
    void aBoundaryIsMarkedWithItsOffsetAfterItLandedAndAWatermarkFollows() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        PartitionWriter writer = writer(producer, producer(true), from -> List.of(), WAIT).start();

        writer.write(started(), 0);
        writer.write(token(1), 0);

        await(() -> marks(producer).stream().anyMatch(m -> m.type().equals(TurnMark.WATERMARK)), "a watermark was written");
        TurnMark mark = marks(producer).getFirst();
        assertEquals(TurnStarted.TYPE, mark.type());
        assertEquals(0, mark.streamOffset(), "the mark names the offset the event landed at");
        assertEquals("s", mark.sessionId());
        writer.abandon();
    }

    @Test
    void aHandOverCommitsThePromptsOffsetWithWhereTheNextOwnerMustReadFrom() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        PartitionWriter writer = writer(producer, producer(true), from -> List.of(), WAIT).start();
        writer.accepted(0);
        writer.accepted(1);
        writer.write(started(), 1);
        writer.finish(completed(1), 0); // a turn of the first prompt ends; the second's is still running

        writer.closeForHandover(WAIT);

        List<OffsetAndMetadata> committed = new ArrayList<>();
        producer.consumerGroupOffsetsHistory().forEach(byGroup -> byGroup.values().forEach(m -> committed.add(m.get(PROMPTS))));
        OffsetAndMetadata last = committed.getLast();
        assertEquals(1, last.offset(), "the running turn's prompt is not done");
        assertEquals(0L, StreamRecovery.scanFrom(last), "the next owner reads from the running turn's start");
    }

    private static PartitionWriter writer(MockProducer<String, byte[]> first, MockProducer<String, byte[]> replacement,
                                          LongFunction<List<StreamRecovery.Landed>> log, Duration writeTimeout) {
        return new PartitionWriter(PROMPTS, "stream", "turns", first,
                PartitionWriter.Recovery.of(() -> replacement, () -> true, log), new ConsumerGroupMetadata("workers"),
                PartitionWriter.Start.empty(), Duration.ofHours(1), writeTimeout);
    }

    private static MockProducer<String, byte[]> producer(boolean autoComplete) {
        MockProducer<String, byte[]> producer = new MockProducer<>(autoComplete, null, new StringSerializer(),
                new ByteArraySerializer());
        producer.initTransactions();
        return producer;
    }

    private static TokenChunk token(int index) {
        return new TokenChunk(StreamEvent.VERSION, "s", "t", index, 1, Instant.now(), "w" + index);
    }

    private static TurnStarted started() {
        return new TurnStarted(StreamEvent.VERSION, "s", "t", 0, 1, Instant.now(), "w", "synthetic", List.of(), null,
                "r", Instant.now(), null);
    }

    private static TurnCompleted completed(int index) {
        return new TurnCompleted(StreamEvent.VERSION, "s", "t", index, 1, Instant.now(), "stop", Usage.of(0, 1));
    }

    private static List<ProducerRecord<String, byte[]>> all(MockProducer<String, byte[]> producer) {
        List<ProducerRecord<String, byte[]>> records = new ArrayList<>(producer.history());
        records.addAll(producer.uncommittedRecords());
        return records;
    }

    private static List<ProducerRecord<String, byte[]>> streamRecords(MockProducer<String, byte[]> producer) {
        return all(producer).stream().filter(r -> r.topic().equals("stream")).toList();
    }

    private static List<TurnMark> marks(MockProducer<String, byte[]> producer) {
        return all(producer).stream().filter(r -> r.topic().equals("turns"))
                .map(r -> Json.read(r.value(), TurnMark.class)).toList();
    }

    private static List<Integer> indexes(List<ProducerRecord<String, byte[]>> records) {
        return records.stream().map(r -> Json.read(r.value(), StreamEvent.class).index()).toList();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(5); // polling another thread's progress
        }
    }
}
