package io.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The server's own per-stage latency histograms ({@code GET /metrics/stages}), read before and after
 * the measured phase: the difference says where the measured tokens spent their time inside the
 * server, stage by stage, at no cost to the run (the server records every token anyway).
 */
final class ServerStages {

    private static final Map<String, String> DESCRIPTIONS = new LinkedHashMap<>();

    static {
        DESCRIPTIONS.put("writer_queue", "turn → partition writer sends it (the writer's queue)");
        DESCRIPTIONS.put("write_ack", "writer sends → broker's acknowledgement applied (producer, request, append)");
        DESCRIPTIONS.put("send_to_tail", "producer send (CreateTime, ms precision) → delivery's live tail reads it");
        DESCRIPTIONS.put("tail_to_socket", "live tail reads it → written and flushed to the client's socket");
    }

    private final long[] bounds;
    private final Map<String, long[]> counts;

    private ServerStages(long[] bounds, Map<String, long[]> counts) {
        this.bounds = bounds;
        this.counts = counts;
    }

    /** The server's histograms now; {@code null} when the server does not serve them. */
    static ServerStages read(HttpClient http, URI base) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/metrics/stages"))
                    .timeout(Duration.ofSeconds(5)).header("Authorization", BenchKey.authorization()).GET().build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return null;
            }
            JsonNode root = Json.MAPPER.readTree(r.body());
            long[] bounds = Json.MAPPER.convertValue(root.get("bucket_upper_micros"), long[].class);
            Map<String, long[]> counts = new LinkedHashMap<>();
            root.get("stages").properties().forEach(e -> counts.put(e.getKey(), Json.MAPPER.convertValue(e.getValue(), long[].class)));
            return new ServerStages(bounds, counts);
        } catch (IOException | RuntimeException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** What was recorded between {@code before} and this reading. */
    ServerStages since(ServerStages before) {
        Map<String, long[]> diff = new LinkedHashMap<>();
        counts.forEach((stage, now) -> {
            long[] then = before == null ? null : before.counts.get(stage);
            long[] d = new long[now.length];
            for (int i = 0; i < now.length; i++) {
                d[i] = now[i] - (then == null ? 0 : then[i]);
            }
            diff.put(stage, d);
        });
        return new ServerStages(bounds, diff);
    }

    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        counts.forEach((stage, c) -> {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("count", total(c));
            for (double q : new double[]{50, 90, 99, 99.9}) {
                p.put("p" + Report.num(q) + "_ms", micros(c, q) / 1000.0);
            }
            p.put("max_ms", micros(c, 100) / 1000.0);
            m.put(stage, p);
        });
        return m;
    }

    String markdown() {
        StringBuilder md = new StringBuilder("| stage (inside the server, every token) | tokens | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |\n"
                + "|---|---:|---:|---:|---:|---:|\n");
        DESCRIPTIONS.forEach((stage, what) -> {
            long[] c = counts.get(stage);
            if (c == null || total(c) == 0) {
                return;
            }
            md.append("| ").append(what).append(" | ").append(String.format(Locale.ROOT, "%,d", total(c)));
            for (double q : new double[]{50, 90, 99, 100}) {
                md.append(" | ").append(Report.num(micros(c, q) / 1000.0));
            }
            md.append(" |\n");
        });
        md.append("\nFrom the server's own histograms (`GET /metrics/stages`, buckets within 12.5%), the difference between "
                + "their readings before and after the measured phase.\n");
        return md.toString();
    }

    private long micros(long[] c, double percentile) {
        long total = total(c);
        if (total == 0) {
            return 0;
        }
        long rank = Math.max(1, (long) Math.ceil(percentile / 100.0 * total));
        long seen = 0;
        for (int i = 0; i < c.length; i++) {
            seen += c[i];
            if (seen >= rank) {
                return bounds[i];
            }
        }
        return bounds[bounds.length - 1];
    }

    private static long total(long[] c) {
        long t = 0;
        for (long v : c) {
            t += v;
        }
        return t;
    }
}
