package io.tokenpipe.index;

import io.tokenpipe.common.event.JsonSerde;
import io.tokenpipe.common.kafka.Topics;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyConfig;
import org.apache.kafka.streams.state.Stores;

/**
 * The index's topology: the sessions, prompts and turns topics (never the token chunks of the
 * stream topic), read as one co-partitioned input into three stores per partition. Built apart from any running instance so that it can be tested
 * with Kafka Streams' TopologyTestDriver as well as on a broker.
 */
public final class IndexTopology {

    public static final String SESSIONS_STORE = "sessions";
    public static final String POSITIONS_STORE = "positions";
    /** Session ids by creation time ({@link CreationKey}): what auditors' searches walk. */
    public static final String CREATED_STORE = "sessions-by-creation";

    private IndexTopology() {
    }

    static Topology build(Topics topics, IndexProgress progress, StreamsConfig config) {
        Topology topology = new Topology(new TopologyConfig(config));
        topology.addSource("sessions-topic", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), topics.sessions());
        topology.addSource("prompts-topic", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), topics.prompts());
        topology.addSource("turns-topic", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), topics.turns());
        topology.addProcessor("indexer", () -> new SessionIndexer(topics, progress),
                "sessions-topic", "prompts-topic", "turns-topic");
        // Cached: the updates of a commit interval reach RocksDB and the changelog once per key.
        topology.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(SESSIONS_STORE),
                Serdes.String(), new JsonSerde<>(SessionRecord.class)).withCachingEnabled(), "indexer");
        // Written once per session, read in key ranges: RocksDB, uncached (nothing to merge).
        topology.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(CREATED_STORE),
                Serdes.String(), Serdes.String()), "indexer");
        // Rewritten on every record: kept in memory, and cached so that the changelog gets one write
        // per key per commit.
        topology.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(POSITIONS_STORE),
                Serdes.String(), Serdes.Long()).withCachingEnabled(), "indexer");
        return topology;
    }
}
