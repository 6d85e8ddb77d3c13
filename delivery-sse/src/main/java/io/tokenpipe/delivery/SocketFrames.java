package io.tokenpipe.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.http.ErrorBody;
import io.tokenpipe.common.log.LogEvent;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The frames the WebSocket sends (docs/events.md, "WebSocket"). An event frame carries the event's
 * JSON exactly as stored, placed without parsing it, beside its session id, durable id and type.
 */
final class SocketFrames {

    private SocketFrames() {
    }

    /**
     * {@code {"type":"event","session_id":…,"id":"<offset>","event":<type>,"data":<json as stored>}}.
     * The id is a string, as in SSE, so that JavaScript never rounds it.
     */
    static String event(LogEvent event) {
        String json = new String(event.json(), StandardCharsets.UTF_8);
        return "{\"type\":\"event\",\"session_id\":" + Json.string(event.sessionId())
                + ",\"id\":\"" + event.offset() + "\",\"event\":" + Json.string(event.type() == null ? "message" : event.type())
                + ",\"data\":" + json + "}";
    }

    /** An operation's success: {@code status} and {@code body} as the HTTP API would answer it. */
    static String ack(String op, JsonNode ref, String sessionId, int status, Object body) {
        Map<String, Object> frame = head("ack", op, ref, sessionId);
        frame.put("status", status);
        frame.put("body", body);
        return Json.string(frame);
    }

    /** A refusal; {@code error} is the HTTP API's error object (status, code, message). */
    static String error(String op, JsonNode ref, String sessionId, ApiException e) {
        Map<String, Object> frame = head("error", op, ref, sessionId);
        frame.put("error", ErrorBody.of(e.status(), e.code(), e.getMessage()).error());
        return Json.string(frame);
    }

    private static Map<String, Object> head(String type, String op, JsonNode ref, String sessionId) {
        Map<String, Object> frame = new LinkedHashMap<>();
        frame.put("type", type);
        frame.put("op", op);
        if (ref != null) {
            frame.put("ref", ref);
        }
        if (sessionId != null) {
            frame.put("session_id", sessionId);
        }
        return frame;
    }
}
