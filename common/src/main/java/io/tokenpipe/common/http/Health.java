package io.tokenpipe.common.http;

import io.javalin.config.RoutesConfig;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * {@code GET /health}: 200 when every named check passes, 503 otherwise, with each check's state.
 * Container health checks and load balancers use it.
 */
public final class Health {

    private Health() {
    }

    public static void register(RoutesConfig routes, Map<String, BooleanSupplier> checks) {
        routes.get("/health", ctx -> {
            Map<String, String> states = new LinkedHashMap<>();
            boolean up = true;
            for (Map.Entry<String, BooleanSupplier> check : checks.entrySet()) {
                boolean ok = check.getValue().getAsBoolean();
                states.put(check.getKey(), ok ? "up" : "down");
                up &= ok;
            }
            ctx.status(up ? 200 : 503).json(Map.of("status", up ? "up" : "down", "checks", states));
        });
    }
}
