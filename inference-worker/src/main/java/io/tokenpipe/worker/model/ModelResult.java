package io.tokenpipe.worker.model;

import io.tokenpipe.common.event.Usage;

/**
 * How generation ended, as the backend reports it.
 *
 * @param finishReason {@code stop} or {@code length}
 * @param usage        token usage if the backend reports it, else {@code null}
 */
public record ModelResult(String finishReason, Usage usage) {
}
