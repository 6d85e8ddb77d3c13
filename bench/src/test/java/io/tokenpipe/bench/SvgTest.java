package io.tokenpipe.bench;

import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SvgTest {

    @Test
    void aPercentilePlotIsWellFormedSvgWithOneLinePerSeries() throws Exception {
        Random random = new Random(1);
        Histogram slow = LoadRun.histogram();
        Histogram fast = LoadRun.histogram();
        for (int i = 0; i < 100_000; i++) {
            slow.recordValue((long) (200_000 + random.nextExponential() * 300_000)); // ~200 ms and a long tail
            fast.recordValue((long) (300 + random.nextExponential() * 2_000));        // ~0.3 ms
        }
        Map<String, Histogram> series = new LinkedHashMap<>();
        series.put("kafka", slow);
        series.put("direct", fast);
        String svg = Svg.percentilePlot("title", "subtitle", series, 25, "target p99 25 ms");

        var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
        assertEquals("svg", doc.getDocumentElement().getNodeName());
        assertEquals(2, doc.getElementsByTagName("path").getLength(), "one line per mode");
        assertTrue(svg.contains("99.99") && svg.contains("percentile (log scale)"), "x axis labelled");
        assertTrue(svg.contains("latency (ms, log scale)"), "orders of magnitude apart: log y axis");
        assertTrue(!svg.contains("NaN") && !svg.contains("Infinity"), "finite coordinates");
    }
}
