package io.tokenpipe.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a cluster-mode run measured per process (CPU, and each delivery node's live-tail fetch during
 * the load) and, with --chaos, the faults injected and how the turns that crossed one fared against
 * the others.
 */
final class ClusterFigures {

    private static final double TICKS_PER_SECOND = 100;

    private final List<ClusterNode> nodes;
    private final Map<String, Long> ticksBefore;
    private final Map<String, long[]> fetchedBefore;
    private Map<String, Long> ticksAfter = Map.of();
    private Map<String, long[]> fetchedAfter = Map.of();
    private List<ChaosMonkey.Fault> faults;
    private long startMicros;
    private List<long[]> turnWindows = List.of();
    private long chunks;

    ClusterFigures(List<ClusterNode> nodes, Map<String, Long> ticksBefore, Map<String, long[]> fetchedBefore) {
        this.nodes = nodes;
        this.ticksBefore = ticksBefore;
        this.fetchedBefore = fetchedBefore;
    }

    void after(Map<String, Long> ticks, Map<String, long[]> fetched) {
        this.ticksAfter = ticks;
        this.fetchedAfter = fetched;
    }

    void faults(List<ChaosMonkey.Fault> faults) {
        this.faults = faults;
    }

    void load(LoadRun.Result r) {
        this.startMicros = r.startMicros;
        this.turnWindows = r.turnWindows;
        this.chunks = r.chunks;
    }

    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        List<Map<String, Object>> perNode = new ArrayList<>();
        for (ClusterNode n : nodes) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", n.name);
            row.put("role", n.role.label());
            row.put("cpu_seconds_load", round(cpuSeconds(n.name)));
            row.put("sigkills", n.kills());
            if (n.role == ClusterNode.Role.DELIVERY) {
                long[] f = fetched(n.name);
                row.put("tail_fetched_bytes_load", f[0]);
                row.put("tail_fetched_records_load", f[1]);
            }
            perNode.add(row);
        }
        m.put("nodes", perNode);
        if (faults != null) {
            Map<String, Object> chaos = new LinkedHashMap<>();
            chaos.put("faults_injected", faults.size());
            chaos.put("faults", faults.stream().map(f -> f.json(startMicros)).toList());
            Crossing c = crossing();
            chaos.put("turns_crossing_a_fault", c.crossed.length);
            chaos.put("turns_not_crossing", c.others.length);
            chaos.put("turn_seconds_crossing", summary(c.crossed, 0));
            chaos.put("turn_seconds_others", summary(c.others, 0));
            chaos.put("longest_token_gap_seconds_crossing", summary(c.crossed, 1));
            chaos.put("longest_token_gap_seconds_others", summary(c.others, 1));
            m.put("chaos", chaos);
        }
        return m;
    }

    String markdown() {
        StringBuilder md = new StringBuilder();
        md.append("| node | role | CPU s (load) | CPU µs / chunk delivered | SIGKILLs | tail fetched: MB / records |\n|---|---|---:|---:|---:|---|\n");
        for (ClusterNode n : nodes) {
            double cpu = cpuSeconds(n.name);
            String fetchedText = "";
            if (n.role == ClusterNode.Role.DELIVERY) {
                long[] f = fetched(n.name);
                fetchedText = f[0] < 0 ? "unknown" : String.format(Locale.ROOT, "%.1f / %,d", f[0] / 1048576.0, f[1]);
            }
            md.append(String.format(Locale.ROOT, "| %s | %s | %.1f | %s | %d | %s |%n", n.name, n.role.label(), cpu,
                    chunks == 0 ? "—" : Report.num(cpu * 1e6 / chunks), n.kills(), fetchedText));
        }
        md.append('\n');
        if (faults != null) {
            Crossing c = crossing();
            md.append(String.format(Locale.ROOT, "Faults injected: %d. Turns that crossed a fault: %d (the others: %d).%n%n",
                    faults.size(), c.crossed.length, c.others.length));
            md.append("| turns | turn time p50 / p99 / max (s) | longest wait between two tokens p50 / p99 / max (s) |\n|---|---|---|\n");
            md.append("| crossed a fault | ").append(text(summary(c.crossed, 0))).append(" | ").append(text(summary(c.crossed, 1))).append(" |\n");
            md.append("| the others | ").append(text(summary(c.others, 0))).append(" | ").append(text(summary(c.others, 1))).append(" |\n\n");
            md.append("| fault | node | at (s into the load) | node healthy again after (s) |\n|---|---|---:|---:|\n");
            for (ChaosMonkey.Fault f : faults) {
                Map<String, Object> j = f.json(startMicros);
                md.append("| ").append(f.kind()).append(" | ").append(f.node()).append(" | ").append(j.get("at_s"))
                        .append(" | ").append(j.get("back_after_s") == null ? "not back" : j.get("back_after_s")).append(" |\n");
            }
            md.append('\n');
        }
        return md.toString();
    }

    private double cpuSeconds(String node) {
        Long before = ticksBefore.get(node);
        Long after = ticksAfter.get(node);
        return before == null || after == null ? Double.NaN : (after - before) / TICKS_PER_SECOND;
    }

    private long[] fetched(String node) {
        long[] before = fetchedBefore.get(node);
        long[] after = fetchedAfter.get(node);
        if (before == null || after == null || before[0] < 0 || after[0] < 0) {
            return new long[] {-1, -1};
        }
        // A node restarted during the load starts its counters again from zero.
        return after[0] >= before[0] ? new long[] {after[0] - before[0], after[1] - before[1]} : after;
    }

    /** Per completed turn {duration, longest token gap} in seconds, split by whether a fault fell within it. */
    private record Crossing(double[][] crossed, double[][] others) {
    }

    private Crossing crossing() {
        List<double[]> crossed = new ArrayList<>();
        List<double[]> others = new ArrayList<>();
        for (long[] w : turnWindows) {
            boolean hit = false;
            for (ChaosMonkey.Fault f : faults) {
                // A fault matters from the kill until the node is back (or for good, if it never was).
                long end = f.backMicros() > 0 ? f.backMicros() : Long.MAX_VALUE;
                hit |= f.atMicros() <= w[1] && end >= w[0];
            }
            (hit ? crossed : others).add(new double[] {(w[1] - w[0]) / 1e6, w[2] / 1e6});
        }
        return new Crossing(crossed.toArray(double[][]::new), others.toArray(double[][]::new));
    }

    private static Map<String, Object> summary(double[][] rows, int column) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", rows.length);
        if (rows.length > 0) {
            double[] v = Arrays.stream(rows).mapToDouble(r -> r[column]).sorted().toArray();
            m.put("p50", round(v[(int) Math.min(v.length - 1, Math.floor(v.length * 0.50))]));
            m.put("p99", round(v[(int) Math.min(v.length - 1, Math.floor(v.length * 0.99))]));
            m.put("max", round(v[v.length - 1]));
        }
        return m;
    }

    private static String text(Map<String, Object> s) {
        return s.get("p50") == null ? "—" : s.get("p50") + " / " + s.get("p99") + " / " + s.get("max");
    }

    private static double round(double v) {
        return Double.isNaN(v) ? v : Math.round(v * 1000) / 1000.0;
    }
}
