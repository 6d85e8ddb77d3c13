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
        Map<String, String> headers = securityHeaders(ingestUrl);
        config.staticFiles.add(files -> {
            files.hostedPath = "/";
            files.directory = "/web";
            files.location = Location.CLASSPATH;
            files.headers = headers;
        });
        String script = "window.TOKENPIPE_CONFIG = " + Json.string(Map.of("ingestUrl", ingestUrl, "streamUrl", "")) + ";\n";
        config.routes.get("/web-config.js", ctx -> {
            headers.forEach(ctx::header);
            ctx.contentType("text/javascript; charset=utf-8").header("Cache-Control", "no-cache").result(script);
        });
    }

    /**
     * The page runs only its own scripts and styles, talks only to its origin and ingest-api, cannot
     * be framed (clickjacking), and sends no Referer (its URLs may carry a read token).
     */
    static Map<String, String> securityHeaders(String ingestUrl) {
        String connect = "'self'" + (ingestUrl == null || ingestUrl.isBlank() ? "" : " " + origin(ingestUrl));
        return Map.of(
                "Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                        + "connect-src " + connect + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options", "nosniff",
                "X-Frame-Options", "DENY",
                "Referrer-Policy", "no-referrer");
    }

    private static String origin(String url) {
        java.net.URI uri = java.net.URI.create(url.trim());
        return uri.getScheme() + "://" + uri.getRawAuthority();
    }
}
