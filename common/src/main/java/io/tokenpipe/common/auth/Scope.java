package io.tokenpipe.common.auth;

import java.util.Locale;

/** What an API key may do. {@link #ADMIN} may do everything. */
public enum Scope {
    /** Create sessions, submit and cancel turns, issue read tokens for a session. */
    SUBMIT,
    /** Read the event stream of any session. */
    READ,
    /** Transcripts and replays of any session (they include prompts, system prompts too). */
    AUDIT,
    /** The operators' metrics ({@code /metrics} and its JSON pages): what a Prometheus scraper holds. */
    METRICS,
    /** Everything, including operator routes such as {@code /metrics}. */
    ADMIN;

    public String json() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@code submit}, {@code read}, {@code audit}, {@code metrics} or {@code admin}; anything else is a configuration error. */
    public static Scope parse(String text) {
        for (Scope scope : values()) {
            if (scope.json().equals(text.trim().toLowerCase(Locale.ROOT))) {
                return scope;
            }
        }
        throw new IllegalArgumentException("unknown scope '" + text.trim() + "' (submit, read, audit, metrics, admin)");
    }
}
