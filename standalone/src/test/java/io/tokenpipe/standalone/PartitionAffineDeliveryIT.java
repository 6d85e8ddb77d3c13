package io.tokenpipe.standalone;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.kafka.Partitioning;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import io.tokenpipe.worker.WorkerService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Delivery nodes read only the partitions their clients follow (issue 13): a node's live tail
 * attaches a partition when one of its clients follows a session there and detaches it after the
 * last one left. Two delivery nodes with their own Kafka clients share one broker; a client moves
 * between them mid-turn, and a partition is detached and attached again while a turn streams.
 */
class PartitionAffineDeliveryIT {

    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final int PARTITIONS = 6;

    @TempDir
    Path stateDirs;

    private Map<String, String> base;
    private final List<AutoCloseable> running = new ArrayList<>();
    private ApiClient api;

    @BeforeEach
    void setUp() {
        Topics topics = SharedKafka.freshTopics("affine", PARTITIONS);
        base = new HashMap<>(StackFixture.env(topics, stateDirs, Map.of(
                "SYNTHETIC_TOKENS_PER_SECOND", "40",
                "INGEST_HTTP_PORT", "0", "DELIVERY_HTTP_PORT", "0", "WORKER_HTTP_PORT", "0")));
        IngestService ingest = start(IngestService.start(env("ingest", Map.of())));
        start(WorkerService.start(env("worker", Map.of())));
        api = new ApiClient(ingest.port());
    }

    @AfterEach
    void tearDown() {
        for (AutoCloseable service : running.reversed()) {
            try {
                service.close();
            } catch (Exception e) {
                // already stopped by the test
            }
        }
    }

    @Test
    void aNodeFetchesOnlyThePartitionsItsClientsFollowAndLetsGoWhenTheyLeave() throws Exception {
        DeliveryService a = start(DeliveryService.start(env("delivery-a", Map.of("SSE_PARTITION_DETACH_MS", "0"))));
        DeliveryService b = start(DeliveryService.start(env("delivery-b", Map.of("SSE_PARTITION_DETACH_MS", "0"))));
        List<String> sessions = sessionsOnDistinctPartitions(3);
        int onA = partition(sessions.get(0));
        int onB = partition(sessions.get(1));
        int nobody = partition(sessions.get(2));
        assertEquals(Set.of(), a.api().tailPartitions(), "a node without clients reads no partition");

        try (SseTestClient clientA = SseTestClient.connect(new ApiClient(a.port()).uri(events(sessions.get(0))));
             SseTestClient clientB = SseTestClient.connect(new ApiClient(b.port()).uri(events(sessions.get(1))))) {
            await(() -> a.api().tailPartitions().equals(Set.of(onA)) && b.api().tailPartitions().equals(Set.of(onB)),
                    "each node attaches its own client's partition");
            for (String session : sessions) { // the unfollowed session streams too, on its own partition
                api.submitPrompt(session, "{\"prompt\":\"affinity\",\"seed\":3,\"options\":{\"tokens\":30}}");
            }
            List<SseEvent> gotA = clientA.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            List<SseEvent> gotB = clientB.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
            awaitTurnCompleted(a, sessions.get(2));

            assertEquals(replay(a, sessions.get(0)), gotA);
            assertEquals(replay(b, sessions.get(1)), gotB);
            assertEquals(Set.of(onA), a.api().tailPartitions(), "node A reads only its client's partition");
            assertEquals(Set.of(onB), b.api().tailPartitions(), "node B reads only its client's partition");
            assertTrue(a.api().tailRecordsRead(onA) >= gotA.size(), "node A read its client's events from Kafka");
            assertEquals(0, a.api().tailRecordsRead(onB), "node A never fetched node B's partition");
            assertEquals(0, a.api().tailRecordsRead(nobody), "node A never fetched a partition no client follows");
            assertEquals(0, b.api().tailRecordsRead(onA), "node B never fetched node A's partition");
            assertEquals(0, b.api().tailRecordsRead(nobody), "node B never fetched a partition no client follows");
        }
        await(() -> a.api().tailPartitions().isEmpty() && b.api().tailPartitions().isEmpty(),
                "a partition is detached once its last client left (grace 0 here)");
    }

