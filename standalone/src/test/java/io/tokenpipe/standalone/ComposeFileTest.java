package io.tokenpipe.standalone;

import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.kafka.KafkaSettings;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.delivery.DeliverySettings;
import io.tokenpipe.index.IndexSettings;
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.ingest.IngestSettings;
import io.tokenpipe.testing.ComposeFile;
import io.tokenpipe.worker.WorkerService;
import io.tokenpipe.worker.model.openai.BackendSettings;
import io.tokenpipe.worker.WorkerSettings;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Checks docker-compose.yml against what the services read (no broker, no Docker): every variable it
 * sets on a tokenpipe service is one that service reads, the wiring each needs is there, and the
 * worker can be scaled.
 */
class ComposeFileTest {

    /** The compose services that run tokenpipe, and the settings each reads. */
    private static final Map<String, List<Setting>> SERVICES = Map.of(
            "ingest-api", IngestService.SETTINGS,
            "inference-worker", WorkerService.SETTINGS,
            "delivery-sse", DeliveryService.SETTINGS);

    /** Read by the image's entry point (docker/entrypoint.sh) rather than by the service. */
    private static final Set<String> ENTRYPOINT_VARIABLES = Set.of("JAVA_OPTS");

    private static final String KAFKA_PREFIX = "KAFKA_";

    private static JsonNode compose;

    @BeforeAll
    static void readComposeFile() throws IOException {
        compose = parseYaml(Files.readString(repositoryRoot().resolve("docker-compose.yml")));
    }

    @Test
    void everyVariableSetOnAServiceIsReadByIt() {
        List<String> problems = unreadVariables(compose);
        assertTrue(problems.isEmpty(), "docker-compose.yml sets variables the service does not read:\n  "
                + String.join("\n  ", problems));
    }

    @Test
    void everyServiceReachesKafkaAndWaitsForIt() {
        for (String name : SERVICES.keySet()) {
            JsonNode service = service(compose, name);
            Map<String, String> env = environment(service);
            assertFalse(blank(env.get(KafkaSettings.BOOTSTRAP_SERVERS.name())),
                    name + ": " + KafkaSettings.BOOTSTRAP_SERVERS.name() + " must be set");
            JsonNode dependsOn = service.path("depends_on");
            assertTrue(dependsOn.has("kafka") || containsText(dependsOn, "kafka"), name + ": must depend on kafka");
            assertEquals("service_healthy", dependsOn.path("kafka").path("condition").asText(null),
                    name + ": must wait for kafka to be healthy (depends_on: kafka: condition: service_healthy)");
        }
        assertTrue(service(compose, "kafka").has("healthcheck"),
                "kafka needs a health check for condition: service_healthy");
    }

    @Test
    void everyServiceRunsItselfAndHasAHealthCheckOnItsOwnPort() {
        Map<String, Setting> httpPorts = Map.of(
                "ingest-api", IngestSettings.HTTP_PORT,
                "inference-worker", WorkerSettings.HTTP_PORT,
                "delivery-sse", DeliverySettings.HTTP_PORT);
        httpPorts.forEach((name, portSetting) -> {
            JsonNode service = service(compose, name);
            assertEquals(List.of(name), texts(service.path("command")),
                    name + ": command must be [\"" + name + "\"] (the image's entry point takes the service name)");

            String port = environment(service).getOrDefault(portSetting.name(), portSetting.defaultValue());
            JsonNode test = service.path("healthcheck").path("test");
            assertFalse(test.isMissingNode(), name + ": needs a healthcheck");
            List<String> command = texts(test);
            assertTrue(command.contains("/app/healthcheck.sh") && command.contains(port),
                    name + ": the health check must call /app/healthcheck.sh on " + portSetting.name() + " (" + port
                            + "), not " + command);
        });
    }

