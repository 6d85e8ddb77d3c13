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
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The worker's stream writer against kafka-clients' {@link MockProducer}: the test decides when (and
 * whether) the broker acknowledges, whether the worker still owns a partition, and what a read of the
 * log after a failure finds.
 */
class StreamWriterTest {

    private static final TopicPartition P0 = new TopicPartition("prompts", 0);
    private static final TopicPartition P1 = new TopicPartition("prompts", 1);
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String ID = "tokenpipe-worker-w1";

    private StreamWriter writer;

    @AfterEach
    void stop() {
        if (writer != null) {
            writer.halt();
        }
    }

    @Test
    void aPartitionTakesEventsOnlyOnceItsOwnershipIsCommitted() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        writer = writer(producer, producer(true), (p, from) -> List.of(), tp -> true, WAIT);

        PartitionWriter p0 = writer.attach(P0, new StreamWriter.Start(7, 0, List.of())).ready(WAIT);

        StreamRecovery.Ownership ownership = StreamRecovery.Ownership.of(lastCommitted(producer, P0));
        assertEquals(ID, ownership.writer(), "a later owner knows whom to fence");
        assertFalse(ownership.handedOver());
        assertEquals(7, lastCommitted(producer, P0).offset());
        assertTrue(p0.open());
    }

    @Test
    void eventsThatLandedWithoutAnAcknowledgementAreNotWrittenAgain() throws Exception {
        MockProducer<String, byte[]> stalled = producer(false); // never answers a record
        MockProducer<String, byte[]> replacement = producer(true);
        // After the stall, the log shows the first two events: they landed, only their answers were lost.
        writer = writer(stalled, replacement, (p, from) -> List.of(
                new StreamRecovery.Landed(from, token(1)), new StreamRecovery.Landed(from + 1, token(2))), tp -> true,
                Duration.ofMillis(200));
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);

        p0.write(token(1), 0);
        p0.write(token(2), 0);
        p0.write(token(3), 0);

        await(() -> !streamRecords(replacement).isEmpty(), "the writer recovered on a new producer");
        assertEquals(List.of(3), indexes(streamRecords(replacement)), "only what had not landed is written again");
        assertEquals(1, writer.producersReplaced());
    }

    @Test
    void afterAFailedWriteAPartitionNoLongerThisWorkersIsNeverWrittenAgain() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        MockProducer<String, byte[]> replacement = producer(true);
        writer = writer(producer, replacement, (p, from) -> List.of(), tp -> tp.equals(P1), WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);
        PartitionWriter p1 = writer.attach(P1, StreamWriter.Start.empty()).ready(WAIT);
        p0.write(token(1), 0);
        await(() -> streamRecords(producer).size() == 1, "the first event was written");

        producer.fenceProducer(); // a new owner of P0 initialised this worker's transactional id
        p0.write(token(2), 0);

        await(() -> !p0.open(), "the writer stopped writing P0");
        assertThrows(OutputClosedException.class, () -> p0.write(token(3), 0));
        p1.write(token(1), 0);
        await(() -> streamRecords(replacement).size() == 1, "P1, still this worker's, goes on with a new producer");
        assertEquals(List.of(1), partitions(streamRecords(replacement)), "nothing of P0 on the new producer");
        assertTrue(writer.running());
    }

    @Test
    void aRefusedEpochWhileStillTheOwnerIsATimedOutTransactionAndTheWriterGoesOn() throws Exception {
        MockProducer<String, byte[]> timedOut = producer(true);
        MockProducer<String, byte[]> replacement = producer(true);
        writer = writer(timedOut, replacement, (p, from) -> List.of(), tp -> true, WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);
        p0.write(token(1), 0);
        await(() -> streamRecords(timedOut).size() == 1, "the first event was written");

        timedOut.fenceProducer(); // as the coordinator does to a transaction past its timeout
        p0.write(token(2), 0);

        await(() -> streamRecords(replacement).size() == 1, "the writer went on with a new producer");
        assertEquals(List.of(2), indexes(streamRecords(replacement)));
        assertTrue(p0.open());
    }

    @Test
    void anEventInTheLogThatThisWriterDidNotSendMeansThePartitionIsNoLongerItsOwn() throws Exception {
        TokenChunk foreign = new TokenChunk(StreamEvent.VERSION, "s", "t_other", 1, 2, Instant.now(), "not mine");
        MockProducer<String, byte[]> replacement = producer(true);
        writer = writer(producer(false), replacement, (p, from) -> List.of(new StreamRecovery.Landed(from, foreign)),
                tp -> true, Duration.ofMillis(200));
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);

        p0.write(token(1), 0);

        await(() -> !p0.open(), "the writer stopped rather than write into another owner's stream");
        assertEquals(List.of(), streamRecords(replacement));
    }

    @Test
    void anEventOverTheRecordLimitIsRefusedToItsTurnAndThePartitionGoesOn() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        writer = writer(producer, producer(true), (p, from) -> List.of(), tp -> true, WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);
        TokenChunk huge = new TokenChunk(StreamEvent.VERSION, "s", "t", 1, 1, Instant.now(),
                "x".repeat(StreamWriter.MAX_EVENT_BYTES));

        assertThrows(IllegalArgumentException.class, () -> p0.write(huge, 0));

        p0.write(token(1), 0);
        await(() -> streamRecords(producer).size() == 1, "the next event is written");
        assertEquals(List.of(1), indexes(streamRecords(producer)));
        assertTrue(writer.running());
    }

    @Test
    void aRecordTheBrokerRefusesStopsTheWriterInsteadOfRetryingItForEver() throws Exception {
        MockProducer<String, byte[]> producer = producer(false);
        MockProducer<String, byte[]> replacement = producer(false);
        writer = writer(producer, replacement, (p, from) -> List.of(), tp -> true, WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);

        p0.write(token(1), 0);
        await(() -> !producer.uncommittedRecords().isEmpty(), "the event was sent");
        producer.errorNext(new org.apache.kafka.common.errors.RecordTooLargeException("over the topic's max.message.bytes"));

        await(() -> !writer.running(), "the writer stopped");
        assertTrue(writer.failure().contains("RecordTooLargeException"), writer.failure());
        assertFalse(p0.open(), "its partitions are given up");
        assertEquals(List.of(), streamRecords(replacement), "the refused record was not sent again");
    }

    @Test
    void aTurnsFinalEventIsDurableOnlyOnceTheBrokerAcknowledgedIt() throws Exception {
        MockProducer<String, byte[]> producer = producer(false);
        writer = writer(producer, producer(true), (p, from) -> List.of(), tp -> true, WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);

        CompletableFuture<Void> durable = p0.finish(completed(1), 0);
        await(() -> !producer.uncommittedRecords().isEmpty(), "the event was sent");
        assertFalse(durable.isDone(), "not acknowledged yet");

        producer.completeNext();
        durable.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void aBoundaryIsMarkedWithItsOffsetAfterItLandedAndAWatermarkFollows() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        writer = writer(producer, producer(true), (p, from) -> List.of(), tp -> true, WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);

        p0.write(started(), 0);
        p0.write(token(1), 0);

        await(() -> marks(producer).stream().anyMatch(m -> m.type().equals(TurnMark.WATERMARK)), "a watermark was written");
        TurnMark mark = marks(producer).getFirst();
        assertEquals(TurnStarted.TYPE, mark.type());
        assertEquals(0, mark.streamOffset(), "the mark names the offset the event landed at");
        assertEquals("s", mark.sessionId());
    }

    @Test
    void aHandOverCommitsTheOffsetWhereTheNextOwnerMustReadFromAndSaysItWasHandedOver() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        writer = writer(producer, producer(true), (p, from) -> List.of(), tp -> true, WAIT);
        PartitionWriter p0 = writer.attach(P0, StreamWriter.Start.empty()).ready(WAIT);
        PartitionWriter p1 = writer.attach(P1, StreamWriter.Start.empty()).ready(WAIT);
        p0.accepted(0);
        p0.accepted(1);
        p0.write(started(), 1);
        p0.finish(completed(1), 0); // the first prompt's turn ends; the second's is still running

        p0.closeForHandover(WAIT);

        OffsetAndMetadata last = lastCommitted(producer, P0);
        StreamRecovery.Ownership ownership = StreamRecovery.Ownership.of(last);
        assertEquals(1, last.offset(), "the running turn's prompt is not done");
        assertEquals(0L, ownership.scanFrom(), "the next owner reads from the running turn's start");
        assertTrue(ownership.handedOver(), "the next owner need not fence this worker");
        assertThrows(OutputClosedException.class, () -> p0.write(token(2), 1));
        p1.write(token(1), 0);
        await(() -> partitions(streamRecords(producer)).contains(1), "the other partition goes on");
    }

    @Test
    void aTakenOverTurnKeepsTheNextOwnerScanningFromItsFirstEventUntilItsPromptIsBehind() throws Exception {
        MockProducer<String, byte[]> producer = producer(true);
        writer = writer(producer, producer(true), (p, from) -> List.of(), tp -> true, WAIT);
        // The previous owner left turn "t" running: its first event at offset 40, the log now ends at 100.
        PartitionWriter p0 = writer.attach(P0, new StreamWriter.Start(3, 100, List.of(), java.util.Map.of("t", 40L))).ready(WAIT);

        assertEquals(40L, StreamRecovery.Ownership.of(lastCommitted(producer, P0)).scanFrom(),
                "an owner dying before it fetched the turn's prompt again must not send the next one past its events");

        p0.accepted(3); // the prompt comes back and the turn goes on, then ends
        p0.inflight("t", 3, 40);
        p0.finish(completed(1), 3);
        p0.closeForHandover(WAIT);

        OffsetAndMetadata last = lastCommitted(producer, P0);
        assertEquals(4, last.offset());
        assertEquals(100L, StreamRecovery.Ownership.of(last).scanFrom(), "once its prompt is behind, the turn no longer holds the scan back");
    }

    private StreamWriter writer(MockProducer<String, byte[]> first, MockProducer<String, byte[]> replacement,
                                BiFunction<Integer, Long, List<StreamRecovery.Landed>> log,
                                Predicate<TopicPartition> owner, Duration writeTimeout) {
        return new StreamWriter("stream", "turns", ID, first, StreamWriter.Recovery.of(() -> replacement, owner, log),
                new ConsumerGroupMetadata("workers"), Duration.ofHours(1), writeTimeout).start();
    }

    /** A producer that knows two partitions of each topic. */
    private static MockProducer<String, byte[]> producer(boolean autoComplete) {
        Node node = new Node(0, "localhost", 9092);
        List<PartitionInfo> infos = new ArrayList<>();
        for (String topic : List.of("stream", "turns")) {
            for (int p = 0; p < 2; p++) {
                infos.add(new PartitionInfo(topic, p, node, new Node[]{node}, new Node[]{node}));
            }
        }
        MockProducer<String, byte[]> producer = new MockProducer<>(new Cluster("c", List.of(node), infos, Set.of(), Set.of()),
                autoComplete, null, new StringSerializer(), new ByteArraySerializer());
        producer.initTransactions();
        return producer;
    }

    private static OffsetAndMetadata lastCommitted(MockProducer<String, byte[]> producer, TopicPartition tp) {
        OffsetAndMetadata last = null;
        for (var byGroup : producer.consumerGroupOffsetsHistory()) {
            for (var offsets : byGroup.values()) {
                if (offsets.containsKey(tp)) {
                    last = offsets.get(tp);
                }
            }
        }
        return last;
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

    private static List<Integer> partitions(List<ProducerRecord<String, byte[]>> records) {
        return records.stream().map(ProducerRecord::partition).toList();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(5); // polling another thread's progress
        }
    }
}
