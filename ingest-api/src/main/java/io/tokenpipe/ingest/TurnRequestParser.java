package io.tokenpipe.ingest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Turns a request body into a {@link TurnRequest} or a 4xx that names the offending field. Strict on
 * purpose: an unknown field is more often a typo ({@code max_token}) than a wish to be ignored.
 */
final class TurnRequestParser {

    static final Set<String> ROLES = Set.of("system", "user", "assistant");
    static final int MAX_MESSAGES = 256;
    static final int MAX_STOP_SEQUENCES = 4;
    static final int MAX_STOP_LENGTH = 64;
    static final int MAX_OPTIONS = 16;
    static final Pattern REQUEST_ID = Pattern.compile("[\\x21-\\x7E]{1,128}");
    private static final Set<String> FIELDS = Set.of("model", "messages", "prompt", "max_tokens", "temperature", "stop",
            "seed", "options", "client_request_id");

    private final IngestSettings settings;

    TurnRequestParser(IngestSettings settings) {
        this.settings = settings;
    }

    TurnRequest parse(byte[] body, String idempotencyKey) {
        ObjectNode root = object(body);
        for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!FIELDS.contains(name)) {
                throw ApiException.badRequest("unknown_field", "unknown field '" + name + "'; accepted: " + new java.util.TreeSet<>(FIELDS));
            }
        }
        List<ChatMessage> messages = messages(root);
        checkPromptSize(messages);
        String model = model(root.get("model"));
        GenerationParams params = new GenerationParams(maxTokens(root.get("max_tokens")),
                temperature(root.get("temperature")), stop(root.get("stop")), seed(root.get("seed")),
                options(root.get("options")));
        return new TurnRequest(model, messages, params, clientRequestId(root.get("client_request_id"), idempotencyKey));
    }

    static ObjectNode object(byte[] body) {
        if (body.length == 0) {
            throw ApiException.badRequest("malformed_json", "the request body is empty; expected a JSON object");
        }
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("malformed_json", "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiException.badRequest("malformed_json", "the request body could not be read");
        }
        if (node == null || !node.isObject()) {
            throw ApiException.badRequest("malformed_json", "the request body must be a JSON object");
        }
        return (ObjectNode) node;
    }

    private List<ChatMessage> messages(ObjectNode root) {
        JsonNode messages = root.get("messages");
        JsonNode prompt = root.get("prompt");
        if (messages != null && prompt != null) {
            throw invalid("give either 'messages' or 'prompt', not both");
        }
        if (prompt != null) {
            if (!prompt.isTextual() || prompt.asText().isEmpty()) {
                throw invalid("'prompt' must be a non-empty string");
            }
            return List.of(ChatMessage.user(prompt.asText()));
        }
        if (messages == null) {
            throw invalid("'messages' is required (or 'prompt' for a single user message)");
        }
        if (!messages.isArray() || messages.isEmpty()) {
            throw invalid("'messages' must be a non-empty array");
        }
        if (messages.size() > MAX_MESSAGES) {
            throw invalid("'messages' may hold at most " + MAX_MESSAGES + " messages");
        }
        List<ChatMessage> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            JsonNode message = messages.get(i);
            String at = "messages[" + i + "]";
            if (!message.isObject()) {
                throw invalid("'" + at + "' must be an object with 'role' and 'content'");
            }
            for (Iterator<String> names = message.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!name.equals("role") && !name.equals("content")) {
                    throw ApiException.badRequest("unknown_field", "unknown field '" + at + "." + name + "'");
                }
            }
            JsonNode role = message.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw invalid("'" + at + ".role' must be one of " + new java.util.TreeSet<>(ROLES));
            }
            JsonNode content = message.get("content");
            if (content == null || !content.isTextual()) {
                throw invalid("'" + at + ".content' must be a string");
            }
            out.add(new ChatMessage(role.asText(), content.asText()));
        }
        if (out.stream().allMatch(m -> m.content().isEmpty())) {
            throw invalid("the messages are all empty");
        }
        return out;
    }

    private void checkPromptSize(List<ChatMessage> messages) {
        long bytes = 0;
        for (ChatMessage m : messages) {
            bytes += m.content().getBytes(StandardCharsets.UTF_8).length;
        }
        if (bytes > settings.promptMaxBytes()) {
            throw new ApiException(413, "prompt_too_large", "the prompt is " + bytes + " bytes; the limit is "
                    + settings.promptMaxBytes() + " bytes (PROMPT_MAX_BYTES)");
        }
    }

    private String model(JsonNode node) {
        if (node == null || node.isNull()) {
            return settings.defaultModel();
        }
        if (!node.isTextual() || node.asText().isBlank() || node.asText().length() > 128) {
            throw invalid("'model' must be a non-empty string of at most 128 characters");
        }
        String model = node.asText();
        if (!settings.allowedModels().isEmpty() && !settings.allowedModels().contains(model)) {
            throw ApiException.badRequest("unknown_model", "model '" + model + "' is not served here; available: "
                    + settings.allowedModels());
        }
        return model;
    }

    private Integer maxTokens(JsonNode node) {
        if (node == null || node.isNull()) {
            // Never unbounded: leaving max_tokens out must not bypass MAX_TOKENS_LIMIT.
            return settings.maxTokensLimit();
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt() || node.asInt() < 1 || node.asInt() > settings.maxTokensLimit()) {
            throw invalid("'max_tokens' must be an integer from 1 to " + settings.maxTokensLimit());
        }
        return node.asInt();
    }

    private static Double temperature(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isNumber() || node.asDouble() < 0 || node.asDouble() > 2) {
            throw invalid("'temperature' must be a number from 0 to 2");
        }
        return node.asDouble();
    }

    private static List<String> stop(JsonNode node) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        List<String> stops = new ArrayList<>();
        if (node.isTextual()) {
            stops.add(node.asText());
        } else if (node.isArray()) {
            for (JsonNode s : node) {
                if (!s.isTextual()) {
                    throw invalid("'stop' must be a string or an array of strings");
                }
                stops.add(s.asText());
            }
        } else {
            throw invalid("'stop' must be a string or an array of strings");
        }
        if (stops.size() > MAX_STOP_SEQUENCES) {
            throw invalid("'stop' may hold at most " + MAX_STOP_SEQUENCES + " sequences");
        }
        for (String s : stops) {
            if (s.isEmpty() || s.length() > MAX_STOP_LENGTH) {
                throw invalid("each stop sequence must be 1 to " + MAX_STOP_LENGTH + " characters");
            }
        }
        return stops;
    }

    private static Long seed(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw invalid("'seed' must be an integer");
        }
        return node.asLong();
    }

    private static Map<String, Object> options(JsonNode node) {
        if (node == null || node.isNull()) {
            return Map.of();
        }
        if (!node.isObject() || node.size() > MAX_OPTIONS) {
            throw invalid("'options' must be an object of at most " + MAX_OPTIONS + " entries");
        }
        Map<String, Object> options = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> fields = node.fields(); fields.hasNext(); ) {
            Map.Entry<String, JsonNode> field = fields.next();
            JsonNode value = field.getValue();
            if (value.isNumber()) {
                options.put(field.getKey(), value.numberValue());
            } else if (value.isTextual()) {
                options.put(field.getKey(), value.asText());
            } else if (value.isBoolean()) {
                options.put(field.getKey(), value.asBoolean());
            } else {
                throw invalid("'options." + field.getKey() + "' must be a number, string or boolean");
            }
        }
        return options;
    }

    private static String clientRequestId(JsonNode node, String idempotencyKey) {
        String fromBody = null;
        if (node != null && !node.isNull()) {
            if (!node.isTextual()) {
                throw invalid("'client_request_id' must be a string");
            }
            fromBody = node.asText();
        }
        if (fromBody != null && idempotencyKey != null && !fromBody.equals(idempotencyKey)) {
            throw invalid("the Idempotency-Key header and 'client_request_id' differ; send one, or the same value in both");
        }
        String id = fromBody != null ? fromBody : idempotencyKey;
        if (id != null && !REQUEST_ID.matcher(id).matches()) {
            throw invalid("an idempotency key must be 1 to 128 printable ASCII characters without spaces");
        }
        return id;
    }

    private static ApiException invalid(String message) {
        return ApiException.badRequest("invalid_request", message);
    }
}
