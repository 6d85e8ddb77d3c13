package io.tokenpipe.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.ingest.Submissions;
import io.tokenpipe.ingest.TurnRequest;

import java.io.IOException;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A {@code POST /v1/chat/completions} body, translated into tokenpipe's turn request and validated by
 * the same rules as {@code POST /v1/sessions/{id}/turns}. Strict like that endpoint: a parameter
 * tokenpipe would silently not honour ({@code top_p}, {@code tools}, …) is refused with 400 rather
 * than ignored; a parameter sent as {@code null} counts as not sent.
 *
 * @param stream       answer as {@code chat.completion.chunk} events rather than one {@code chat.completion}
 * @param includeUsage {@code stream_options.include_usage}: a last chunk with the usage
 */
record ChatCompletionRequest(TurnRequest turn, boolean stream, boolean includeUsage) {

    /** OpenAI's parameters that tokenpipe honours, plus {@code options} (tokenpipe's backend options). */
    static final Set<String> FIELDS = Set.of("model", "messages", "stream", "stream_options", "max_tokens",
            "max_completion_tokens", "temperature", "stop", "seed", "n", "user", "options");
    /** {@code user} is OpenAI's end-user tag for abuse monitoring: accepted, not stored. */
    private static final Set<String> IGNORED = Set.of("user");
    private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content", "name", "refusal");

    static ChatCompletionRequest parse(byte[] body, String idempotencyKey, Submissions submissions) {
        ObjectNode root = object(body);
        ObjectNode turn = Json.MAPPER.createObjectNode();
        for (Iterator<Map.Entry<String, JsonNode>> fields = root.fields(); fields.hasNext(); ) {
            Map.Entry<String, JsonNode> field = fields.next();
            String name = field.getKey();
            JsonNode value = field.getValue();
            if (value.isNull()) {
                continue;
            }
            if (!FIELDS.contains(name)) {
                throw ApiException.badRequest("unknown_field", "unknown or unsupported parameter '" + name
                        + "'; tokenpipe accepts: " + new TreeSet<>(FIELDS));
            }
            switch (name) {
                case "stream", "stream_options", "n" -> { /* read below */ }
                case "messages" -> turn.set("messages", messages(value));
                case "max_tokens", "max_completion_tokens" -> {
                    if (turn.has("max_tokens")) {
                        throw ApiException.badRequest("invalid_request", "give either 'max_tokens' or 'max_completion_tokens', not both");
                    }
                    turn.set("max_tokens", value);
                }
                default -> {
                    if (!IGNORED.contains(name)) {
                        turn.set(name, value);
                    }
                }
            }
        }
        if (!turn.has("messages")) {
            throw ApiException.badRequest("invalid_request", "'messages' is required");
        }
        JsonNode n = root.get("n");
        if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.asInt() == 1)) {
            throw ApiException.badRequest("invalid_request", "'n' must be 1: tokenpipe generates one choice per request");
        }
        boolean stream = bool(root.get("stream"), "stream");
        boolean includeUsage = false;
        JsonNode streamOptions = root.get("stream_options");
        if (streamOptions != null && !streamOptions.isNull()) {
            if (!stream) {
                throw ApiException.badRequest("invalid_request", "'stream_options' is only allowed when 'stream' is true");
            }
            if (!streamOptions.isObject()) {
                throw ApiException.badRequest("invalid_request", "'stream_options' must be an object");
            }
            for (Iterator<String> names = streamOptions.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!name.equals("include_usage") && !streamOptions.get(name).isNull()) {
                    throw ApiException.badRequest("unknown_field", "unknown parameter 'stream_options." + name + "'");
                }
            }
            includeUsage = bool(streamOptions.get("include_usage"), "stream_options.include_usage");
        }
        return new ChatCompletionRequest(submissions.parse(Json.bytes(turn), idempotencyKey), stream, includeUsage);
    }

    /** OpenAI's messages in tokenpipe's form: text parts joined, {@code developer} as {@code system}. */
    private static ArrayNode messages(JsonNode messages) {
        if (!messages.isArray()) {
            throw ApiException.badRequest("invalid_request", "'messages' must be an array");
        }
        ArrayNode out = Json.MAPPER.createArrayNode();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode message = messages.get(i);
            String at = "messages[" + i + "]";
            if (!message.isObject()) {
                throw ApiException.badRequest("invalid_request", "'" + at + "' must be an object with 'role' and 'content'");
            }
            for (Iterator<Map.Entry<String, JsonNode>> fields = message.fields(); fields.hasNext(); ) {
                Map.Entry<String, JsonNode> field = fields.next();
                if (!MESSAGE_FIELDS.contains(field.getKey()) && !field.getValue().isNull()) {
                    throw ApiException.badRequest("unknown_field", "unsupported field '" + at + "." + field.getKey()
                            + "' (tokenpipe supports text messages: role, content, name)");
                }
            }
            ObjectNode converted = out.addObject();
            JsonNode role = message.get("role");
            converted.put("role", role != null && role.isTextual() && role.asText().equals("developer") ? "system"
                    : role == null ? null : role.asText());
            converted.set("content", content(message.get("content"), at));
        }
        return out;
    }

    /** A string, or an array of {@code {"type": "text", "text": …}} parts (joined). */
    private static JsonNode content(JsonNode content, String at) {
        if (content == null || !content.isArray()) {
            return content;
        }
        StringBuilder text = new StringBuilder();
        for (JsonNode part : content) {
            if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                throw ApiException.badRequest("invalid_request", "'" + at + ".content' parts must be {\"type\": \"text\", \"text\": …}"
                        + " (tokenpipe relays text only)");
            }
            text.append(part.get("text").asText());
        }
        return Json.MAPPER.getNodeFactory().textNode(text.toString());
    }

    private static boolean bool(JsonNode node, String name) {
        if (node == null || node.isNull()) {
            return false;
        }
        if (!node.isBoolean()) {
            throw ApiException.badRequest("invalid_request", "'" + name + "' must be a boolean");
        }
        return node.asBoolean();
    }

    private static ObjectNode object(byte[] body) {
        if (body.length == 0) {
            throw ApiException.badRequest("malformed_json", "the request body is empty; expected a JSON object");
        }
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(body);
        } catch (IOException e) {
            throw ApiException.badRequest("malformed_json", "the request body is not valid JSON");
        }
        if (node == null || !node.isObject()) {
            throw ApiException.badRequest("malformed_json", "the request body must be a JSON object");
        }
        return (ObjectNode) node;
    }
}
