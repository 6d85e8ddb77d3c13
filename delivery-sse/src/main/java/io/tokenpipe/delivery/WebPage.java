package io.tokenpipe.delivery;

import io.javalin.config.JavalinConfig;
import io.javalin.http.staticfiles.Location;
import io.tokenpipe.common.event.Json;

import java.util.Map;

/** The demo chat page at {@code /}, and the small script that tells it where ingest-api is. */
public final class WebPage {

    private WebPage() {
    }

    /** @param ingestUrl base URL of ingest-api as the browser should call it; empty for the page's own origin */
    public static void register(JavalinConfig config, String ingestUrl) {
        config.staticFiles.add(files -> {
            files.hostedPath = "/";
            files.directory = "/web";
            files.location = Location.CLASSPATH;
        });
        String script = "window.TOKENPIPE_CONFIG = " + Json.string(Map.of("ingestUrl", ingestUrl, "streamUrl", "")) + ";\n";
        config.routes.get("/web-config.js", ctx -> ctx.contentType("text/javascript; charset=utf-8")
                .header("Cache-Control", "no-cache").result(script));
    }
}