    @Test
    void httpPortsArePublishedAsTheServicesListenOnThem() {
        for (String name : List.of("ingest-api", "delivery-sse")) {
            Setting portSetting = name.equals("ingest-api") ? IngestSettings.HTTP_PORT : DeliverySettings.HTTP_PORT;
            JsonNode service = service(compose, name);
            String port = environment(service).getOrDefault(portSetting.name(), portSetting.defaultValue());
            List<String> containerPorts = new ArrayList<>();
            for (JsonNode entry : service.path("ports")) {
                containerPorts.add(containerPort(entry));
            }
            assertTrue(containerPorts.contains(port), name + " listens on " + portSetting.name() + "=" + port
                    + " but publishes container ports " + containerPorts);
        }
    }

    @Test
    void workersCanBeScaled() {
        JsonNode worker = service(compose, "inference-worker");
        assertFalse(worker.has("container_name"), "inference-worker: container_name prevents --scale");
        for (JsonNode entry : worker.path("ports")) {
            assertTrue(hostPort(entry).isEmpty(),
                    "inference-worker: a fixed host port prevents --scale: " + entry);
        }
    }

    @Test
    void theTestsContainerBrokerRunsTheComposeFilesKafkaImage() {
        // -Dtokenpipe.test.kafka=container takes its image from here (test-support's ComposeFile).
        assertEquals(service(compose, "kafka").path("image").asText(), ComposeFile.kafkaImage());
    }

    @Test
    void hostPortsAndPublicUrlsCanBeMovedTogether() {
        // ComposeStackIT runs a second stack on free host ports, beside one a developer may be running.
        assertEquals(List.of("${TOKENPIPE_INGEST_PORT:-8081}:8081"), texts(service(compose, "ingest-api").path("ports")));
        assertEquals(List.of("${TOKENPIPE_DELIVERY_PORT:-8082}:8082"), texts(service(compose, "delivery-sse").path("ports")));
        assertEquals("${TOKENPIPE_PUBLIC_DELIVERY_URL:-http://localhost:8082}",
                environment(service(compose, "ingest-api")).get(IngestSettings.STREAM_BASE_URL.name()));
        assertEquals("${TOKENPIPE_PUBLIC_INGEST_URL:-http://localhost:8081}",
                environment(service(compose, "delivery-sse")).get(DeliverySettings.WEB_INGEST_URL.name()));
    }

    // --- the checks can fail --------------------------------------------------------------------------

    @Test
    void reportsAVariableTheServiceDoesNotRead() throws IOException {
        JsonNode bogus = parseYaml("""
                services:
                  inference-worker:
                    environment:
                      - KAFKA_BOOTSTRAP_SERVERS=kafka:9092
                      - WORKER_HTTP_PORT=8083
                      - DELIVERY_HTTP_PORT=8082
                      - KAFKA_NOT_A_CLIENT_PROPERTY=1
                      - KAFKA_NUM_STREAM_THREADS=2
                      - KAFKA_SECURITY_PROTOCOL=PLAINTEXT
                      - JAVA_OPTS=-Xmx512m
                """);
        List<String> problems = unreadVariables(bogus);
        assertEquals(3, problems.size(), problems.toString());
        assertTrue(problems.get(0).contains("inference-worker") && problems.get(0).contains("DELIVERY_HTTP_PORT"),
                problems.get(0));
        assertTrue(problems.get(1).contains("KAFKA_NOT_A_CLIENT_PROPERTY"), problems.get(1));
        // num.stream.threads is a Kafka Streams property, and workers run no Streams app.
        assertTrue(problems.get(2).contains("KAFKA_NUM_STREAM_THREADS"), problems.get(2));
    }

