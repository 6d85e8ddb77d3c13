package io.tokenpipe.common.log;

import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.util.List;

/**
 * How the services log. Logback reads these variables itself (logback.xml substitutes them), so they
 * take effect before any code runs; they are declared here so the README lists them and a typo in
 * {@code LOG_FORMAT} stops the service instead of silencing its log.
 */
public final class LogSettings {

    public static final Setting FORMAT = Setting.of("LOG_FORMAT", "text",
            "Log format: `text` (one readable line per event) or `json` (one JSON object per line; lines about a turn carry `mdc.session_id` and `mdc.turn_id`).");
    public static final Setting LEVEL = Setting.of("TOKENPIPE_LOG_LEVEL", "INFO",
            "Log level of tokenpipe's own classes (`DEBUG` also logs each accepted turn).");

    public static final List<Setting> SETTINGS = List.of(FORMAT, LEVEL);

    private LogSettings() {
    }

    /** Refuses a format logback has no appender for: it would drop every line without a word. */
    public static void check(Env env) {
        String format = env.string(FORMAT);
        if (!format.equals("text") && !format.equals("json")) {
            throw new ConfigException(FORMAT.name() + " must be 'text' or 'json', got '" + format + "'");
        }
    }
}
