package io.tokenpipe.index;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Settings of the session index, which every HTTP node (ingest-api, delivery-sse) runs a member of.
 *
 * @param advertisedHost the host name other nodes use to reach this node's HTTP port for index lookups
 */
public record IndexSettings(
        String applicationId,
        Path stateDir,
        String advertisedHost,
        Duration lookupTimeout,
        Duration sessionTimeout,
        int standbyReplicas) {

    public static final Setting APPLICATION_ID = Setting.of("INDEX_APPLICATION_ID", "tokenpipe-session-index",
            "Kafka Streams application id of the session index; every ingest-api and delivery-sse node of one deployment shares it.");
    public static final Setting STATE_DIR = Setting.of("STATE_DIR", "tokenpipe-state",
            "Directory for the session index's local state (RocksDB); keep it on a volume to restart quickly.");
    public static final Setting ADVERTISED_HOST = Setting.of("ADVERTISED_HOST", "localhost",
            "Host name under which other nodes reach this node's HTTP port (for index lookups). In containers, the container's host name.");
    public static final Setting LOOKUP_TIMEOUT_MS = Setting.of("INDEX_LOOKUP_TIMEOUT_MS", "5000",
            "How long a request waits for the session index (while it starts or rebalances) before answering 503.");
    public static final Setting SESSION_TIMEOUT_MS = Setting.of("INDEX_SESSION_TIMEOUT_MS", "10000",
            "Kafka group session timeout of the index: how soon a vanished node's share of the index moves to another.");
    public static final Setting STANDBY_REPLICAS = Setting.of("INDEX_STANDBY_REPLICAS", "0",
            "Warm standby copies of each index partition on other nodes, for faster fail-over.");

    public static final List<Setting> SETTINGS = List.of(APPLICATION_ID, STATE_DIR, ADVERTISED_HOST,
            LOOKUP_TIMEOUT_MS, SESSION_TIMEOUT_MS, STANDBY_REPLICAS);

    public static IndexSettings from(Env env) {
        return new IndexSettings(env.required(APPLICATION_ID), Path.of(env.required(STATE_DIR)),
                env.required(ADVERTISED_HOST), env.millis(LOOKUP_TIMEOUT_MS), env.millis(SESSION_TIMEOUT_MS),
                env.integer(STANDBY_REPLICAS));
    }
}