    @Test
    void resolvesAnchorsAndMergeKeys() throws IOException {
        JsonNode doc = parseYaml("""
                x-kafka: &kafka
                  KAFKA_BOOTSTRAP_SERVERS: kafka:9092
                  TOPIC_PARTITIONS: 6
                x-index: &index
                  TOPIC_PARTITIONS: 12
                  INDEX_APPLICATION_ID: index
                x-health: &health
                  test: ["CMD", "/app/healthcheck.sh", "8082"]
                services:
                  delivery-sse:
                    environment:
                      <<: [*kafka, *index]
                      INDEX_APPLICATION_ID: mine
                      BOGUS: x
                    healthcheck: *health
                """);
        JsonNode service = service(doc, "delivery-sse");
        assertEquals(Map.of("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092", "TOPIC_PARTITIONS", "6",
                "INDEX_APPLICATION_ID", "mine", "BOGUS", "x"), environment(service),
                "explicit keys win over merged ones; earlier merged maps win over later ones");
        assertEquals(List.of("CMD", "/app/healthcheck.sh", "8082"), texts(service.path("healthcheck").path("test")));
        assertEquals(List.of("delivery-sse: BOGUS is not read by delivery-sse (not one of its settings)"),
                unreadVariables(doc));
    }

    // --- the check ----------------------------------------------------------------------------------------

    /** One message per variable set on a tokenpipe service that the service does not read. */
    static List<String> unreadVariables(JsonNode compose) {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, List<Setting>> entry : SERVICES.entrySet().stream()
                .sorted(Map.Entry.comparingByKey()).toList()) {
            String name = entry.getKey();
            JsonNode service = compose.path("services").path(name);
            if (service.isMissingNode()) {
                continue;
            }
            Set<String> settings = entry.getValue().stream().map(Setting::name).collect(Collectors.toSet());
            Set<String> clientProperties = kafkaClientProperties(entry.getValue());
            for (String variable : environment(service).keySet()) {
                if (settings.contains(variable) || ENTRYPOINT_VARIABLES.contains(variable)) {
                    continue;
                }
                if (name.equals("inference-worker") && BackendSettings.isBackendVariable(variable)) {
                    continue; // BACKEND_<NAME>_* of a model backend
                }
                if (variable.startsWith(KAFKA_PREFIX)) {
                    String property = variable.substring(KAFKA_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.');
                    if (!clientProperties.contains(property)) {
                        problems.add(name + ": " + variable + " is not read by " + name + " (Kafka client property '"
                                + property + "' is not a property of the Kafka clients it runs)");
                    }
                    continue;
                }
                problems.add(name + ": " + variable + " is not read by " + name + " (not one of its settings)");
            }
        }
        return problems;
    }

    /**
     * The properties KAFKA_* variables can set for a service (see {@link KafkaSettings}): every service
     * runs an admin client, producers and consumers get their own; the session index's Kafka Streams
     * app (ingest-api, delivery-sse) takes Streams properties as well.
     */
    private static Set<String> kafkaClientProperties(List<Setting> settings) {
        Set<String> names = new HashSet<>();
        names.addAll(AdminClientConfig.configNames());
        names.addAll(ProducerConfig.configNames());
        names.addAll(ConsumerConfig.configNames());
        if (settings.contains(IndexSettings.APPLICATION_ID)) {
            names.addAll(StreamsConfig.configDef().names());
        }
        return names;
    }

    // --- compose helpers -----------------------------------------------------------------------------

    private static JsonNode service(JsonNode compose, String name) {
        JsonNode service = compose.path("services").path(name);
        if (service.isMissingNode()) {
            fail("docker-compose.yml has no service '" + name + "'");
        }
        return service;
    }

