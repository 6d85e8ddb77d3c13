package io.tokenpipe.worker;

import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;
import java.util.UUID;

/** How a worker runs. */
public record WorkerSettings(
        int httpPort,
        String workerId,
        String groupInstanceId,
        String groupId,
        String transactionalIdPrefix,
        int maxInflightTurns,
        Duration sessionTimeout,
        Duration transactionTimeout,
        Duration shutdownGrace,
        Duration rebalanceGrace,
        int upstreamResumes,
        Duration commitInterval,
        Duration linger,
        Duration writeTimeout) {

    public static final Setting HTTP_PORT = Setting.of("WORKER_HTTP_PORT", "8083",
            "HTTP port of an inference worker (health only).");
    public static final Setting WORKER_ID = Setting.of("WORKER_ID", null,
            "Name of this worker in events and logs, and part of its transactional id: unique among the workers of a group. Defaults to the host name plus a random suffix.");
    public static final Setting GROUP_INSTANCE_ID = Setting.of("WORKER_GROUP_INSTANCE_ID", null,
            "Static group membership (Kafka's group.instance.id), unique per worker: a worker restarted with the same value gets its partitions back at once instead of waiting WORKER_SESSION_TIMEOUT_MS for its dead predecessor, and a second process started with it stops the first. Unset: dynamic membership. The embedded launcher sets it to its worker id.");
    public static final Setting GROUP_ID = Setting.of("WORKER_GROUP_ID", "tokenpipe-workers",
            "Kafka consumer group of the inference workers; add workers to the group to scale out.");
    public static final Setting TRANSACTIONAL_ID_PREFIX = Setting.of("WORKER_TRANSACTIONAL_ID_PREFIX", "tokenpipe-worker",
            "Prefix of each worker's transactional id (the prefix, a dash, the worker id). A worker taking a partition over from one that did not hand it over initialises that worker's id, which fences it.");
    public static final Setting MAX_INFLIGHT_TURNS = Setting.of("WORKER_MAX_INFLIGHT_TURNS", "256",
            "Turns one worker holds at once (running or waiting for their session's previous turn); at the limit it stops fetching prompts.");
    public static final Setting SESSION_TIMEOUT_MS = Setting.of("WORKER_SESSION_TIMEOUT_MS", "10000",
            "Kafka group session timeout: how soon the partitions of a worker that died move to another.");
    public static final Setting TRANSACTION_TIMEOUT_MS = Setting.of("WORKER_TRANSACTION_TIMEOUT_MS", "30000",
            "Kafka transaction timeout of the workers' writes.");
    public static final Setting SHUTDOWN_GRACE_MS = Setting.of("WORKER_SHUTDOWN_GRACE_MS", "10000",
            "On SIGTERM, how long running turns may take to finish before they are handed over unfinished to another worker.");

    public static final Setting REBALANCE_GRACE_MS = Setting.of("WORKER_REBALANCE_GRACE_MS", "5000",
            "When a rebalance moves a partition to another worker (one joined the group), how long its running turns may take to finish here before they are handed over unfinished; meanwhile this worker fetches no prompts. 0 hands them over at once.");

    public static final Setting UPSTREAM_RESUMES = Setting.of("WORKER_UPSTREAM_RESUMES", "2",
            "How many times a turn is continued after its model server failed mid-answer, before it ends with turn.failed.");

    public static final Setting COMMIT_INTERVAL_MS = Setting.of("WORKER_COMMIT_INTERVAL_MS", "2000",
            "How long a partition writer's transaction stays open before it is committed with the prompts' offsets. Tokens never wait for it (they are readable once acknowledged); a commit costs the broker markers and the partition's next write a short wait, so this bounds their rate. Longer means a new owner rereads more of the stream after a crash.");
    public static final Setting LINGER_MS = Setting.of("WORKER_LINGER_MS", "1",
            "How long a partition writer's producer waits to put more tokens in one request (Kafka's linger.ms). Fewer, fuller requests cost the broker less CPU per token, for at most this much added latency.");

    public static final Setting WRITE_TIMEOUT_MS = Setting.of("WORKER_WRITE_TIMEOUT_MS", "10000",
            "How long a partition writer waits for the broker to acknowledge a record before it replaces its producer (which fences the stalled one) and writes again whatever did not land.");

    public static final List<Setting> SETTINGS = List.of(HTTP_PORT, WORKER_ID, GROUP_INSTANCE_ID, GROUP_ID, TRANSACTIONAL_ID_PREFIX,
            MAX_INFLIGHT_TURNS, SESSION_TIMEOUT_MS, TRANSACTION_TIMEOUT_MS, SHUTDOWN_GRACE_MS, REBALANCE_GRACE_MS, UPSTREAM_RESUMES,
            COMMIT_INTERVAL_MS, LINGER_MS, WRITE_TIMEOUT_MS);

    public static WorkerSettings from(Env env) {
        Duration commitInterval = env.millis(COMMIT_INTERVAL_MS);
        Duration transactionTimeout = env.millis(TRANSACTION_TIMEOUT_MS);
        if (commitInterval.multipliedBy(2).compareTo(transactionTimeout) > 0) {
            // The coordinator aborts a transaction older than its timeout; a writer whose transactions
            // always outlive it would spend its time recovering instead of writing.
            throw new ConfigException(COMMIT_INTERVAL_MS.name() + " (" + commitInterval.toMillis()
                    + " ms) must be at most half of " + TRANSACTION_TIMEOUT_MS.name() + " (" + transactionTimeout.toMillis() + " ms)");
        }
        String workerId = env.string(WORKER_ID);
        if (workerId == null) {
            workerId = hostName() + "-" + UUID.randomUUID().toString().substring(0, 8);
        }
        return new WorkerSettings(env.integer(HTTP_PORT), workerId, env.string(GROUP_INSTANCE_ID), env.required(GROUP_ID),
                env.required(TRANSACTIONAL_ID_PREFIX), env.positiveInteger(MAX_INFLIGHT_TURNS),
                env.millis(SESSION_TIMEOUT_MS), env.millis(TRANSACTION_TIMEOUT_MS), env.millis(SHUTDOWN_GRACE_MS),
                env.millis(REBALANCE_GRACE_MS),
                env.integer(UPSTREAM_RESUMES), env.millis(COMMIT_INTERVAL_MS), env.millis(LINGER_MS),
                env.millis(WRITE_TIMEOUT_MS));
    }

    private static String hostName() {
        String host = System.getenv("HOSTNAME");
        if (host != null && !host.isBlank()) {
            return host;
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "worker";
        }
    }
}
