package io.tokenpipe.common.kafka;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/**
 * The topics and how they are created. Sessions, prompts, stream and turns are keyed by session id and
 * must have the same partition count: a session then lives on the same partition number in each,
 * which the session index relies on (it reads sessions, prompts and turns as one co-partitioned
 * input) and so do readers of the stream. The control topic carries rare requests every worker reads
 * in full; its layout does not matter.
 *
 * @param replicationFactor {@code -1} leaves it to the broker's {@code default.replication.factor}
 */
public record Topics(
        String sessions,
        String prompts,
        String stream,
        String turns,
        String control,
        int partitions,
        short replicationFactor,
        Duration promptsRetention,
        Duration streamRetention,
        String auditTrail,
        Duration auditTrailRetention) {

    public static final Setting SESSIONS = Setting.of("TOPIC_SESSIONS", "tokenpipe.sessions",
            "Compacted topic of created sessions.");
    public static final Setting PROMPTS = Setting.of("TOPIC_PROMPTS", "tokenpipe.prompts",
            "Topic of submitted prompts (turns), consumed by inference workers.");
    public static final Setting STREAM = Setting.of("TOPIC_STREAM", "tokenpipe.stream",
            "Topic of turn events (started, token chunks, completed, failed) that clients stream.");
    public static final Setting TURNS = Setting.of("TOPIC_TURNS", "tokenpipe.turns",
            "Topic of turn boundaries (where each turn's start and end lie in the stream topic), written with the events; read by the session index.");
    public static final Setting CONTROL = Setting.of("TOPIC_CONTROL", "tokenpipe.control",
            "Topic of control requests (turn cancellations), read in full by every worker.");
    public static final Setting PARTITIONS = Setting.of("TOPIC_PARTITIONS", "6",
            "Partitions of each topic when tokenpipe creates it. Fixed for the topic's life: a session's partition is hash(session id) mod this count.");
    public static final Setting REPLICATION_FACTOR = Setting.of("TOPIC_REPLICATION_FACTOR", "-1",
            "Replication factor for created topics; -1 uses the broker's default.replication.factor.");
    public static final Setting PROMPTS_RETENTION_MS = Setting.of("TOPIC_PROMPTS_RETENTION_MS", "604800000",
            "Retention of the prompts topic (default 7 days).");
    public static final Setting STREAM_RETENTION_MS = Setting.of("TOPIC_STREAM_RETENTION_MS", "604800000",
            "Retention of the stream topic (default 7 days): how long sessions can be resumed and replayed.");

    public static final Setting AUDIT_TRAIL = Setting.of("TOPIC_AUDIT_TRAIL", "tokenpipe.audit-trail",
            "Append-only topic of the access trail: one record per audit read (search, transcript, replay), who made it and when.");
    public static final Setting AUDIT_TRAIL_RETENTION_MS = Setting.of("TOPIC_AUDIT_TRAIL_RETENTION_MS", "-1",
            "Retention of the access trail topic; -1 (the default) keeps it forever.");

    public static final List<Setting> SETTINGS = List.of(SESSIONS, PROMPTS, STREAM, TURNS, CONTROL, PARTITIONS, REPLICATION_FACTOR,
            PROMPTS_RETENTION_MS, STREAM_RETENTION_MS, AUDIT_TRAIL, AUDIT_TRAIL_RETENTION_MS);

    public static Topics from(Env env) {
        int rf = env.integer(REPLICATION_FACTOR);
        if (rf == 0 || rf < -1 || rf > Short.MAX_VALUE) {
            throw new io.tokenpipe.common.config.ConfigException(
                    REPLICATION_FACTOR.name() + " must be -1 or a positive number, got " + rf);
        }
        if (env.longValue(AUDIT_TRAIL_RETENTION_MS) < -1) {
            throw new io.tokenpipe.common.config.ConfigException(AUDIT_TRAIL_RETENTION_MS.name() + " must be -1 or more");
        }
        return new Topics(env.required(SESSIONS), env.required(PROMPTS), env.required(STREAM), env.required(TURNS),
                env.required(CONTROL),
                env.positiveInteger(PARTITIONS), (short) rf,
                env.millis(PROMPTS_RETENTION_MS), env.millis(STREAM_RETENTION_MS), env.required(AUDIT_TRAIL),
                Duration.ofMillis(env.longValue(AUDIT_TRAIL_RETENTION_MS)));
    }

    public static Topics defaults() {
        return from(Env.of(java.util.Map.of()));
    }

    /** The same topics under other names: lets tests run isolated from each other on one broker. */
    public Topics withPrefix(String prefix) {
        return new Topics(prefix + sessions, prefix + prompts, prefix + stream, prefix + turns, prefix + control, partitions,
                replicationFactor, promptsRetention, streamRetention, prefix + auditTrail, auditTrailRetention);
    }

    public Topics withPartitions(int count) {
        return new Topics(sessions, prompts, stream, turns, control, count, replicationFactor, promptsRetention,
                streamRetention, auditTrail, auditTrailRetention);
    }

    /** The co-partitioned topics: a session lives on the same partition number in each. */
    public List<String> all() {
        return List.of(sessions, prompts, stream, turns);
    }

    /** What the session index reads: everything about sessions except the token chunks. */
    public List<String> indexed() {
        return List.of(sessions, prompts, turns);
    }
}
