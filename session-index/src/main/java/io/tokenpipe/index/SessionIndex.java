package io.tokenpipe.index;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.common.kafka.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.errors.StreamsException;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * This node's member of the session index (a Kafka Streams application shared by every HTTP node).
 * Each member holds the sessions of some partitions; {@link #lookup} answers from the local store
 * when this node holds the session's partition and asks the node that does otherwise.
 */
public final class SessionIndex implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(SessionIndex.class);
    private static final Serializer<String> KEYS = Serdes.String().serializer();
    static final String ROUTE = "/internal/v1/session-index/";
    static final String FIND_ROUTE = "/internal/v1/session-search";
    /**
     * Sessions one search examines per partition at most: a filter that matches rarely answers a
     * short page with a cursor instead of walking a partition's whole history in one request.
     */
    static final int EXAMINE_LIMIT = 5_000;

    private final KafkaSettings kafka;
    private final Topics topics;
    private final IndexSettings settings;
    private final IndexProgress progress = new IndexProgress();
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();
    private final Supplier<String> nodeAuthorization;
    private volatile KafkaStreams streams;
    private volatile HostInfo self;
    private Admin admin;
    private volatile EndOffsets endOffsets;
    private volatile int partitionCount;

    public SessionIndex(KafkaSettings kafka, Topics topics, IndexSettings settings) {
        this(kafka, topics, settings, () -> null);
    }

    /**
     * @param nodeAuthorization the {@code Authorization} header this node sends with its lookups to
     *                          other nodes (their index route is not public); {@code null} for none
     */
    public SessionIndex(KafkaSettings kafka, Topics topics, IndexSettings settings, Supplier<String> nodeAuthorization) {
        this.kafka = kafka;
        this.topics = topics;
        this.settings = settings;
        this.nodeAuthorization = nodeAuthorization;
    }

    /** Joins the index; {@code httpPort} is where this node serves lookups to the other nodes. */
    public synchronized void start(int httpPort) {
        if (streams != null) {
            throw new IllegalStateException("already started");
        }
        self = new HostInfo(settings.advertisedHost(), httpPort);
        admin = Admin.create(kafka.admin());
        endOffsets = new EndOffsets(admin, settings.lookupTimeout());
        StreamsConfig config = new StreamsConfig(streamsConfig(httpPort));
        KafkaStreams created = new KafkaStreams(IndexTopology.build(topics, progress, config), config);
        created.setUncaughtExceptionHandler(e -> {
            log.error("session index thread failed; replacing it", e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        created.start();
        streams = created;
        log.info("session index member {} started (application {})", self, settings.applicationId());
    }

    /** Waits until the index has finished its first assignment and restoration. */
    public void awaitRunning(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!running()) {
            if (System.nanoTime() > deadline) {
                throw new IndexUnavailableException("session index not running after " + timeout
                        + " (state " + (streams == null ? "NOT_STARTED" : streams.state()) + ")");
            }
            pause(20);
        }
    }

    public boolean running() {
        KafkaStreams s = streams;
        return s != null && s.state() == KafkaStreams.State.RUNNING;
    }

    /**
     * Looks a session up, on this node or on the node that holds it.
     *
     * @param fresh wait until the index has seen everything written to the session's partition of the
     *              sessions and prompts topics before this call (read-your-writes across nodes)
     * @throws IndexUnavailableException if no answer came within the lookup timeout
     */
    public IndexAnswer lookup(String sessionId, boolean fresh) {
        long deadline = System.nanoTime() + settings.lookupTimeout().toNanos();
        RuntimeException last = null;
        long backoff = 10;
        while (true) {
            KafkaStreams s = streams;
            if (s != null) {
                try {
                    KeyQueryMetadata owner = s.queryMetadataForKey(IndexTopology.SESSIONS_STORE, sessionId, KEYS);
                    if (owner != null && !KeyQueryMetadata.NOT_AVAILABLE.equals(owner)) {
                        if (owner.activeHost().equals(self)) {
                            return lookupLocal(sessionId, owner.partition(), fresh, deadline);
                        }
                        IndexAnswer remote = lookupRemote(owner.activeHost(), sessionId, fresh);
                        if (remote != null) {
                            return remote;
                        }
                    }
                } catch (InvalidStateStoreException | IndexUnavailableException | IllegalStateException e) {
                    last = e;
                } catch (StreamsException e) {
                    last = e;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IndexUnavailableException("session index did not answer within " + settings.lookupTimeout(), last);
            }
            pause(backoff);
            backoff = Math.min(backoff * 2, 200);
        }
    }

    /**
     * A session that must exist, for request handlers: 404 {@code session_not_found} when it does not,
     * 503 {@code index_unavailable} when the index cannot tell right now.
     *
     * <p>Sessions are never removed, so a session the index already holds exists: that answer needs
     * no waiting. Only a miss is checked again with a fresh lookup, which waits until the index has
     * seen everything written before the question: "unknown" is never said of a session created a
     * moment ago. The turns in the answer may lag the log by the index's processing delay; callers
     * read the log itself from {@link IndexAnswer#streamNextOffset()} on.
     */
    public IndexAnswer existing(String sessionId) {
        return existing(sessionId, false);
    }

    /**
     * As {@link #existing(String)}; with {@code fresh}, the answer always reflects everything written
     * to the session before the call (for checks that a stale answer would get wrong, such as an
     * idempotency key seen a moment ago).
     */
    public IndexAnswer existing(String sessionId, boolean fresh) {
        IndexAnswer answer;
        try {
            answer = lookup(sessionId, fresh);
            if (!answer.exists() && !fresh) {
                answer = lookup(sessionId, true);
            }
        } catch (IndexUnavailableException e) {
            throw ApiException.unavailable("index_unavailable", "the session index is not available right now; retry shortly");
        }
        if (!answer.exists()) {
            throw ApiException.notFound("session_not_found", "no session " + sessionId);
        }
        return answer;
    }

    /**
     * The sessions that match, from every node's share of the index: one page in creation order.
     * Each share answers from its sessions-by-creation store; a page is only returned when every
     * partition has answered (an audit must not miss sessions silently).
     *
     * @throws IndexUnavailableException if some partition did not answer within the lookup timeout
     */
    public SessionPage find(SessionQuery query) {
        long deadline = System.nanoTime() + settings.lookupTimeout().toNanos();
        RuntimeException last = null;
        long backoff = 10;
        while (true) {
            try {
                SessionPage page = findOnce(query);
                if (page != null) {
                    return page;
                }
            } catch (InvalidStateStoreException | IndexUnavailableException | IllegalStateException e) {
                last = e;
            } catch (StreamsException e) {
                last = e;
            }
            if (System.nanoTime() > deadline) {
                throw new IndexUnavailableException("not every partition of the session index answered within "
                        + settings.lookupTimeout(), last);
            }
            pause(backoff);
            backoff = Math.min(backoff * 2, 200);
        }
    }

    /** One round of asking every member; {@code null} when some partition had no answer. */
    private SessionPage findOnce(SessionQuery query) {
        KafkaStreams s = streams;
        if (s == null) {
            return null;
        }
        int total = partitionCount();
        List<PartitionMatches> answers = new ArrayList<>();
        Set<Integer> covered = new HashSet<>();
        for (StreamsMetadata member : s.streamsMetadataForStore(IndexTopology.CREATED_STORE)) {
            PartitionMatches answer = member.hostInfo().equals(self) ? findHere(query) : findRemote(member.hostInfo(), query);
            if (answer == null) {
                return null;
            }
            answers.add(answer);
            covered.addAll(answer.partitions());
        }
        return covered.size() < total ? null : merge(answers, query.limit());
    }

    /**
     * Merges the members' matches into one page. Where a member stopped examining a partition early,
     * matches beyond that key could be missing from the merge: the page ends there, and its cursor
     * continues from it.
     */
    static SessionPage merge(List<PartitionMatches> answers, int limit) {
        TreeMap<String, SessionRecord> all = new TreeMap<>();
        String bound = null;
        for (PartitionMatches answer : answers) {
            answer.matches().forEach(m -> all.putIfAbsent(m.key(), m.session()));
            if (answer.examinedUpTo() != null && (bound == null || answer.examinedUpTo().compareTo(bound) < 0)) {
                bound = answer.examinedUpTo();
            }
        }
        NavigableMap<String, SessionRecord> usable = bound == null ? all : all.headMap(bound, true);
        List<SessionRecord> page = new ArrayList<>();
        String lastKey = null;
        for (Map.Entry<String, SessionRecord> entry : usable.entrySet()) {
            if (page.size() == limit) {
                break;
            }
            page.add(entry.getValue());
            lastKey = entry.getKey();
        }
        String next = page.size() == limit ? CreationKey.cursor(lastKey) : bound != null ? CreationKey.cursor(bound) : null;
        return new SessionPage(page, next);
    }

    /** Searches the partitions this node holds; used by the internal route other nodes call. */
    PartitionMatches findHere(SessionQuery query) {
        KafkaStreams s = streams;
        if (s == null) {
            throw new IndexUnavailableException("session index not started");
        }
        List<Integer> mine = new ArrayList<>();
        for (StreamsMetadata member : s.streamsMetadataForStore(IndexTopology.CREATED_STORE)) {
            if (member.hostInfo().equals(self)) {
                member.topicPartitions().stream().filter(tp -> tp.topic().equals(topics.sessions()))
                        .forEach(tp -> mine.add(tp.partition()));
            }
        }
        List<PartitionMatches.Match> matches = new ArrayList<>();
        String examinedUpTo = null;
        String first = query.firstKey();
        String last = query.lastKey();
        if (first.compareTo(last) > 0) {
            return new PartitionMatches(matches, mine, null);
        }
        for (int partition : mine) {
            ReadOnlyKeyValueStore<String, String> byCreation = s.store(StoreQueryParameters
                    .fromNameAndType(IndexTopology.CREATED_STORE, QueryableStoreTypes.<String, String>keyValueStore())
                    .withPartition(partition));
            ReadOnlyKeyValueStore<String, SessionRecord> sessions = s.store(StoreQueryParameters
                    .fromNameAndType(IndexTopology.SESSIONS_STORE, QueryableStoreTypes.<String, SessionRecord>keyValueStore())
                    .withPartition(partition));
            int found = 0;
            int examined = 0;
            String lastExamined = null;
            try (KeyValueIterator<String, String> range = byCreation.range(first, last)) {
                while (range.hasNext() && found < query.limit()) {
                    if (examined == EXAMINE_LIMIT) {
                        examinedUpTo = examinedUpTo == null || lastExamined.compareTo(examinedUpTo) < 0 ? lastExamined : examinedUpTo;
                        break;
                    }
                    KeyValue<String, String> entry = range.next();
                    examined++;
                    lastExamined = entry.key;
                    SessionRecord session = sessions.get(entry.value);
                    if (session != null && query.matches(session)) {
                        matches.add(new PartitionMatches.Match(entry.key, session));
                        found++;
                    }
                }
            }
        }
        return new PartitionMatches(matches, mine, examinedUpTo);
    }

    /** Asks another member to search its partitions; {@code null} if it could not answer (yet). */
    private PartitionMatches findRemote(HostInfo member, SessionQuery query) {
        URI uri = URI.create("http://" + member.host() + ":" + member.port() + FIND_ROUTE);
        HttpRequest.Builder builder = HttpRequest.newBuilder(uri).timeout(settings.lookupTimeout())
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(Json.bytes(query)));
        String authorization = nodeAuthorization.get();
        if (authorization != null) {
            builder.header("Authorization", authorization);
        }
        try {
            HttpResponse<byte[]> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray());
            if (response.statusCode() == 200) {
                return Json.read(response.body(), PartitionMatches.class);
            }
            log.debug("index node {} answered {} to a search", member, response.statusCode());
            return null;
        } catch (IOException e) {
            log.debug("index node {} unreachable: {}", member, e.toString());
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IndexUnavailableException("interrupted", e);
        }
    }

    /** The partition count of the indexed topics (read once: it is fixed for the topics' life). */
    private int partitionCount() {
        int count = partitionCount;
        if (count == 0) {
            try {
                count = admin.describeTopics(List.of(topics.sessions())).allTopicNames()
                        .get(settings.lookupTimeout().toMillis(), TimeUnit.MILLISECONDS)
                        .get(topics.sessions()).partitions().size();
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                throw new IndexUnavailableException("cannot read the partition count from Kafka", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IndexUnavailableException("interrupted", e);
            }
            partitionCount = count;
        }
        return count;
    }

    /** Answers from this node's stores only; used by the internal route other nodes call. */
    IndexAnswer lookupHere(String sessionId, boolean fresh) {
        KafkaStreams s = streams;
        if (s == null) {
            throw new IndexUnavailableException("session index not started");
        }
        long deadline = System.nanoTime() + settings.lookupTimeout().toNanos();
        KeyQueryMetadata owner = s.queryMetadataForKey(IndexTopology.SESSIONS_STORE, sessionId, KEYS);
        if (owner == null || KeyQueryMetadata.NOT_AVAILABLE.equals(owner) || !owner.activeHost().equals(self)) {
            throw new IndexUnavailableException("this node does not hold session " + sessionId);
        }
        return lookupLocal(sessionId, owner.partition(), fresh, deadline);
    }

    private IndexAnswer lookupLocal(String sessionId, int partition, boolean fresh, long deadline) {
        if (fresh) {
            Map<TopicPartition, Long> targets = lastOffsets(partition);
            try {
                if (!progress.awaitProcessed(targets, deadline)) {
                    throw new IndexUnavailableException("session index is behind the log on partition " + partition);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IndexUnavailableException("interrupted", e);
            }
        }
        // The highest stream offset the index has seen marked, then the store: the indexer updates the
        // store before it advances progress, so the record read below accounts for every boundary at
        // or below it. Marks are written in stream order, so every event of the session before
        // streamNext belongs to a turn the record shows.
        long streamNext = progress.processed(new TopicPartition(topics.stream(), partition)) + 1;
        ReadOnlyKeyValueStore<String, SessionRecord> store = streams.store(StoreQueryParameters
                .fromNameAndType(IndexTopology.SESSIONS_STORE, QueryableStoreTypes.<String, SessionRecord>keyValueStore())
                .withPartition(partition));
        SessionRecord session = store.get(sessionId);
        return new IndexAnswer(session, partition, streamNext);
    }

    /**
     * The offsets of the last records now in the session's partition of the sessions and prompts
     * topics. Freshness is about those two (does the session exist, was this request seen); the
     * turns topic needs none: every answer is consistent with the marks it has seen (see lookupLocal),
     * and it is written in transactions, whose markers no processor ever sees as records.
     */
    private Map<TopicPartition, Long> lastOffsets(int partition) {
        Set<TopicPartition> partitions = Set.of(new TopicPartition(topics.sessions(), partition),
                new TopicPartition(topics.prompts(), partition));
        try {
            Map<TopicPartition, Long> targets = new HashMap<>();
            endOffsets.read(partitions).get(settings.lookupTimeout().toMillis(), TimeUnit.MILLISECONDS)
                    .forEach((tp, end) -> targets.put(tp, end - 1));
            return targets;
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IndexUnavailableException("cannot read end offsets from Kafka", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IndexUnavailableException("interrupted", e);
        }
    }

    /** Asks the node that holds the session; {@code null} if it could not answer (yet). */
    private IndexAnswer lookupRemote(HostInfo owner, String sessionId, boolean fresh) {
        URI uri = URI.create("http://" + owner.host() + ":" + owner.port() + ROUTE
                + URLEncoder.encode(sessionId, StandardCharsets.UTF_8) + "?fresh=" + fresh);
        HttpRequest.Builder builder = HttpRequest.newBuilder(uri).timeout(settings.lookupTimeout()).GET();
        String authorization = nodeAuthorization.get();
        if (authorization != null) {
            builder.header("Authorization", authorization);
        }
        HttpRequest request = builder.build();
        try {
            HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
            if (response.statusCode() == 200) {
                return Json.read(response.body(), IndexAnswer.class);
            }
            log.debug("index node {} answered {} for {}", owner, response.statusCode(), sessionId);
            return null;
        } catch (IOException e) {
            log.debug("index node {} unreachable: {}", owner, e.toString());
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IndexUnavailableException("interrupted", e);
        }
    }

    private Map<String, Object> streamsConfig(int httpPort) {
        Map<String, Object> config = new HashMap<>();
        kafka.clientProperties().forEach((name, value) -> {
            if (StreamsConfig.configDef().names().contains(name) || ConsumerConfig.configNames().contains(name)
                    || ProducerConfig.configNames().contains(name) || AdminClientConfig.configNames().contains(name)) {
                config.put(name, value);
            }
        });
        config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        config.put(StreamsConfig.APPLICATION_ID_CONFIG, settings.applicationId());
        config.put(StreamsConfig.APPLICATION_SERVER_CONFIG, settings.advertisedHost() + ":" + httpPort);
        config.put(StreamsConfig.STATE_DIR_CONFIG, settings.stateDir().toAbsolutePath().toString());
        config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        config.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, settings.standbyReplicas());
        config.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
        // By default a task waits to merge its partitions in timestamp order while any of them may have
        // data on the broker. The turns topic nearly always has a transaction open under load, so that
        // wait never ends and the index falls seconds behind. The indexer folds its inputs in any
        // order (SessionIndexer), so it processes whatever has arrived.
        config.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, -1L);
        config.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, true);
        // Workers' transactions fence a partition's previous owner; they do not hide marks, which are
        // final once acknowledged (KafkaSettings.STREAM_ISOLATION). A committed-only read would see
        // each mark only at its transaction's commit, seconds later.
        config.put(StreamsConfig.consumerPrefix(ConsumerConfig.ISOLATION_LEVEL_CONFIG), KafkaSettings.STREAM_ISOLATION);
        config.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
                (int) settings.sessionTimeout().toMillis());
        config.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
                (int) Math.max(250, settings.sessionTimeout().toMillis() / 4));
        return config;
    }

    @Override
    public synchronized void close() {
        KafkaStreams s = streams;
        if (s != null) {
            // Leave the group at once so another node takes this node's partitions without waiting
            // for the session timeout.
            s.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                    .withTimeout(Duration.ofSeconds(10)));
            streams = null;
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
            admin = null;
        }
    }

    public Topics topics() {
        return topics;
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IndexUnavailableException("interrupted", e);
        }
    }
}
