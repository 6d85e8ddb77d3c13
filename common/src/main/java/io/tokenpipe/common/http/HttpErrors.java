package io.tokenpipe.common.http;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.tokenpipe.common.event.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every error leaves our servers as JSON with a stable code: our own refusals, Javalin's (unknown
 * route, body too large) and, as a last resort, a bug (500, logged with its stack trace).
 */
public final class HttpErrors {

    private static final Logger log = LoggerFactory.getLogger(HttpErrors.class);

    private HttpErrors() {
    }

    public static void register(RoutesConfig routes) {
        routes.exception(ApiException.class, (e, ctx) -> {
            if (e.retryAfterSeconds() != null) {
                ctx.header("Retry-After", Integer.toString(e.retryAfterSeconds()));
            }
            write(ctx, e.status(), e.code(), e.getMessage());
        });
        routes.exception(HttpResponseException.class, (e, ctx) ->
                write(ctx, e.getStatus(), codeFor(e.getStatus()), e.getMessage()));
        routes.exception(Exception.class, (e, ctx) -> {
            String request;
            try {
                request = ctx.method() + " " + ctx.path();
            } catch (RuntimeException gone) {
                // The request was already completed and recycled (an async response ending late).
                log.debug("error after the request ended: {}", e.toString());
                return;
            }
            log.error("unhandled error on {}", request, e);
            write(ctx, 500, "internal_error", "internal error; it has been logged");
        });
        routes.error(404, ctx -> {
            if (ctx.result() == null || ctx.result().isEmpty()) {
                write(ctx, 404, "not_found", "no such resource: " + ctx.method() + " " + ctx.path());
            }
        });
        routes.error(405, ctx -> write(ctx, 405, "method_not_allowed", "method not allowed: " + ctx.method() + " " + ctx.path()));
    }

    /** Writes the error in tokenpipe's shape, or OpenAI's on the OpenAI-compatible paths. */
    public static void write(Context ctx, int status, String code, String message) {
        Object body = ctx.path().startsWith(OpenAiErrorBody.PATH_PREFIX)
                ? OpenAiErrorBody.of(status, code, message)
                : ErrorBody.of(status, code, message);
        ctx.status(status).contentType("application/json").result(Json.bytes(body));
    }

    private static String codeFor(int status) {
        return switch (status) {
            case 400 -> "bad_request";
            case 404 -> "not_found";
            case 405 -> "method_not_allowed";
            case 413 -> "request_too_large";
            case 415 -> "unsupported_media_type";
            default -> "http_" + status;
        };
    }
}
