package io.tokenpipe.delivery;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.ErrorInfo;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.log.LogEvent;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One turn's events as OpenAI chunks: what is written, with which ids, and where a resume picks up. */
class ChatChunkFormatTest {

    private static final String SESSION = "s_fmt";
    private static final String TURN = "t_fmt";
    private static final Instant SUBMITTED = Instant.parse("2026-12-01T10:00:00Z");

    /** A turn at offsets 10 (started), 11..13 (tokens), 14 (completed), with another turn's token at 12½ → 20. */
    private static List<LogEvent> turn() {
        List<LogEvent> events = new ArrayList<>();
        events.add(event(10, new TurnStarted(1, SESSION, TURN, 0, 1, SUBMITTED, "w", "synthetic",
                List.of(ChatMessage.user("hi")), GenerationParams.DEFAULTS, "r", SUBMITTED, null)));
        events.add(event(11, new TokenChunk(1, SESSION, TURN, 1, 1, SUBMITTED, "Hello")));
        events.add(event(12, new TokenChunk(1, SESSION, "t_other", 1, 1, SUBMITTED, "NOT OURS")));
        events.add(event(13, new TokenChunk(1, SESSION, TURN, 2, 1, SUBMITTED, " world")));
        events.add(event(14, new TurnCompleted(1, SESSION, TURN, 3, 1, SUBMITTED, "cancelled", Usage.of(2, 2))));
        events.add(event(20, new TokenChunk(1, SESSION, "t_next", 1, 1, SUBMITTED, "later")));
        return events;
    }

    @Test
    void aTurnBecomesRoleContentFinishUsageAndDoneWithTheEventIds() throws IOException {
        List<String> frames = write(new ChatChunkFormat("chatcmpl-x", TURN, true, -1, 1000), turn());

        assertEquals(List.of("id: 10", "id: 11", "id: 13", "id: 14", "usage", "[DONE]"), kinds(frames));
        JsonNode first = data(frames.get(0));
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("chatcmpl-x", first.get("id").asText());
        assertEquals(SUBMITTED.getEpochSecond(), first.get("created").asLong());
        assertEquals("synthetic", first.get("model").asText());
        assertEquals("assistant", first.at("/choices/0/delta/role").asText());
        assertTrue(first.at("/choices/0/finish_reason").isNull());
        assertTrue(first.has("usage") && first.get("usage").isNull(), "with include_usage every chunk has usage: null");
        assertEquals("Hello", data(frames.get(1)).at("/choices/0/delta/content").asText());
        assertEquals(" world", data(frames.get(2)).at("/choices/0/delta/content").asText());
        assertEquals("stop", data(frames.get(3)).at("/choices/0/finish_reason").asText(), "cancelled is 'stop' to OpenAI clients");
        JsonNode usage = data(frames.get(4));
        assertEquals(0, usage.get("choices").size());
        assertEquals(4, usage.at("/usage/total_tokens").asInt());
    }

    /**
     * OpenAI's Python SDK dispatches every blank-line-terminated block once it has seen an id, data or
     * not, and parses the data as JSON: a retry-only block or a heartbeat block would break it.
     */
    @Test
    void everyBlockTheStreamEndsCarriesDataEvenWithRetryAndHeartbeats() throws IOException {
        ChatChunkFormat format = new ChatChunkFormat("chatcmpl-x", TURN, true, -1, 1000);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(format.preamble());
        for (LogEvent event : turn()) {
            if (format.finished()) {
                break;
            }
            out.write(format.heartbeat()); // idle before every event, as on a slow turn
            format.write(event, out);
        }
        String stream = out.toString(StandardCharsets.UTF_8);
        assertTrue(stream.startsWith("retry: 1000\n"), "EventSource clients still get the retry hint: " + stream);
        String[] blocks = stream.split("\n\n");
        assertEquals(6, blocks.length, "one block per chunk, usage and [DONE]: " + stream);
        for (String block : blocks) {
            assertTrue(block.lines().anyMatch(l -> l.startsWith("data: ")), "a block without data: '" + block + "'");
        }
        assertTrue(stream.endsWith("data: [DONE]\n\n"));
    }

