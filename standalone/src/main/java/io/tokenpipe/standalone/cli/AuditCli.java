package io.tokenpipe.standalone.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The auditors' terminal tools, over the HTTP API: {@code sessions} (search), {@code transcript ID}
 * and {@code replay ID [--pace original|<speed>]}. Run through {@code ./tokenpipe sessions …}. The API
 * key comes from {@code --key} or {@code TOKENPIPE_API_KEY} (never printed), the server from
 * {@code --url} or {@code TOKENPIPE_URL} (default http://localhost:8080).
 */
public final class AuditCli {

    static final String USAGE = """
            Usage: tokenpipe sessions [--from ISO-TIME] [--to ISO-TIME] [--metadata KEY=VALUE]... [--model M]
                                      [--status queued|running|completed|failed] [--limit N] [--json]
                   tokenpipe transcript SESSION_ID [--no-events]
                   tokenpipe replay SESSION_ID [--pace original|SPEED] [--max-gap-ms N] [--raw]
            Common: --url URL (or TOKENPIPE_URL; default http://localhost:8080)
                    --key KEY (or TOKENPIPE_API_KEY: a key with the audit scope)
            """;

    private final PrintStream out;
    private final PrintStream err;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private String url;
    private String key;

    AuditCli(Map<String, String> env, PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
        this.url = env.getOrDefault("TOKENPIPE_URL", "http://localhost:8080");
        this.key = env.get("TOKENPIPE_API_KEY");
    }

    public static void main(String[] args) {
        System.exit(new AuditCli(System.getenv(), System.out, System.err).run(args));
    }

    /** Runs one command; the exit status: 0 done, 1 the server refused or failed, 2 bad usage. */
    int run(String[] args) {
        List<String> rest = new ArrayList<>();
        Map<String, List<String>> options = new java.util.LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.startsWith("--")) {
                String name = arg.substring(2);
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) { // --name=value
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                } else if (!FLAGS.contains(name)) {
                    if (i + 1 >= args.length) {
                        return usage("--" + name + " needs a value");
                    }
                    value = args[++i];
                }
                options.computeIfAbsent(name, n -> new ArrayList<>()).add(value);
            } else {
                rest.add(arg);
            }
        }
        if (options.containsKey("url")) {
            url = options.remove("url").getFirst();
        }
        if (options.containsKey("key")) {
            key = options.remove("key").getFirst();
        }
        if (rest.isEmpty() || options.containsKey("help")) {
            out.print(USAGE);
            return rest.isEmpty() && !options.containsKey("help") ? 2 : 0;
        }
        if (key == null || key.isBlank()) {
            return usage("no API key: set TOKENPIPE_API_KEY or pass --key");
        }
        try {
            return switch (rest.getFirst()) {
                case "sessions" -> rest.size() == 1 ? sessions(options) : usage("sessions takes no arguments besides options");
                case "transcript" -> rest.size() == 2 ? transcript(rest.get(1), options) : usage("transcript SESSION_ID");
                case "replay" -> rest.size() == 2 ? replay(rest.get(1), options) : usage("replay SESSION_ID");
                default -> usage("unknown command " + rest.getFirst());
            };
        } catch (IOException e) {
            err.println("tokenpipe: cannot reach " + url + ": " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    private static final java.util.Set<String> FLAGS = java.util.Set.of("json", "no-events", "raw", "help");

    private int sessions(Map<String, List<String>> options) throws IOException, InterruptedException {
        StringBuilder query = new StringBuilder();
        boolean json = options.remove("json") != null;
        for (Map.Entry<String, List<String>> option : options.entrySet()) {
            for (String value : option.getValue()) {
                String name = option.getKey();
                if (name.equals("metadata")) {
                    int eq = value == null ? -1 : value.indexOf('=');
                    if (eq <= 0) {
                        return usage("--metadata KEY=VALUE");
                    }
                    name = "metadata." + value.substring(0, eq);
                    value = value.substring(eq + 1);
                } else if (!List.of("from", "to", "model", "status", "limit").contains(name)) {
                    return usage("sessions does not know --" + name);
                }
                query.append(query.isEmpty() ? "?" : "&").append(encode(name)).append('=').append(encode(value));
            }
        }
        String cursor = null;
        int count = 0;
        do {
            String path = "/v1/sessions" + query + (cursor == null ? "" : (query.isEmpty() ? "?" : "&") + "cursor=" + encode(cursor));
            HttpResponse<String> response = get(path);
            if (response.statusCode() != 200) {
                return refused(response);
            }
            JsonNode page = Json.read(response.body().getBytes(StandardCharsets.UTF_8), JsonNode.class);
            for (JsonNode session : page.path("sessions")) {
                count++;
                if (json) {
                    out.println(session);
                } else {
                    List<String> turns = new ArrayList<>();
                    session.path("turns").forEach(t -> turns.add(t.path("status").asText() + "/" + t.path("model").asText("?")));
                    out.println(session.path("created_at").asText() + "  " + session.path("session_id").asText() + "  "
                            + turns.size() + " turn(s) " + String.join(",", turns) + "  " + session.path("metadata"));
                }
            }
            JsonNode next = page.get("next_cursor");
            cursor = next == null || next.isNull() ? null : next.asText();
        } while (cursor != null);
        if (!json) {
            err.println(count + " session(s)");
        }
        return 0;
    }

    private int transcript(String sessionId, Map<String, List<String>> options) throws IOException, InterruptedException {
        String query = options.containsKey("no-events") ? "?events=false" : "";
        HttpResponse<String> response = get("/v1/sessions/" + encode(sessionId) + "/transcript" + query);
        if (response.statusCode() != 200) {
            return refused(response);
        }
        JsonNode transcript = Json.read(response.body().getBytes(StandardCharsets.UTF_8), JsonNode.class);
        out.println(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(transcript));
        return 0;
    }

    /**
     * Streams the session's replay; prints each turn's prompt and its answer as it arrives (at the
     * original pace with {@code --pace original}), or the raw Server-Sent Events with {@code --raw}.
     */
    private int replay(String sessionId, Map<String, List<String>> options) throws IOException, InterruptedException {
        StringBuilder query = new StringBuilder("?follow=false");
        if (options.containsKey("pace")) {
            query = new StringBuilder("?pace=").append(encode(options.get("pace").getFirst()));
        }
        if (options.containsKey("max-gap-ms")) {
            query.append("&max_gap_ms=").append(encode(options.get("max-gap-ms").getFirst()));
        }
        boolean raw = options.containsKey("raw");
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/v1/sessions/" + encode(sessionId) + "/events" + query))
                .header("Authorization", "Bearer " + key).header("Accept", "text/event-stream").GET().build();
        HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        if (response.statusCode() != 200) {
            try (InputStream body = response.body()) {
                return refused(response.statusCode(), new String(body.readAllBytes(), StandardCharsets.UTF_8));
            }
        }
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            String event = null;
            String line;
            while ((line = lines.readLine()) != null) {
                if (raw) {
                    out.println(line);
                    out.flush();
                    continue;
                }
                if (line.startsWith("event: ")) {
                    event = line.substring(7);
                } else if (line.startsWith("data: ") && event != null) {
                    show(event, Json.read(line.substring(6).getBytes(StandardCharsets.UTF_8), JsonNode.class));
                } else if (line.isEmpty()) {
                    event = null;
                }
            }
        }
        out.println();
        return 0;
    }

    private void show(String event, JsonNode data) {
        switch (event) {
            case "turn.started" -> {
                out.println();
                out.println("── turn " + data.path("turn_id").asText() + " (" + data.path("model").asText() + ", "
                        + data.path("worker_id").asText() + ")");
                for (JsonNode message : data.path("messages")) {
                    out.println(message.path("role").asText() + ": " + message.path("content").asText());
                }
                out.print("assistant: ");
            }
            case "token" -> out.print(data.path("text").asText());
            case "turn.resumed" -> out.print(" [resumed: " + data.path("reason").asText() + "] ");
            case "turn.completed" -> out.println(" [" + data.path("finish_reason").asText() + "]");
            case "turn.failed" -> out.println(" [failed: " + data.path("error").path("code").asText() + "]");
            case "pace" -> {
                if (data.path("capped").asBoolean()) {
                    out.print(" [… " + data.path("gap_ms").asLong() + " ms originally] ");
                }
            }
            default -> { }
        }
        out.flush();
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + key).GET().build();
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private int refused(HttpResponse<String> response) {
        return refused(response.statusCode(), response.body());
    }

    private int refused(int status, String body) {
        String message = body;
        try {
            JsonNode error = Json.read(body.getBytes(StandardCharsets.UTF_8), JsonNode.class).path("error");
            if (error.has("code")) {
                message = error.path("code").asText() + ": " + error.path("message").asText();
            }
        } catch (RuntimeException notJson) {
            // keep the raw body
        }
        err.println("tokenpipe: " + status + " " + message);
        return 1;
    }

    private int usage(String problem) {
        err.println("tokenpipe: " + problem);
        err.print(USAGE);
        return 2;
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
