package io.tokenpipe.testing;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.util.ContextInitializer;
import ch.qos.logback.core.joran.spi.JoranException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs the services' own logback.xml (common's) with {@code LOG_FORMAT=json}, as a deployment would,
 * and captures what its console appender writes. Closing restores the test logging configuration.
 */
public final class JsonLogCapture implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final PrintStream originalOut = System.out;
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();
    private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();

    private JsonLogCapture() {
        // The console appender writes to whatever System.out is at each write.
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        configure(() -> {
            context.putProperty("LOG_FORMAT", "json");
            URL config = JsonLogCapture.class.getClassLoader().getResource("logback.xml");
            if (config == null) {
                throw new IllegalStateException("no logback.xml on the class path (common's resources)");
            }
            JoranConfigurator configurator = new JoranConfigurator();
            configurator.setContext(context);
            configurator.doConfigure(config);
        });
    }

    public static JsonLogCapture start() {
        return new JsonLogCapture();
    }

    /** Every line written so far, each parsed as JSON (fails if one is not). */
    public List<JsonNode> lines() {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : captured.toString(StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            try {
                lines.add(JSON.readTree(line));
            } catch (IOException e) {
                throw new UncheckedIOException("a log line is not JSON: " + line, e);
            }
        }
        return lines;
    }

    @Override
    public void close() {
        System.setOut(originalOut);
        configure(() -> new ContextInitializer(context).autoConfig());
    }

    private interface Configuration {
        void run() throws JoranException;
    }

    private void configure(Configuration configuration) {
        context.reset();
        try {
            configuration.run();
        } catch (JoranException e) {
            throw new IllegalStateException("logback configuration failed", e);
        }
    }
}
