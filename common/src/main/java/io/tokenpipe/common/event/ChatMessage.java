package io.tokenpipe.common.event;

/** One message of a conversation, in the shape OpenAI-compatible chat APIs use. */
public record ChatMessage(String role, String content) {

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }
}
