package io.tokenpipe.common.http;

/** The JSON body of every error response. */
public record ErrorBody(Detail error) {

    public record Detail(int status, String code, String message) {
    }

    public static ErrorBody of(int status, String code, String message) {
        return new ErrorBody(new Detail(status, code, message));
    }
}