    @Test
    void aResumeWritesOnlyWhatFollowsTheClientsLastId() throws IOException {
        assertEquals(List.of("id: 13", "id: 14", "usage", "[DONE]"),
                kinds(write(new ChatChunkFormat("chatcmpl-x", TURN, true, 11, 1000), turn())));
        assertEquals(List.of("usage", "[DONE]"), kinds(write(new ChatChunkFormat("chatcmpl-x", TURN, true, 14, 1000), turn())),
                "after the finish chunk: only what followed it");
        assertEquals(List.of("[DONE]"), kinds(write(new ChatChunkFormat("chatcmpl-x", TURN, false, 14, 1000), turn())));
    }

    @Test
    void withoutIncludeUsageThereIsNoUsageFieldOrChunk() throws IOException {
        List<String> frames = write(new ChatChunkFormat("chatcmpl-x", TURN, false, -1, 1000), turn());
        assertEquals(List.of("id: 10", "id: 11", "id: 13", "id: 14", "[DONE]"), kinds(frames));
        assertFalse(data(frames.get(0)).has("usage"));
    }

    @Test
    void aFailedTurnEndsWithOpenAisErrorObjectAndNoDone() throws IOException {
        List<LogEvent> events = new ArrayList<>(turn().subList(0, 2));
        events.add(event(15, new TurnFailed(1, SESSION, TURN, 2, 1, SUBMITTED, new ErrorInfo("upstream_timeout", "too slow"))));
        ChatChunkFormat format = new ChatChunkFormat("chatcmpl-x", TURN, false, -1, 1000);
        List<String> frames = write(format, events);
        assertEquals(List.of("id: 10", "id: 11", "id: 15"), kinds(frames));
        JsonNode error = data(frames.get(2)).get("error");
        assertEquals("upstream_timeout", error.get("code").asText());
        assertEquals("too slow", error.get("message").asText());
        assertEquals("server_error", error.get("type").asText());
        assertTrue(error.has("param"));
        assertTrue(format.finished());
    }

    @Test
    void theCollectorGathersTheAnswerAndFinishesAtTheEnd() throws IOException {
        CompletionCollector collector = new CompletionCollector(TURN);
        for (LogEvent e : turn()) {
            if (!collector.finished()) {
                collector.write(e, OutputStream.nullOutputStream());
            }
        }
        assertTrue(collector.finished());
        assertEquals("Hello world", collector.turn().text());
        assertEquals("cancelled", collector.turn().finishReason());
        assertEquals(4, collector.turn().usage().get("total_tokens").asInt());
    }

    private static List<String> write(ChatChunkFormat format, List<LogEvent> events) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (LogEvent event : events) {
            if (format.finished()) {
                break;
            }
            format.write(event, out);
        }
        assertTrue(format.finished(), "the format ends after the turn's terminal event");
        List<String> frames = new ArrayList<>();
        for (String frame : out.toString(StandardCharsets.UTF_8).split("\n\n")) {
            if (!frame.isBlank()) {
                frames.add(frame);
            }
        }
        return frames;
    }

    /** "id: N" for a chunk with an id, "usage" for the usage chunk, "[DONE]" for the end. */
    private static List<String> kinds(List<String> frames) {
        return frames.stream().map(f -> f.startsWith("id: ") ? f.substring(0, f.indexOf('\n'))
                : f.equals("data: [DONE]") ? "[DONE]" : "usage").toList();
    }

    private static JsonNode data(String frame) {
        String data = frame.substring(frame.indexOf("data: ") + "data: ".length());
        assertFalse(data.contains("\n"), "one data line: " + frame);
        return Json.read(data, JsonNode.class);
    }

    private static LogEvent event(long offset, StreamEvent event) {
        return new LogEvent(0, offset, SESSION, event.type(), Json.event(event));
    }
}
