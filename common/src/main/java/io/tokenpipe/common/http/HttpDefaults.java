package io.tokenpipe.common.http;

import io.javalin.config.JavalinConfig;
import io.javalin.json.JavalinJackson;
import io.tokenpipe.common.event.Json;

/** What every tokenpipe HTTP server shares: our JSON mapper, JSON errors, no banner. */
public final class HttpDefaults {

    private HttpDefaults() {
    }

    public static void apply(JavalinConfig config) {
        config.startup.showJavalinBanner = false;
        config.startup.showOldJavalinVersionWarning = false;
        config.jsonMapper(new JavalinJackson(Json.MAPPER, false));
        HttpErrors.register(config.routes);
    }
}
