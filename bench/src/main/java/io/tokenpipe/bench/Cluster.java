package io.tokenpipe.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * tokenpipe as separate processes on this machine, as docker-compose.yml runs it: a Kafka broker, one
 * ingest-api, {@code --workers} inference workers and {@code --delivery-nodes} delivery-sse nodes,
 * each its own JVM from the standalone jar. Clients are spread over the delivery nodes. Workers are
 * static group members with stable ids, so a worker killed and started again reclaims its partitions
 * at once (what the standalone launcher and an orchestrator with stable pod names do).
 */
final class Cluster implements SystemUnderTest {

    private final ClusterNode broker;
    private final ClusterNode ingest;
    private final List<ClusterNode> workers;
    private final List<ClusterNode> deliveries;
    private final Map<String, String> commonEnv;
    private final Path dataDir;
    private boolean keepData;

    private Cluster(ClusterNode broker, ClusterNode ingest, List<ClusterNode> workers, List<ClusterNode> deliveries,
                    Map<String, String> commonEnv, Path dataDir) {
        this.broker = broker;
        this.ingest = ingest;
        this.workers = workers;
        this.deliveries = deliveries;
        this.commonEnv = commonEnv;
        this.dataDir = dataDir;
    }

    /** Starts the broker and waits for it, then starts every service (see {@link #awaitHealthy}). */
    static Cluster start(BenchOptions o, Path outDir, int expectedStreams, int expectedTurns)
            throws IOException, InterruptedException {
        Path dataDir = Files.createTempDirectory("tokenpipe-bench-cluster-");
        Path jar = Bench.standaloneJar(o);
        int kafkaPort = freePort();
        ClusterNode broker = new ClusterNode("broker", ClusterNode.Role.BROKER, kafkaPort,
                javaCommand(o, jar, "io.tokenpipe.kafka.embedded.EmbeddedKafkaBroker",
                        dataDir.resolve("kafka").toString(), Integer.toString(kafkaPort)),
                Map.of(), outDir.resolve("cluster-broker.log"));
        List<ClusterNode> started = new ArrayList<>();
        try {
            broker.start();
            started.add(broker);
            try (HttpClient http = HttpClient.newHttpClient()) {
                broker.awaitReady(http, Duration.ofSeconds(120));
            }

            Map<String, String> env = new LinkedHashMap<>(ServerProcess.serviceEnv(o, expectedStreams, expectedTurns));
            env.put("KAFKA_BOOTSTRAP_SERVERS", "localhost:" + kafkaPort);
            env.put("TOPIC_PARTITIONS", Integer.toString(o.partitions));
            env.put("AUTH_TOKEN_SECRET", secret()); // one secret: ingest issues read tokens, delivery checks them
            env.put("ADVERTISED_HOST", "127.0.0.1");
            env.putAll(o.serverEnv);

            List<ClusterNode> deliveries = new ArrayList<>();
            for (int i = 1; i <= o.deliveryNodes; i++) {
                int port = freePort();
                Map<String, String> e = new LinkedHashMap<>(env);
                e.put("DELIVERY_HTTP_PORT", Integer.toString(port));
                e.put("STATE_DIR", dataDir.resolve("delivery-" + i).toString());
                deliveries.add(new ClusterNode("delivery-" + i, ClusterNode.Role.DELIVERY, port,
                        javaCommand(o, jar, "io.tokenpipe.delivery.DeliveryService"), e,
                        outDir.resolve("cluster-delivery-" + i + ".log")));
            }
            int ingestPort = freePort();
            Map<String, String> ingestEnv = new LinkedHashMap<>(env);
            ingestEnv.put("INGEST_HTTP_PORT", Integer.toString(ingestPort));
            ingestEnv.put("STATE_DIR", dataDir.resolve("ingest").toString());
            ingestEnv.put("STREAM_BASE_URL", deliveries.getFirst().base().toString());
            ClusterNode ingest = new ClusterNode("ingest", ClusterNode.Role.INGEST, ingestPort,
                    javaCommand(o, jar, "io.tokenpipe.ingest.IngestService"), ingestEnv, outDir.resolve("cluster-ingest.log"));
            List<ClusterNode> workers = new ArrayList<>();
            for (int i = 1; i <= o.workers; i++) {
                int port = freePort();
                Map<String, String> e = new LinkedHashMap<>(env);
                e.put("WORKER_HTTP_PORT", Integer.toString(port));
                e.put("WORKER_ID", "bench-worker-" + i);
                e.put("WORKER_GROUP_INSTANCE_ID", "bench-worker-" + i);
                e.put("STATE_DIR", dataDir.resolve("worker-" + i).toString());
                workers.add(new ClusterNode("worker-" + i, ClusterNode.Role.WORKER, port,
                        javaCommand(o, jar, "io.tokenpipe.worker.WorkerService"), e, outDir.resolve("cluster-worker-" + i + ".log")));
            }
            Cluster cluster = new Cluster(broker, ingest, workers, deliveries, env, dataDir);
            cluster.keepData = o.keepData;
            for (ClusterNode n : cluster.services()) {
                n.start();
                started.add(n);
            }
            return cluster;
        } catch (IOException | InterruptedException | RuntimeException e) {
            for (ClusterNode n : started.reversed()) {
                n.stop();
            }
            throw e;
        }
    }

