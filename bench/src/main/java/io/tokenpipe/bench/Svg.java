package io.tokenpipe.bench;

import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A hand-written SVG percentile plot: x = percentile on a log scale of 1/(1-p) (50, 90, 99, 99.9,
 * 99.99), y = latency in milliseconds, one line per series, an optional dashed target line.
 */
final class Svg {

    private static final String[] COLOURS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
    private static final double[] TICKS = {50, 90, 99, 99.9, 99.99};
    private static final String[] TICK_LABELS = {"50", "90", "99", "99.9", "99.99"};

    /** Value to pixel on the y axis, linear or logarithmic. */
    private record Scale(boolean log, double min, double max, int top, int height) {
        double of(double v) {
            double f;
            if (log) {
                double c = Math.max(min, Math.min(max, v));
                f = (Math.log10(c) - Math.log10(min)) / (Math.log10(max) - Math.log10(min));
            } else {
                f = Math.min(v, max) / max;
            }
            return top + height - f * height;
        }
    }

    private Svg() {
    }

    static String percentilePlot(String title, String subtitle, Map<String, Histogram> series, double targetMs,
                                 String targetLabel) {
        int width = 860;
        int height = 520;
        int left = 80;
        int right = 180;
        int top = 70;
        int bottom = 70;
        int plotW = width - left - right;
        int plotH = height - top - bottom;
        double xMin = Math.log10(2); // p50
        double xMax = 4;             // p99.99

        // The curves: 80 points from p50 to p99.99.
        Map<String, List<double[]>> curves = new java.util.LinkedHashMap<>();
        double yMaxData = 0;
        for (Map.Entry<String, Histogram> e : series.entrySet()) {
            List<double[]> points = new ArrayList<>();
            Histogram h = e.getValue();
            if (h.getTotalCount() == 0) {
                continue;
            }
            for (int i = 0; i <= 80; i++) {
                double x = xMin + (xMax - xMin) * i / 80.0;
                double p = 100 * (1 - Math.pow(10, -x));
                double ms = h.getValueAtPercentile(p) / 1000.0;
                points.add(new double[] {x, ms});
                yMaxData = Math.max(yMaxData, ms);
            }
            curves.put(e.getKey(), points);
        }
        double yMinData = Double.MAX_VALUE;
        for (List<double[]> points : curves.values()) {
            for (double[] pt : points) {
                if (pt[1] > 0) {
                    yMinData = Math.min(yMinData, pt[1]);
                }
            }
        }
        if (targetMs > 0) {
            yMaxData = Math.max(yMaxData, targetMs * 1.1);
            yMinData = Math.min(yMinData, targetMs);
        }
        // Log scale when the series differ by orders of magnitude (kafka vs direct), else linear.
        boolean log = yMinData != Double.MAX_VALUE && yMaxData / yMinData > 20;
        double yMin;
        double yMax;
        if (log) {
            yMin = Math.pow(10, Math.floor(Math.log10(Math.max(0.01, yMinData))));
            yMax = Math.pow(10, Math.ceil(Math.log10(yMaxData)));
        } else {
            yMin = 0;
            yMax = niceCeil(yMaxData);
            if (yMax <= 0) {
                yMax = 1;
            }
        }
        Scale y = new Scale(log, yMin, yMax, top, plotH);

        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                        + "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">%n", width, height, width, height));
        s.append(String.format("<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"28\" font-size=\"17\" font-weight=\"bold\">%s</text>%n",
                left, esc(title)));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"48\" fill=\"#555\">%s</text>%n", left, esc(subtitle)));

        // Grid and y ticks.
        List<Double> yTicks = new ArrayList<>();
        if (log) {
            for (double decade = yMin; decade <= yMax * 1.0001; decade *= 10) {
                yTicks.add(decade);
                if (decade * 10 <= yMax * 1.0001) {
                    // minor grid lines at 2x and 5x
                    for (double m : new double[] {2, 5}) {
                        double v = decade * m;
                        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#f2f2f2\"/>%n",
                                left, y.of(v), left + plotW, y.of(v)));
                    }
                }
            }
        } else {
            double step = niceStep(yMax / 6);
            for (double v = 0; v <= yMax + 1e-9; v += step) {
                yTicks.add(v);
            }
        }
        for (double v : yTicks) {
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>%n",
                    left, y.of(v), left + plotW, y.of(v)));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n",
                    left - 8, y.of(v) + 4, fmtAxis(v)));
        }
        // x ticks.
        for (double p : TICKS) {
            double x = left + (Math.log10(1 / (1 - p / 100)) - xMin) / (xMax - xMin) * plotW;
            s.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>%n",
                    x, top, x, top + plotH));
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
                    x, top + plotH + 20, TICK_LABELS[java.util.Arrays.binarySearch(TICKS, p)]));
        }
        // Axes.
        s.append(String.format("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
                left, top + plotH, left + plotW, top + plotH));
        s.append(String.format("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
                left, top, left, top + plotH));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">percentile (log scale)</text>%n",
                left + plotW / 2, height - 22));
        s.append(String.format(Locale.ROOT,
                "<text x=\"20\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 20 %d)\">latency (ms%s)</text>%n",
                top + plotH / 2, top + plotH / 2, log ? ", log scale" : ""));

        if (targetMs > 0) {
            double ty = y.of(targetMs);
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#888\" "
                    + "stroke-dasharray=\"6 4\"/>%n", left, ty, left + plotW, ty));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" fill=\"#666\">%s</text>%n",
                    left + plotW + 8, ty + 4, esc(targetLabel)));
        }

        int i = 0;
        // The legend sits inside the plot, top left, where latency curves rarely are.
        s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"190\" height=\"%d\" fill=\"white\" "
                + "fill-opacity=\"0.85\" stroke=\"#ccc\"/>%n", left + 10, top + 8, 12 + 22 * curves.size()));
        int legendY = top + 26;
        for (Map.Entry<String, List<double[]>> e : curves.entrySet()) {
            String colour = COLOURS[i++ % COLOURS.length];
            StringBuilder path = new StringBuilder();
            for (double[] pt : e.getValue()) {
                double x = left + (pt[0] - xMin) / (xMax - xMin) * plotW;
                path.append(path.isEmpty() ? "M" : " L").append(String.format(Locale.ROOT, "%.1f %.1f", x, y.of(pt[1])));
            }
            s.append(String.format("<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\"/>%n", path, colour));
            // Labels at the tick percentiles.
            Histogram h = series.get(e.getKey());
            for (double p : TICKS) {
                double ms = h.getValueAtPercentile(p) / 1000.0;
                double x = left + (Math.log10(1 / (1 - p / 100)) - xMin) / (xMax - xMin) * plotW;
                double py = y.of(ms);
                boolean last = p == TICKS[TICKS.length - 1];
                s.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>%n", x, py, colour));
                s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\"%s>%s</text>%n",
                        last ? x - 6 : x + 5, py - 7, colour, last ? " text-anchor=\"end\"" : "", fmt(ms)));
            }
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>%n",
                    left + 20, legendY - 4, colour));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s (n=%,d)</text>%n",
                    left + 40, legendY + 2, esc(e.getKey()), h.getTotalCount()));
            legendY += 22;
        }
        s.append("</svg>\n");
        return s.toString();
    }

    private static double niceCeil(double v) {
        if (v <= 0) {
            return 0;
        }
        double step = niceStep(v / 6);
        return Math.ceil(v / step) * step;
    }

    private static double niceStep(double raw) {
        if (raw <= 0) {
            return 1;
        }
        double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
        double r = raw / magnitude;
        double nice = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
        return nice * magnitude;
    }

    private static String fmtAxis(double v) {
        if (v >= 1000) {
            return String.format(Locale.ROOT, "%,.0f", v);
        }
        return fmt(v);
    }

    private static String fmt(double v) {
        if (Math.abs(v) >= 1000) {
            return String.format(Locale.ROOT, "%,.0f", v);
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e6) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        if (v >= 10) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        return String.format(Locale.ROOT, "%.2f", v).replaceAll("0+$", "").replaceAll("\\.$", "");
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