    @Test
    void aClientMovedBetweenNodesMidTurnSeesEveryEventOnce() throws Exception {
        DeliveryService a = start(DeliveryService.start(env("delivery-a", Map.of())));
        DeliveryService b = start(DeliveryService.start(env("delivery-b", Map.of())));
        String session = api.createSession();
        api.submitPrompt(session, "{\"prompt\":\"move me\",\"seed\":5,\"options\":{\"tokens\":200}}");

        List<SseEvent> received = new ArrayList<>();
        int hops = 0;
        DeliveryService[] nodes = {a, b};
        while (received.stream().noneMatch(e -> e.event().equals("turn.completed"))) {
            DeliveryService node = nodes[hops % 2];
            Map<String, String> headers = received.isEmpty() ? Map.of() : Map.of("Last-Event-ID", received.getLast().id());
            try (SseTestClient client = SseTestClient.connect(new ApiClient(node.port()).uri(events(session)), headers)) {
                // A handful of events on this node, then the connection drops mid-turn and the client moves on.
                client.awaitEvent(e -> e.event().equals("turn.completed") || client.events().size() >= 15, WAIT);
                received.addAll(eventsOf(client));
            }
            hops++;
        }
        assertTrue(hops >= 4, "the turn outlasted several moves between the nodes (" + hops + " connections)");
        assertTrue(a.api().tailPartitions().contains(partition(session))
                && b.api().tailPartitions().contains(partition(session)), "both nodes attached the session's partition");
        assertEquals(replay(b, session), received, "every event exactly once, in order, across " + hops + " connections");
        assertEquals(PipelineIT.expectedText("move me", 5, 200), PipelineIT.text(received));
    }

    @Test
    void aPartitionDetachedAndAttachedAgainWhileATurnStreamsLosesNothing() throws Exception {
        DeliveryService node = start(DeliveryService.start(env("delivery-a", Map.of("SSE_PARTITION_DETACH_MS", "0"))));
        String session = api.createSession();
        int partition = partition(session);
        api.submitPrompt(session, "{\"prompt\":\"detach me\",\"seed\":8,\"options\":{\"tokens\":200}}");

        List<SseEvent> received = new ArrayList<>();
        int reattachedMidTurn = 0;
        while (received.stream().noneMatch(e -> e.event().equals("turn.completed"))) {
            Map<String, String> headers = received.isEmpty() ? Map.of() : Map.of("Last-Event-ID", received.getLast().id());
            try (SseTestClient client = SseTestClient.connect(new ApiClient(node.port()).uri(events(session)), headers)) {
                client.awaitEvent(e -> e.event().equals("turn.completed") || client.events().size() >= 20, WAIT);
                List<SseEvent> got = eventsOf(client);
                if (!received.isEmpty() && got.stream().anyMatch(e -> e.event().equals("token"))) {
                    reattachedMidTurn++;
                }
                received.addAll(got);
            }
            await(() -> !node.api().tailPartitions().contains(partition), "the partition detaches when its last client leaves");
        }
        assertTrue(reattachedMidTurn >= 2, "the turn streamed on across detach and re-attach (" + reattachedMidTurn + " times)");
        assertEquals(replay(node, session), received, "every event exactly once, in order");
        assertEquals(PipelineIT.expectedText("detach me", 8, 200), PipelineIT.text(received));
    }

    /** What the client received before its connection closed, checked for order on the way. */
    private static List<SseEvent> eventsOf(SseTestClient client) {
        client.close();
        List<SseEvent> events = client.events();
        for (int i = 1; i < events.size(); i++) {
            assertTrue(events.get(i).offset() > events.get(i - 1).offset(), "ids increase on one connection");
        }
        return events;
    }

    private List<String> sessionsOnDistinctPartitions(int count) {
        List<String> sessions = new ArrayList<>();
        Set<Integer> used = new HashSet<>();
        while (sessions.size() < count) {
            String session = api.createSession();
            if (used.add(partition(session))) {
                sessions.add(session);
            }
        }
        return sessions;
    }

    private void awaitTurnCompleted(DeliveryService node, String session) throws Exception {
        await(() -> {
            try {
                return replay(node, session).stream().anyMatch(e -> e.event().equals("turn.completed"));
            } catch (Exception e) {
                return false;
            }
        }, "the unfollowed session's turn completed");
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertFalse(System.nanoTime() > deadline, "timed out waiting until " + what);
            Thread.sleep(20);
        }
    }

    private static int partition(String session) {
        return Partitioning.partitionOf(session, PARTITIONS);
    }

    private static String events(String session) {
        return "/v1/sessions/" + session + "/events";
    }

    private static List<SseEvent> replay(DeliveryService delivery, String session) throws Exception {
        try (SseTestClient replay = SseTestClient.connect(new ApiClient(delivery.port()).uri(events(session) + "?follow=false"))) {
            return replay.awaitEnd(WAIT);
        }
    }

    private Env env(String node, Map<String, String> overrides) {
        Map<String, String> env = new HashMap<>(base);
        env.put("STATE_DIR", stateDirs.resolve(node).toString());
        env.put("WORKER_ID", node);
        env.putAll(overrides);
        return Env.of(env);
    }

    private <T extends AutoCloseable> T start(T service) {
        running.add(service);
        return service;
    }
}
