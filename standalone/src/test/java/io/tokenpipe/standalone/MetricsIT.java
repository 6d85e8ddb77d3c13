package io.tokenpipe.standalone;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.SharedKafka;
import io.tokenpipe.testing.SseEvent;
import io.tokenpipe.testing.SseTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /metrics} in the Prometheus text format after real traffic, every metric the provisioned
 * Grafana dashboard queries among them; the benchmark's JSON pages still where it reads them.
 */
class MetricsIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Path DASHBOARD = Path.of("docker", "observability", "grafana", "dashboards", "tokenpipe.json");
    /** An identifier in PromQL not followed by '(' (that would be a function). */
    private static final Pattern IDENTIFIER = Pattern.compile("(?<![\\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\\w(]|\\s*\\()");
    private static final Set<String> KEYWORDS = Set.of("by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "and", "or", "unless", "offset");

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;

    @BeforeAll
    static void start() throws Exception {
        stack = StackFixture.start(SharedKafka.freshTopics("metrics", 2), dataDir, Map.of());
        api = new ApiClient(stack.port());
        // Traffic that touches every histogram: a turn followed live, then a resume.
        String session = api.createSession();
        List<SseEvent> events;
        try (SseTestClient client = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events"))) {
            // Following before the turn exists: every event of it arrives live.
            api.submitPrompt(session, "{\"prompt\":\"measure me\",\"options\":{\"tokens\":10}}");
            events = client.awaitEvent(e -> e.event().equals("turn.completed"), WAIT);
        }
        try (SseTestClient resumed = SseTestClient.connect(api.uri("/v1/sessions/" + session + "/events?follow=false"),
                Map.of("Last-Event-ID", events.get(2).id()))) {
            resumed.awaitEnd(WAIT);
        }
    }

    @AfterAll
    static void stop() {
        stack.close();
    }

    @Test
    void metricsAreInThePrometheusTextFormatWithTheTurnsThatRan() {
        ApiClient.Response response = api.get("/metrics");
        assertEquals(200, response.status());
        assertTrue(response.header("Content-Type").startsWith("text/plain; version=0.0.4"), response.header("Content-Type"));
        String text = response.body();
        assertTrue(text.contains("# TYPE tokenpipe_turn_time_to_first_token_seconds histogram"), "TTFT is a histogram");
        assertTrue(value(text, "tokenpipe_turns_total{outcome=\"stop\"}") >= 1, "the turn was counted by outcome");
        assertTrue(value(text, "tokenpipe_tokens_total") >= 10, "its tokens were counted");
        assertTrue(value(text, "tokenpipe_turn_time_to_first_token_seconds_count") >= 1);
        assertTrue(value(text, "tokenpipe_turn_inter_token_gap_seconds_count") >= 9);
        assertTrue(value(text, "tokenpipe_stream_chunk_delivery_seconds_count") >= 1, "live chunks were timed to the socket");
        assertTrue(value(text, "tokenpipe_stream_resume_seconds_count") >= 1, "the resume was timed");
        assertTrue(value(text, "tokenpipe_turn_submit_seconds_count") >= 1, "the POST was timed");
        assertTrue(text.contains("tokenpipe_stage_latency_seconds_bucket{stage=\"tail_to_socket\""), "stages are exported");
    }

    @Test
    void everyMetricTheDashboardQueriesExists() throws IOException {
        String text = api.get("/metrics").body();
        Set<String> exported = new TreeSet<>();
        for (String line : text.split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                exported.add(line.split("[{ ]", 2)[0]);
            }
        }
        Set<String> queried = dashboardMetrics(Files.readString(repositoryRoot().resolve(DASHBOARD)));
        assertTrue(queried.size() >= 10, "the dashboard's queries were read: " + queried);
        List<String> missing = new ArrayList<>();
        for (String metric : queried) {
            if (!exported.contains(metric)) {
                missing.add(metric);
            }
        }
        assertTrue(missing.isEmpty(), "the dashboard queries metrics /metrics does not export: " + missing
                + "\nexported: " + exported);
    }

    @Test
    void theBenchmarksJsonPagesMovedButKeptTheirContent() {
        JsonNode runtime = api.get("/metrics/runtime").json();
        for (String field : List.of("heap_used_bytes", "rss_bytes", "threads", "process_cpu_seconds", "open_streams",
                "inflight_turns")) {
            assertTrue(runtime.has(field), field + " in " + runtime);
        }
        JsonNode stages = api.get("/metrics/stages").json();
        assertTrue(stages.get("stages").has("tail_to_socket"), stages.toString());
        assertEquals(stages.get("bucket_upper_micros").size(), stages.get("stages").get("tail_to_socket").size());
    }

    @Test
    void theDashboardParserFindsMetricsNotFunctionsOrLabels() {
        assertEquals(Set.of("a_bucket", "b_total", "c", "d"), dashboardMetrics("""
                {"panels":[{"targets":[
                  {"expr":"histogram_quantile(0.99, sum by (le, stage) (rate(a_bucket[$__rate_interval])))"},
                  {"expr":"sum by (outcome) (rate(b_total[5m])) + max(c{area=\\"heap\\"}) / max without (x) (d)"}]}]}
                """));
    }

    /** The metric names in every {@code expr} of the dashboard's panels. */
    static Set<String> dashboardMetrics(String dashboard) {
        Set<String> names = new TreeSet<>();
        JsonNode root = Json.read(dashboard, JsonNode.class);
        for (JsonNode panel : root.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                // Label matchers, ranges and grouping clauses name labels, not metrics: drop them first.
                String expr = target.path("expr").asText()
                        .replaceAll("\\{[^}]*\\}", "")
                        .replaceAll("\\[[^\\]]*\\]", "")
                        .replaceAll("\\b(by|without)\\s*\\([^)]*\\)", "");
                Matcher m = IDENTIFIER.matcher(expr);
                while (m.find()) {
                    if (!KEYWORDS.contains(m.group(1))) {
                        names.add(m.group(1));
                    }
                }
            }
        }
        return names;
    }

    /** The value of the sample whose line starts with {@code series} (its name and, if given, the start of its labels). */
    private static double value(String text, String series) {
        String prefix = series.endsWith("}") ? series.substring(0, series.length() - 1) : series;
        for (String line : text.split("\n")) {
            if (line.startsWith(prefix) && (line.charAt(prefix.length()) == ' ' || line.charAt(prefix.length()) == '{'
                    || line.charAt(prefix.length()) == ',' || line.charAt(prefix.length()) == '}')) {
                String[] parts = line.trim().split(" ");
                return Double.parseDouble(parts[parts.length - 1]);
            }
        }
        throw new AssertionError("no sample " + series + " in /metrics");
    }

    private static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.exists(dir.resolve("docker-compose.yml"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no docker-compose.yml above " + Path.of("").toAbsolutePath());
    }
}