    /** The environment block in either form: a map, or a list of {@code KEY=value} (or bare {@code KEY}). */
    static Map<String, String> environment(JsonNode service) {
        JsonNode block = service.path("environment");
        Map<String, String> env = new LinkedHashMap<>();
        if (block.isObject()) {
            block.properties().forEach(e -> env.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText()));
        } else if (block.isArray()) {
            for (JsonNode item : block) {
                String text = item.asText();
                int eq = text.indexOf('=');
                env.put(eq < 0 ? text : text.substring(0, eq), eq < 0 ? null : text.substring(eq + 1));
            }
        }
        return env;
    }

    /** The container port of a {@code ports} entry: "8081:8081", "127.0.0.1:8081:8081/tcp", "8083", or long form. */
    private static String containerPort(JsonNode entry) {
        if (entry.isObject()) {
            return entry.path("target").asText();
        }
        String spec = entry.asText().replaceFirst("/(tcp|udp|sctp)$", "");
        return spec.substring(spec.lastIndexOf(':') + 1);
    }

    /** The host port of a {@code ports} entry; empty when Docker picks one. */
    private static String hostPort(JsonNode entry) {
        if (entry.isObject()) {
            return entry.path("published").asText("");
        }
        String[] parts = entry.asText().replaceFirst("/(tcp|udp|sctp)$", "").split(":");
        return parts.length >= 2 ? parts[parts.length - 2] : "";
    }

    private static List<String> texts(JsonNode node) {
        List<String> out = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(n -> out.add(n.asText()));
        } else if (node.isTextual()) {
            out.addAll(List.of(node.asText().trim().split("\\s+")));
        }
        return out;
    }

    private static boolean containsText(JsonNode node, String text) {
        return texts(node).contains(text);
    }

    private static boolean blank(String value) {
        return value == null || value.isBlank();
    }

    /** The repository root: the nearest directory, from the working directory up, holding docker-compose.yml. */
    private static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("docker-compose.yml"))) {
                return dir;
            }
        }
        return fail("no docker-compose.yml in " + Path.of("").toAbsolutePath() + " or any directory above it");
    }

    // --- YAML with anchors, aliases and merge keys ---------------------------------------------------

    /**
     * Parses YAML into a tree, resolving what Jackson's YAML parser leaves to the caller: aliases
     * ({@code *name}) become copies of their anchored node ({@code &name}), and merge keys
     * ({@code <<: *name} or {@code <<: [*a, *b]}) copy the merged maps' entries that the mapping does
     * not set itself (earlier maps win over later ones), as docker compose does. Scalars become text.
     */
    static JsonNode parseYaml(String yaml) throws IOException {
        try (YAMLParser parser = new YAMLFactory().createParser(yaml)) {
            if (parser.nextToken() == null) {
                return JsonNodeFactory.instance.objectNode();
            }
            return readNode(parser, new HashMap<>());
        }
    }

    private static JsonNode readNode(YAMLParser parser, Map<String, JsonNode> anchors) throws IOException {
        JsonToken token = parser.currentToken();
        if (parser.isCurrentAlias()) {
            String name = parser.getText();
            JsonNode anchored = anchors.get(name);
            if (anchored == null) {
                throw new IOException("YAML alias *" + name + " refers to no anchor");
            }
            return anchored.deepCopy();
        }
        String anchor = parser.getObjectId();
        JsonNodeFactory nodes = JsonNodeFactory.instance;
        JsonNode node;
        switch (token) {
            case START_OBJECT -> {
                ObjectNode object = nodes.objectNode();
                List<JsonNode> merged = new ArrayList<>();
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    String field = parser.currentName();
                    parser.nextToken();
                    JsonNode value = readNode(parser, anchors);
                    if (field.equals("<<")) {
                        merged.add(value);
                    } else {
                        object.set(field, value);
                    }
                }
                for (JsonNode merge : merged) {
                    for (JsonNode source : merge.isArray() ? merge : nodes.arrayNode().add(merge)) {
                        if (!source.isObject()) {
                            throw new IOException("a merge key (<<) takes a mapping or a list of mappings, not " + source);
                        }
                        source.properties().forEach(e -> {
                            if (!object.has(e.getKey())) {
                                object.set(e.getKey(), e.getValue());
                            }
                        });
                    }
                }
                node = object;
            }
            case START_ARRAY -> {
                ArrayNode array = nodes.arrayNode();
                while (parser.nextToken() != JsonToken.END_ARRAY) {
                    array.add(readNode(parser, anchors));
                }
                node = array;
            }
            case VALUE_NULL -> node = nodes.nullNode();
            default -> node = nodes.textNode(parser.getText());
        }
        if (anchor != null) {
            anchors.put(anchor, node);
        }
        return node;
    }
}
