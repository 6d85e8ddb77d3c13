package io.tokenpipe.common.http;

import io.javalin.config.JavalinConfig;

import java.util.List;

/** Lets browser pages on other origins call the API (the web page, when services run on separate ports). */
public final class Cors {

    private Cors() {
    }

    public static void apply(JavalinConfig config, List<String> origins) {
        if (origins.isEmpty()) {
            return;
        }
        config.bundledPlugins.enableCors(cors -> cors.addRule(rule -> {
            if (origins.contains("*")) {
                rule.anyHost();
            } else {
                rule.allowHost(origins.getFirst(), origins.subList(1, origins.size()).toArray(String[]::new));
            }
            rule.exposeHeader("Location");
            rule.exposeHeader("Idempotent-Replayed");
            // POST /v1/chat/completions names its session and resume URL in headers.
            rule.exposeHeader("Tokenpipe-Session-Id");
            rule.exposeHeader("Tokenpipe-Turn-Id");
            rule.exposeHeader("Tokenpipe-Resume-Url");
        }));
    }
}
