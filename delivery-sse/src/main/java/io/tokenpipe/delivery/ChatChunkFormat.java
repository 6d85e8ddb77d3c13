package io.tokenpipe.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.log.LogEvent;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * One turn as OpenAI's streamed Chat Completion: {@code turn.started} → a chunk with
 * {@code delta.role}, each {@code token} → a chunk with {@code delta.content}, {@code turn.completed}
 * → a chunk with {@code finish_reason}, then (with {@code include_usage}) a usage chunk and
 * {@code data: [DONE]}; {@code turn.failed} → OpenAI's in-stream {@code {"error": …}}, which SDKs raise.
 *
 * <p>Each chunk carries its event's durable offset as the SSE {@code id}. A resume reads the turn
 * from its start (to learn its model and creation time) and writes only what lies after the
 * client's {@code Last-Event-ID}; the usage chunk and {@code [DONE]} follow the finish chunk's id, so a
 * client that resumes right after the finish chunk still receives them, and nothing twice.
 */
final class ChatChunkFormat implements StreamFormat {

    private static final byte[] HEARTBEAT = ": heartbeat\n".getBytes(StandardCharsets.US_ASCII);

    private final String completionId;
    private final boolean includeUsage;
    private final long resumeAfter;
    private final byte[] preamble;
    private final TurnEvents turn;
    private boolean finished;

    /** @param resumeAfter the client's Last-Event-ID: events up to it are read but not written; -1 for none */
    ChatChunkFormat(String completionId, String turnId, boolean includeUsage, long resumeAfter, long retryMillis) {
        this.completionId = completionId;
        this.includeUsage = includeUsage;
        this.resumeAfter = resumeAfter;
        // A line, not an event: it joins the first chunk's block (see heartbeat()).
        this.preamble = ("retry: " + retryMillis + "\n").getBytes(StandardCharsets.US_ASCII);
        this.turn = new TurnEvents(turnId);
    }

    @Override
    public byte[] preamble() {
        return preamble;
    }

    /**
     * A comment line without the blank line that would end an event: it becomes part of the next
     * chunk's block. OpenAI's Python SDK dispatches every blank-line-terminated block once it has seen an
     * {@code id}, even one without data, and then fails to parse the empty data as JSON; so every block
     * this format ends must carry data (seen with openai 3.22.1 for Python; the JS SDK skips such blocks).
     */
    @Override
    public byte[] heartbeat() {
        return HEARTBEAT;
    }

    @Override
    public boolean write(LogEvent event, OutputStream out) throws IOException {
        JsonNode node = turn.accept(event);
        if (node == null) {
            return false;
        }
        boolean news = event.offset() > resumeAfter;
        long id = event.offset();
        switch (event.type()) {
            case TurnStarted.TYPE -> {
                if (news) {
                    ObjectNode delta = ChatChunks.delta().put("role", "assistant").put("content", "");
                    out.write(ChatChunks.frame(id, chunk(delta, null)));
                    return true;
                }
            }
            case TokenChunk.TYPE -> {
                if (news) {
                    ObjectNode delta = ChatChunks.delta().put("content", node.path("text").asText(""));
                    out.write(ChatChunks.frame(id, chunk(delta, null)));
                    return true;
                }
            }
            case TurnCompleted.TYPE -> {
                finished = true;
                if (news) {
                    out.write(ChatChunks.frame(id, chunk(ChatChunks.delta(), ChatChunks.finishReason(turn.finishReason()))));
                }
                if (includeUsage && event.offset() >= resumeAfter) {
                    out.write(ChatChunks.frame(null, ChatChunks.usageChunk(completionId, turn.created(), turn.model(), turn.usage())));
                }
                out.write(ChatChunks.DONE);
                return true;
            }
            case TurnFailed.TYPE -> {
                finished = true;
                if (news) {
                    JsonNode error = turn.error();
                    String code = error == null ? "turn_failed" : error.path("code").asText("turn_failed");
                    String message = error == null ? "the turn failed" : error.path("message").asText("the turn failed");
                    out.write(ChatChunks.frame(id, ChatChunks.error(502, code, message)));
                    return true;
                }
            }
            default -> {
                // turn.resumed: generation goes on after the text already sent; nothing to show.
            }
        }
        return false;
    }

    @Override
    public boolean finished() {
        return finished;
    }

    private ObjectNode chunk(ObjectNode delta, String finishReason) {
        return ChatChunks.chunk(completionId, turn.created(), turn.model(), delta, finishReason, includeUsage);
    }
}
