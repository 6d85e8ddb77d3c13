package io.tokenpipe.common.http;

/**
 * A request we refuse, with the status and a stable machine-readable code. Rendered as
 * {@code {"error": {"status": 400, "code": "...", "message": "..."}}}.
 */
public class ApiException extends RuntimeException {

    private final int status;
    private final String code;
    private final Integer retryAfterSeconds;

    public ApiException(int status, String code, String message) {
        this(status, code, message, null);
    }

    /** @param retryAfterSeconds sent as {@code Retry-After} when not {@code null} */
    public ApiException(int status, String code, String message, Integer retryAfterSeconds) {
        super(message);
        this.status = status;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }

    public static ApiException badRequest(String code, String message) {
        return new ApiException(400, code, message);
    }

    public static ApiException notFound(String code, String message) {
        return new ApiException(404, code, message);
    }

    /** A 503 the client should retry after a second. */
    public static ApiException unavailable(String code, String message) {
        return new ApiException(503, code, message, 1);
    }
}
