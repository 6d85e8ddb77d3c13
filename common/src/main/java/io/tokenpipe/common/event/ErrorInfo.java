package io.tokenpipe.common.event;

/** A machine-readable code and a human-readable message. */
public record ErrorInfo(String code, String message) {
}
