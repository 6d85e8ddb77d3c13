package io.tokenpipe.delivery;

import io.tokenpipe.common.http.ApiException;

import java.util.Map;

/**
 * Submitting and cancelling turns for the WebSocket: ingest's own logic where this node also runs
 * ingest (the standalone wires ingest-api's {@code IngestApi} in). delivery-sse on its own has no
 * producer and no ingest: there the socket answers submit and cancel with {@link #NONE}'s error and
 * clients use ingest-api's HTTP routes. Every refusal is an {@link ApiException} with the HTTP API's code.
 */
public interface TurnCommands {

    /** A submit's answer: the body the HTTP route answers with 202, and whether it replays an earlier submit. */
    record Submitted(Map<String, Object> body, boolean replayed) {
    }

    /** As {@code POST /v1/sessions/{sessionId}/turns} with the body and Idempotency-Key ({@code null} for none). */
    Submitted submit(String sessionId, byte[] body, String idempotencyKey);

    /** As {@code POST /v1/sessions/{sessionId}/turns/{turnId}/cancel}: its 202 body. */
    Map<String, Object> cancel(String sessionId, String turnId);

    /** For delivery-sse alone: submit and cancel stay on ingest-api's HTTP routes. */
    TurnCommands NONE = new TurnCommands() {
        @Override
        public Submitted submit(String sessionId, byte[] body, String idempotencyKey) {
            throw notHere();
        }

        @Override
        public Map<String, Object> cancel(String sessionId, String turnId) {
            throw notHere();
        }

        private ApiException notHere() {
            return new ApiException(501, "not_available_here",
                    "this delivery-sse node does not run ingest: submit and cancel turns over ingest-api's HTTP routes");
        }
    };
}
