package io.tokenpipe.worker.kafka;

import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.KafkaRef;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.OutputClosedException;
import io.tokenpipe.common.metrics.Metrics;
import io.tokenpipe.worker.WorkerSettings;
import io.tokenpipe.worker.turn.Cancellations;
import io.tokenpipe.worker.turn.SessionLanes;
import io.tokenpipe.worker.turn.TurnJob;
import io.tokenpipe.worker.turn.TurnProgress;
import io.tokenpipe.worker.turn.TurnRunner;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The worker's poll loop: a member of the workers' consumer group on the prompts topic. For each
 * partition it is given, it first takes over the partition's writer (fencing the previous owner)
 * and reads what the previous owner left in flight; only then does it fetch the partition's prompts.
 * It stops fetching while the worker holds its maximum of turns, and keeps polling meanwhile so the
 * group never mistakes a busy worker for a dead one.
 */
public final class PromptConsumer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PromptConsumer.class);
    private static final int SEEN_TURNS_PER_PARTITION = 50_000;
    private static final String SKIPPED = "prompt_consumer";

    private final KafkaSettings kafka;
    private final Topics topics;
    private final WorkerSettings settings;
    private final Consumer<String, byte[]> consumer;
    private final KafkaClientMetrics clientMetrics;
    private final Metrics.AutoCloseableGauge inflightGauge;
    private final SessionLanes lanes;
    private final AtomicInteger inflight = new AtomicInteger();
    private final AtomicInteger partitionsTakenAway = new AtomicInteger();
    private final Map<TopicPartition, Partition> partitions = new ConcurrentHashMap<>();
    private final ConsumerGroupMetadata group;
    private StreamWriter writer;
    private final Thread pollThread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean stopping;
    private volatile boolean halted;
    private volatile boolean polling;
    private volatile String memberId = "";
    private volatile String failure;
    private final Map<TopicPartition, Long> strandedSince = new ConcurrentHashMap<>();
    private final Admin admin;

    /** One assigned partition. */
    private static final class Partition {
        final TopicPartition prompts;
        volatile PartitionWriter writer;
        volatile Map<String, TurnProgress> recovered = Map.of();
        volatile boolean ready;
        volatile boolean revoked;
        final Set<String> seenTurns = java.util.Collections.newSetFromMap(new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > SEEN_TURNS_PER_PARTITION;
            }
        });

        Partition(TopicPartition prompts) {
            this.prompts = prompts;
        }
    }

    public PromptConsumer(KafkaSettings kafka, Topics topics, WorkerSettings settings, TurnRunner runner,
                          Cancellations cancellations) {
        this.kafka = kafka;
        this.topics = topics;
        this.settings = settings;
        this.lanes = new SessionLanes(runner, cancellations, inflight);
        this.group = new ConsumerGroupMetadata(settings.groupId());
        Map<String, Object> membership = new java.util.HashMap<>();
        if (settings.groupInstanceId() != null && !settings.groupInstanceId().isBlank()) {
            // Static membership: after a crash the restarted worker takes its partitions back at once.
            membership.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, settings.groupInstanceId());
        }
        this.consumer = new KafkaConsumer<>(kafka.consumer(
                Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.min(500, settings.maxInflightTurns()),
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                        ConsumerConfig.CLIENT_ID_CONFIG, settings.workerId()),
                with(membership, Map.of(ConsumerConfig.GROUP_ID_CONFIG, settings.groupId(),
                        // Offsets are committed only inside the partition writers' transactions.
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                        ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName(),
                        ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, (int) settings.sessionTimeout().toMillis(),
                        ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, (int) Math.max(300, settings.sessionTimeout().toMillis() / 4)))),
                new StringDeserializer(), new ByteArrayDeserializer());
        this.admin = Admin.create(kafka.admin());
        this.pollThread = Thread.ofPlatform().name("prompt-consumer").unstarted(this::pollLoop);
        // Consumer lag (kafka_consumer_fetch_manager_records_lag_max): prompts waiting for this worker.
        this.clientMetrics = new KafkaClientMetrics(consumer);
        clientMetrics.bindTo(Metrics.registry());
        this.inflightGauge = Metrics.gauge(Metrics.TURNS_IN_FLIGHT, "Turns held by inference workers (running or queued behind their session's previous turn)",
                inflight::get);
    }

    public PromptConsumer start() {
        // This worker's one producer for every partition it will own; initialising its transactional
        // id fences an earlier process of the same worker id.
        writer = new StreamWriter(topics.stream(), topics.turns(), writerId(),
                initialised(createProducer(writerId(), "writer")), recovery(), group, settings.commitInterval(),
                settings.writeTimeout()).start();
        consumer.subscribe(List.of(topics.prompts()), new Rebalance());
        pollThread.start();
        return this;
    }

    /**
     * True while the poll loop runs and has joined the group, its writer runs, and it writes every
     * partition it holds. A partition its writer dropped while the group still gives it to this worker
     * (the writer found it fenced or overwritten, the group has yet to say so) is not answered: that is
     * not healthy, even if the group sorts it out a moment later.
     */
    public boolean healthy() {
        return polling && !stopping && failure == null && writer.running() && strandedSince.isEmpty();
    }

    /** Why the poll loop stopped on its own (its writer stopped, a partition stayed unwritten); null otherwise. */
    public String failure() {
        String why = failure;
        if (why == null && writer != null && writer.failure() != null) {
            why = "the stream writer stopped: " + writer.failure(); // the poll loop is about to give up
        }
        return why;
    }

    public int inflightTurns() {
        return inflight.get();
    }

    /** Partitions revoked from or lost by this worker so far (a worker kicked out of its group loses all). */
    public int partitionsTakenAway() {
        return partitionsTakenAway.get();
    }

    public Set<TopicPartition> readyPartitions() {
        Set<TopicPartition> ready = new HashSet<>();
        partitions.forEach((tp, p) -> {
            if (p.ready) {
                ready.add(tp);
            }
        });
        return ready;
    }

    private void pollLoop() {
        long graceEnds = Long.MAX_VALUE;
        try {
            while (!halted) {
                if (stopping) {
                    if (graceEnds == Long.MAX_VALUE) {
                        graceEnds = System.nanoTime() + settings.shutdownGrace().toNanos();
                        log.info("stopping: no new prompts; waiting up to {} for {} turns to finish",
                                settings.shutdownGrace(), inflight.get());
                    }
                    if (inflight.get() == 0 || System.nanoTime() > graceEnds) {
                        break;
                    }
                }
                String givingUp = givingUp();
                if (givingUp != null) {
                    failure = givingUp;
                    log.error("the worker gives its partitions up and stops: {}", givingUp);
                    break;
                }
                applyPauses();
                ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(100));
                polling = true;
                for (TopicPartition tp : records.partitions()) {
                    Partition partition = partitions.get(tp);
                    for (ConsumerRecord<String, byte[]> record : records.records(tp)) {
                        dispatch(partition, record);
                    }
                }
            }
        } catch (WakeupException e) {
            // halt()
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            failure = e.toString();
            log.error("prompt consumer failed", e);
        } finally {
            polling = false;
            try {
                if (halted) {
                    // A crash: leave everything as a dead process would. The group notices after the
                    // session timeout; the next owner aborts what was left open.
                    consumer.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP)
                            .withTimeout(Duration.ZERO));
                } else {
                    // Leaving the group revokes every partition: each is handed over in Rebalance.
                    consumer.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                            .withTimeout(Duration.ofSeconds(30)));
                }
            } catch (RuntimeException e) {
                log.warn("closing the consumer: {}", e.toString());
            }
            if (!halted) {
                writer.close();
            }
            admin.close(Duration.ofSeconds(2));
            clientMetrics.close();
            inflightGauge.close();
            stopped.countDown();
        }
    }

    /**
     * Why this worker must leave its group, or null. Its writer stopped (a record the broker refuses,
     * a bug): nothing it holds can be answered. Or its writer dropped a partition the group still gives
     * it for longer than the group takes to notice a dead member: the partition is stuck here. Leaving
     * the group hands every partition to the other workers; the process reports itself unhealthy.
     */
    private String givingUp() {
        if (!writer.running()) {
            return "the stream writer stopped" + (writer.failure() == null ? "" : ": " + writer.failure());
        }
        long now = System.nanoTime();
        partitions.forEach((tp, partition) -> {
            PartitionWriter w = partition.writer;
            if (partition.ready && w != null && !w.open()) {
                partition.ready = false; // fetch no more prompts that nobody would answer
                strandedSince.putIfAbsent(tp, now);
                log.warn("{} is no longer written by this worker but is still assigned to it", tp);
            }
        });
        strandedSince.keySet().removeIf(tp -> !partitions.containsKey(tp)); // revoked since: all is well
        long limit = settings.sessionTimeout().multipliedBy(2).toNanos();
        for (Map.Entry<TopicPartition, Long> stranded : strandedSince.entrySet()) {
            if (now - stranded.getValue() > limit) {
                return stranded.getKey() + " stayed assigned to this worker after its writer dropped it";
            }
        }
        return null;
    }

    /** Fetch only from partitions that are ready, and from none while the worker is full or stopping. */
    private void applyPauses() {
        boolean full = stopping || inflight.get() >= settings.maxInflightTurns();
        Set<TopicPartition> assigned = consumer.assignment();
        Set<TopicPartition> paused = consumer.paused();
        Set<TopicPartition> pause = new HashSet<>();
        Set<TopicPartition> resume = new HashSet<>();
        for (TopicPartition tp : assigned) {
            Partition partition = partitions.get(tp);
            boolean shouldPause = full || partition == null || !partition.ready;
            if (shouldPause && !paused.contains(tp)) {
                pause.add(tp);
            } else if (!shouldPause && paused.contains(tp)) {
                resume.add(tp);
            }
        }
        if (!pause.isEmpty()) {
            consumer.pause(pause);
        }
        if (!resume.isEmpty()) {
            consumer.resume(resume);
        }
    }

    private void dispatch(Partition partition, ConsumerRecord<String, byte[]> record) throws InterruptedException {
        PartitionWriter writer = partition.writer;
        try {
            writer.accepted(record.offset());
            PromptSubmitted prompt;
            try {
                prompt = Json.read(record.value(), PromptSubmitted.class);
                if (prompt.v() != PromptSubmitted.VERSION || prompt.sessionId() == null || prompt.turnId() == null
                        || !prompt.sessionId().equals(record.key())) {
                    throw new IllegalArgumentException("not a version " + PromptSubmitted.VERSION
                            + " prompt with a session and turn id under its session's key");
                }
            } catch (RuntimeException e) {
                SkippedRecords.skip(SKIPPED, record.topic(), record.partition(), record.offset(), e);
                writer.skip(record.offset());
                return;
            }
            TurnProgress earlier = partition.recovered.get(prompt.turnId());
            if (earlier != null && earlier.finished()) {
                writer.skip(record.offset()); // answered by the previous owner
                return;
            }
            if (!partition.seenTurns.add(prompt.turnId()) && earlier == null) {
                log.info("duplicate prompt for turn {} at offset {} skipped", prompt.turnId(), record.offset());
                writer.skip(record.offset());
                return;
            }
            if (earlier != null) {
                if (earlier.startedOffset() < 0) {
                    log.error("turn {} is unfinished but its start was not found; skipping it", prompt.turnId());
                    writer.skip(record.offset());
                    return;
                }
                writer.inflight(prompt.turnId(), record.offset(), earlier.startedOffset());
                log.info("taking over turn {} of session {} after index {}", prompt.turnId(), prompt.sessionId(),
                        earlier.lastIndex());
            }
            KafkaRef ref = new KafkaRef(record.topic(), record.partition(), record.offset());
            lanes.submit(prompt.sessionId(), partition.prompts.partition(),
                    new TurnJob(prompt, ref, writer.output(record.offset()), earlier));
        } catch (OutputClosedException e) {
            log.warn("prompt {}-{}@{} not dispatched: {}", record.topic(), record.partition(), record.offset(), e.getMessage());
        }
    }

    private final class Rebalance implements ConsumerRebalanceListener {

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
            if (assigned.isEmpty()) {
                return;
            }
            consumer.pause(assigned);
            memberId = consumer.groupMetadata().memberId();
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new HashSet<>(assigned));
            for (TopicPartition tp : assigned) {
                Partition partition = new Partition(tp);
                partitions.put(tp, partition);
                OffsetAndMetadata offset = committed.get(tp);
                Thread.ofVirtual().name("takeover-" + tp).start(() -> takeOver(partition, offset));
            }
            log.info("assigned {}", assigned);
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
            if (revoked.isEmpty()) {
                return;
            }
            log.info("handing over {}", revoked);
            partitionsTakenAway.addAndGet(revoked.size());
            release(revoked, true);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> lost) {
            log.warn("lost {} (another worker may already own them)", lost);
            partitionsTakenAway.addAndGet(lost.size());
            release(lost, false);
        }
    }

    /**
     * Takes a partition over: fences its previous writer unless that one handed it over, learns what
     * it left in flight, and has this worker's ownership committed before the partition takes events.
     */
    private void takeOver(Partition partition, OffsetAndMetadata committed) {
        TopicPartition tp = partition.prompts;
        StreamRecovery.Ownership previous = StreamRecovery.Ownership.of(committed);
        long backoff = 200;
        while (!partition.revoked && !halted) {
            try {
                if (previous.writer() != null && !previous.handedOver()
                        && !previous.writer().equals(writer.transactionalId())) {
                    // The previous writer did not hand the partition over: it crashed, or its worker was
                    // thrown out of the group and may still be writing. Initialising its transactional id
                    // makes the broker refuse its writes from now on.
                    fence(previous.writer());
                }
                // Nothing more of the previous writer can land: the log up to its end is all it wrote.
                TopicPartition stream = new TopicPartition(topics.stream(), tp.partition());
                StreamRecovery.Result recovered = StreamRecovery.scan(kafka, stream, previous.scanFrom());
                PartitionWriter attached;
                synchronized (partition) {
                    if (partition.revoked || halted) {
                        return;
                    }
                    partition.recovered = recovered.turns();
                    attached = writer.attach(tp, new StreamWriter.Start(committed == null ? 0 : committed.offset(),
                            recovered.streamEnd(), recovered.marks(), unfinished(recovered)));
                    partition.writer = attached;
                }
                attached.ready(settings.writeTimeout().multipliedBy(2));
                partition.ready = true;
                log.info("ready to answer {} from offset {}", tp, committed == null ? "start" : committed.offset());
                return;
            } catch (RuntimeException | java.util.concurrent.TimeoutException e) {
                log.warn("taking over {} failed, retrying: {}", tp, e.toString());
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException interrupted) {
                    return;
                }
                backoff = Math.min(backoff * 2, 5_000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** The turns a take-over found running, at the offsets of their first events. */
    private static Map<String, Long> unfinished(StreamRecovery.Result recovered) {
        Map<String, Long> unfinished = new HashMap<>();
        recovered.turns().forEach((turnId, progress) -> {
            if (!progress.finished() && progress.startedOffset() >= 0) {
                unfinished.put(turnId, progress.startedOffset());
            }
        });
        return unfinished;
    }

    /** Initialises another worker's transactional id, which fences every producer of it. */
    private void fence(String transactionalId) {
        try (Producer<String, byte[]> fencing = createProducer(transactionalId, "fence")) {
            fencing.initTransactions();
            log.info("fenced {}, the previous writer of a partition taken over", transactionalId);
        }
    }

    /** How the writer gets past a failed write; see {@link StreamWriter.Recovery}. */
    private StreamWriter.Recovery recovery() {
        return StreamWriter.Recovery.of(() -> initialised(createProducer(writerId(), "writer")), this::owns,
                (partition, offset) -> StreamRecovery.landedFrom(kafka, new TopicPartition(topics.stream(), partition), offset));
    }

    /** Whether the group coordinator has {@code partition} assigned to this worker's member now. */
    private boolean owns(TopicPartition partition) {
        String member = memberId;
        try {
            ConsumerGroupDescription group = admin.describeConsumerGroups(List.of(settings.groupId()))
                    .describedGroups().get(settings.groupId()).get(10, TimeUnit.SECONDS);
            if (group.groupState() != GroupState.STABLE) {
                throw new KafkaException("the group is " + group.groupState() + ": its assignment is not settled");
            }
            return group.members().stream().anyMatch(m -> m.consumerId().equals(member)
                    && m.assignment().topicPartitions().contains(partition));
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new KafkaException("cannot ask the group coordinator who owns " + partition, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KafkaException("interrupted", e);
        }
    }

    private void release(Collection<TopicPartition> released, boolean handOver) {
        if (handOver && !stopping && !halted && !settings.rebalanceGrace().isZero()) {
            // Moved to another worker by a rebalance (one joined): running turns may finish here first.
            // The poll thread waits meanwhile; the group waits for this worker's revocation to complete.
            Set<Integer> moving = new HashSet<>();
            released.forEach(tp -> moving.add(tp.partition()));
            try {
                lanes.stopAfter(moving, settings.rebalanceGrace());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (TopicPartition tp : released) {
            Partition partition = partitions.remove(tp);
            if (partition == null) {
                continue;
            }
            synchronized (partition) {
                partition.revoked = true;
            }
            for (Thread lane : lanes.stop(tp.partition())) {
                try {
                    lane.join(Duration.ofSeconds(5));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            PartitionWriter writer = partition.writer;
            if (writer != null) {
                if (handOver) {
                    writer.closeForHandover(Duration.ofSeconds(15));
                } else {
                    writer.abandon();
                }
            }
        }
    }

    private static Map<String, Object> with(Map<String, Object> extra, Map<String, Object> base) {
        Map<String, Object> all = new java.util.HashMap<>(base);
        all.putAll(extra);
        return all;
    }

    /** Initialises a producer's transactions (fencing any earlier producer of its id), or closes it on failure. */
    private static Producer<String, byte[]> initialised(Producer<String, byte[]> producer) {
        try {
            producer.initTransactions();
            return producer;
        } catch (RuntimeException e) {
            producer.close(Duration.ZERO);
            throw e;
        }
    }

    private Producer<String, byte[]> createProducer(String transactionalId, String role) {
        return new KafkaProducer<>(kafka.producer(
                Map.of(ProducerConfig.LINGER_MS_CONFIG, settings.linger().toMillis(),
                        ProducerConfig.CLIENT_ID_CONFIG, settings.workerId() + "-" + role,
                        ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000,
                        // The first write after a commit can meet the commit's markers still being written
                        // (CONCURRENT_TRANSACTIONS, retried). The default 100 ms back-off would then stall
                        // tokens; retry sooner.
                        ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 5,
                        ProducerConfig.RETRY_BACKOFF_MAX_MS_CONFIG, 200,
                        // Ordered and without duplicates up to 5 with idempotence; more than one lets the
                        // next tokens go out while a request is on its way.
                        ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5),
                Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId,
                        ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                        ProducerConfig.ACKS_CONFIG, "all",
                        ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, (int) settings.transactionTimeout().toMillis())),
                new StringSerializer(), new ByteArraySerializer());
    }

    /** This worker's transactional id: a new owner of one of its partitions initialises it to fence it. */
    private String writerId() {
        return settings.transactionalIdPrefix() + "-" + settings.workerId();
    }

    /** Graceful stop: no new prompts, running turns get the shutdown grace, the rest are handed over. */
    @Override
    public void close() {
        stopping = true;
        awaitStopped(settings.shutdownGrace().plusSeconds(45));
    }

    /**
     * Stops as abruptly as a killed process: no final events, no commits, no leaving the group.
     * For tests of fail-over; a real crash needs no method.
     */
    public void halt() {
        halted = true;
        consumer.wakeup();
        for (Thread lane : lanes.stopAll()) {
            lane.interrupt();
        }
        partitions.values().forEach(p -> {
            synchronized (p) {
                p.revoked = true;
            }
        });
        writer.halt();
        awaitStopped(Duration.ofSeconds(10));
    }

    private void awaitStopped(Duration timeout) {
        try {
            if (!stopped.await(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                log.warn("prompt consumer did not stop within {}", timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
