package io.tokenpipe.common.http;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The error body of the OpenAI-compatible endpoints ({@code /v1/chat/...}), in OpenAI's shape so that
 * OpenAI SDKs raise it as the API error it is: {@code {"error": {"message", "type", "param", "code"}}}.
 * {@code code} is tokenpipe's stable code, the same as in {@link ErrorBody}.
 */
public record OpenAiErrorBody(Detail error) {

    /** Paths whose errors take this shape. */
    public static final String PATH_PREFIX = "/v1/chat/";
    private static final Pattern NAMED_FIELD = Pattern.compile("'([A-Za-z_][A-Za-z0-9_.\\[\\]]*)'");

    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Detail(String message, String type, String param, String code) {
    }

    public static OpenAiErrorBody of(int status, String code, String message) {
        return new OpenAiErrorBody(new Detail(message, type(status), param(status, message), code));
    }

    /** OpenAI's error types, by status. */
    public static String type(int status) {
        return switch (status) {
            case 401 -> "authentication_error";
            case 403 -> "permission_error";
            case 404 -> "not_found_error";
            case 429 -> "rate_limit_error";
            default -> status >= 500 ? "server_error" : "invalid_request_error";
        };
    }

    /** The request field a 400 is about: our messages quote it first ({@code 'max_tokens' must be …}). */
    static String param(int status, String message) {
        if (status != 400 || message == null) {
            return null;
        }
        Matcher m = NAMED_FIELD.matcher(message);
        return m.find() ? m.group(1) : null;
    }
}
