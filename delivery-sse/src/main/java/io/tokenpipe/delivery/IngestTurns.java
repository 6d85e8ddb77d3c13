package io.tokenpipe.delivery;

import io.tokenpipe.ingest.IngestApi;

import java.util.Map;

/**
 * The WebSocket's submit and cancel served by ingest-api's own code ({@link IngestApi#submit},
 * {@link IngestApi#cancel}) in this process: the HTTP routes' validation, idempotency and writes,
 * on the node's own producer. The standalone and a delivery-sse node both wire it in.
 */
public final class IngestTurns implements TurnCommands {

    private final IngestApi ingest;

    public IngestTurns(IngestApi ingest) {
        this.ingest = ingest;
    }

    @Override
    public Submitted submit(String sessionId, byte[] body, String idempotencyKey) {
        IngestApi.Submitted submitted = ingest.submit(sessionId, body, idempotencyKey);
        return new Submitted(submitted.body(), submitted.replayed());
    }

    @Override
    public Map<String, Object> cancel(String sessionId, String turnId) {
        return ingest.cancel(sessionId, turnId);
    }
}
