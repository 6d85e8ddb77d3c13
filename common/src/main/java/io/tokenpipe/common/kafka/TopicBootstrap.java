package io.tokenpipe.common.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Creates the topics that are missing, at start-up, and checks that all three share one partition
 * count. Several services may start at once: a topic created meanwhile by another is fine.
 */
public final class TopicBootstrap {

    private static final Logger log = LoggerFactory.getLogger(TopicBootstrap.class);

    private TopicBootstrap() {
    }

    /** Ensures the topics exist and returns their (common) partition count. */
    public static int ensure(Admin admin, Topics topics) {
        try {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (NewTopic topic : specs(topics)) {
                if (!existing.contains(topic.name())) {
                    missing.add(topic);
                }
            }
            if (!missing.isEmpty()) {
                admin.createTopics(missing).values().forEach((name, future) -> {
                    try {
                        future.get(30, TimeUnit.SECONDS);
                        log.info("created topic {} with {} partitions", name, topics.partitions());
                    } catch (ExecutionException e) {
                        if (!(e.getCause() instanceof TopicExistsException)) {
                            throw new IllegalStateException("cannot create topic " + name + ": " + e.getCause().getMessage(), e.getCause());
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while creating topic " + name, e);
                    } catch (TimeoutException e) {
                        throw new IllegalStateException("timed out creating topic " + name, e);
                    }
                });
            }
            return checkCoPartitioned(describeOnceVisible(admin, topics));
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot reach Kafka to check topics: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while checking topics", e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("timed out reaching Kafka to check topics", e);
        }
    }

    /**
     * Describes the topics, waiting for them to be visible: a topic the controller has just created
     * can still be unknown to the broker that answers (its metadata applies the creation a moment
     * later), which is not an error.
     */
    private static Map<String, TopicDescription> describeOnceVisible(Admin admin, Topics topics)
            throws ExecutionException, InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                return admin.describeTopics(topics.all()).allTopicNames().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50); // back-off before asking again; the broker's metadata is catching up
            }
        }
    }

    static List<NewTopic> specs(Topics topics) {
        Optional<Short> rf = topics.replicationFactor() < 0 ? Optional.empty() : Optional.of(topics.replicationFactor());
        Optional<Integer> partitions = Optional.of(topics.partitions());
        return List.of(
                new NewTopic(topics.sessions(), partitions, rf).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)),
                new NewTopic(topics.prompts(), partitions, rf).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, Long.toString(topics.promptsRetention().toMillis()))),
                new NewTopic(topics.stream(), partitions, rf).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, Long.toString(topics.streamRetention().toMillis()))),
                // The marks describe the stream topic's events: kept exactly as long.
                new NewTopic(topics.turns(), partitions, rf).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, Long.toString(topics.streamRetention().toMillis()))),
                // The access trail: one partition (one order of reads), never compacted, kept as configured.
                new NewTopic(topics.auditTrail(), Optional.of(1), rf).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, Long.toString(topics.auditTrailRetention().toMillis()))),
                // Cancellations matter for seconds; a day is plenty.
                new NewTopic(topics.control(), Optional.of(1), rf).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
                        TopicConfig.RETENTION_MS_CONFIG, Long.toString(java.time.Duration.ofDays(1).toMillis()))));
    }

    private static int checkCoPartitioned(Map<String, TopicDescription> descriptions) {
        Set<Integer> counts = new java.util.TreeSet<>();
        StringBuilder detail = new StringBuilder();
        descriptions.forEach((name, description) -> {
            counts.add(description.partitions().size());
            detail.append(' ').append(name).append('=').append(description.partitions().size());
        });
        if (counts.size() != 1) {
            throw new IllegalStateException("the sessions, prompts, stream and turns topics must have the same partition count, but:" + detail);
        }
        return counts.iterator().next();
    }
}