    private static List<String> javaCommand(BenchOptions o, Path jar, String mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ServerProcess.javaBinary());
        for (String opt : o.serverJvmOpts.trim().split("\\s+")) {
            if (!opt.isEmpty()) {
                cmd.add(opt);
            }
        }
        cmd.add("-cp");
        cmd.add(jar.toString());
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static String secret() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return Base64.getEncoder().encodeToString(bytes);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        }
    }

    /** The tokenpipe processes, in start order: delivery nodes, ingest, workers. */
    List<ClusterNode> services() {
        List<ClusterNode> all = new ArrayList<>(deliveries);
        all.add(ingest);
        all.addAll(workers);
        return all;
    }

    List<ClusterNode> nodes() {
        List<ClusterNode> all = new ArrayList<>();
        all.add(broker);
        all.addAll(services());
        return all;
    }

    List<ClusterNode> workers() {
        return workers;
    }

    List<ClusterNode> deliveries() {
        return deliveries;
    }

    @Override
    public URI base() {
        return ingest.base();
    }

    @Override
    public List<InetSocketAddress> streamAddresses() {
        return deliveries.stream().map(d -> new InetSocketAddress("127.0.0.1", d.port)).toList();
    }

    @Override
    public URI metricsBase() {
        return deliveries.getFirst().base();
    }

    @Override
    public long pid() {
        return deliveries.getFirst().pid();
    }

    @Override
    public long cpuTicks() {
        long sum = 0;
        for (ClusterNode n : nodes()) {
            sum += n.cpuTicks();
        }
        return sum;
    }

    /** Each node's CPU ticks so far, by name. */
    Map<String, Long> ticksByNode() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (ClusterNode n : nodes()) {
            m.put(n.name, n.cpuTicks());
        }
        return m;
    }

    /**
     * What each delivery node has fetched of the stream topic so far: {bytes, records}, from the Kafka
     * client metrics on its /metrics ({-1, -1} when the node does not answer).
     */
    Map<String, long[]> fetchedByDelivery(HttpClient http) throws InterruptedException {
        String topic = commonEnv.getOrDefault("TOPIC_STREAM", "tokenpipe.stream");
        Map<String, long[]> m = new LinkedHashMap<>();
        for (ClusterNode d : deliveries) {
            long[] fetched = {-1, -1};
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(d.base().resolve("/metrics"))
                        .header("Authorization", BenchKey.authorization()).timeout(Duration.ofSeconds(5)).GET().build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    fetched[0] = sumOf(r.body(), "kafka_consumer_fetch_manager_bytes_consumed_total{", topic);
                    fetched[1] = sumOf(r.body(), "kafka_consumer_fetch_manager_records_consumed_total{", topic);
                }
            } catch (IOException e) {
                // a node being restarted: unknown
            }
            m.put(d.name, fetched);
        }
        return m;
    }

    /**
     * The sum of a Prometheus counter's per-topic series for one topic, over every consumer of the node.
     * (Kafka reports each topic metric twice, as "a.b" and "a_b": only the exact name counts.)
     */
    static long sumOf(String prometheusText, String prefix, String topic) {
        String tag = "topic=\"" + topic + "\"";
        double sum = 0;
        for (String line : prometheusText.split("\n")) {
            if (line.startsWith(prefix) && line.contains(tag)) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return (long) sum;
    }

    @Override
    public String kafkaBootstrap() {
        return "localhost:" + broker.port;
    }

    @Override
    public void awaitHealthy(HttpClient http, Duration timeout) throws InterruptedException {
        for (ClusterNode n : services()) {
            n.awaitReady(http, timeout);
        }
    }

    @Override
    public String jcmd(String... args) throws IOException, InterruptedException {
        return ServerProcess.jcmd(pid(), args);
    }

    @Override
    public Path log() {
        return deliveries.getFirst().log();
    }

    @Override
    public List<String> command() {
        return deliveries.getFirst().command();
    }

    @Override
    public Map<String, String> env() {
        Map<String, String> m = new LinkedHashMap<>(commonEnv);
        m.remove("AUTH_TOKEN_SECRET");
        m.put("cluster", "broker, ingest, " + workers.size() + " workers, " + deliveries.size() + " delivery nodes");
        return m;
    }

    /** Stops the services (delivery first, so streams end before the rest), then the broker; removes the data. */
    @Override
    public void close() {
        for (ClusterNode n : services()) {
            n.stop();
        }
        broker.stop();
        if (keepData) {
            System.err.println("bench: data kept in " + dataDir);
            return;
        }
        try (Stream<Path> files = Files.walk(dataDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }
}
