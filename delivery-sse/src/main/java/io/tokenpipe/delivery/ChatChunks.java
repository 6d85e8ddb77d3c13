package io.tokenpipe.delivery;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.tokenpipe.common.http.OpenAiErrorBody;

import java.nio.charset.StandardCharsets;

/**
 * The JSON bodies of OpenAI's Chat Completions API: {@code chat.completion.chunk},
 * {@code chat.completion} and the error object, with the explicit {@code null}s OpenAI sends.
 * See https://platform.openai.com/docs/api-reference/chat/streaming.
 */
final class ChatChunks {

    /** Without the project mapper's null omission: OpenAI clients expect {@code "finish_reason": null}. */
    private static final ObjectMapper MAPPER = new ObjectMapper();
    static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    private ChatChunks() {
    }

    /** The completion id: both ids, so that the resume URL alone finds the turn. */
    static String completionId(String sessionId, String turnId) {
        return "chatcmpl-" + sessionId + "." + turnId;
    }

    /** A chunk of one choice; {@code delta} may be empty, {@code finishReason} null. */
    static ObjectNode chunk(String id, long created, String model, ObjectNode delta, String finishReason,
                            boolean includeUsage) {
        ObjectNode chunk = head(id, created, model, "chat.completion.chunk");
        ObjectNode choice = chunk.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason);
        if (includeUsage) {
            chunk.putNull("usage"); // as OpenAI: every chunk has the field, only the last one a value
        }
        return chunk;
    }

    /** The last chunk when {@code stream_options.include_usage} is set: no choices, the turn's usage. */
    static ObjectNode usageChunk(String id, long created, String model, JsonNode usage) {
        ObjectNode chunk = head(id, created, model, "chat.completion.chunk");
        chunk.putArray("choices");
        chunk.set("usage", usage == null ? MAPPER.nullNode() : usage);
        return chunk;
    }

    static ObjectNode delta() {
        return MAPPER.createObjectNode();
    }

    static ObjectNode completion(String id, long created, String model, String content, String finishReason, JsonNode usage) {
        ObjectNode completion = head(id, created, model, "chat.completion");
        ObjectNode choice = completion.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        message.put("content", content);
        message.putNull("refusal");
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason);
        completion.set("usage", usage == null ? MAPPER.nullNode() : usage);
        return completion;
    }

    /** OpenAI's error object, as an SDK raises it when it arrives inside a stream. */
    static ObjectNode error(int status, String code, String message) {
        return MAPPER.valueToTree(OpenAiErrorBody.of(status, code, message));
    }

    /** tokenpipe's finish reasons in OpenAI's vocabulary: a cancelled turn stopped, as far as OpenAI clients know. */
    static String finishReason(String reason) {
        if (reason == null) {
            return "stop";
        }
        return switch (reason) {
            case "length", "content_filter", "tool_calls" -> reason;
            default -> "stop";
        };
    }

    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree always serialises", e);
        }
    }

    /** One SSE frame: an optional {@code id} line and one {@code data} line (JSON is one line). */
    static byte[] frame(Long id, JsonNode data) {
        String head = id == null ? "data: " : "id: " + id + "\ndata: ";
        byte[] json = bytes(data);
        byte[] headBytes = head.getBytes(StandardCharsets.US_ASCII);
        byte[] frame = new byte[headBytes.length + json.length + 2];
        System.arraycopy(headBytes, 0, frame, 0, headBytes.length);
        System.arraycopy(json, 0, frame, headBytes.length, json.length);
        frame[frame.length - 2] = '\n';
        frame[frame.length - 1] = '\n';
        return frame;
    }

    private static ObjectNode head(String id, long created, String model, String object) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("id", id);
        node.put("object", object);
        node.put("created", created);
        node.put("model", model);
        node.putNull("system_fingerprint");
        return node;
    }
}
