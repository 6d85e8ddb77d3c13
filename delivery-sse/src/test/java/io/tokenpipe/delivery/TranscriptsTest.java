package io.tokenpipe.delivery;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.log.InMemoryLog;
import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.SessionRecord;
import io.tokenpipe.index.TurnRecord;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TranscriptsTest {

    private static final String SESSION = "s_transcript";
    private static final String TURN = "t_transcript";
    private static final Instant AT = Instant.parse("2026-12-01T10:00:00Z");

    /**
     * The index may know a turn's end before its own position on the stream has passed it: the
     * transcript then reads the turn's range and an open part that overlaps it. Each event counts once
     * (seen in PipelineIT as an answer whose last tokens appeared twice).
     */
    @Test
    void eventsReadByTheTurnsRangeAndTheOpenPartCountOnce() throws Exception {
        InMemoryLog log = new InMemoryLog(1);
        long started = log.append(new TurnStarted(1, SESSION, TURN, 0, 1, AT, "w", "synthetic",
                List.of(ChatMessage.user("hi")), GenerationParams.DEFAULTS, "r", AT, null)).offset();
        log.append(new TokenChunk(1, SESSION, TURN, 1, 1, AT, "Hello"));
        long second = log.append(new TokenChunk(1, SESSION, TURN, 2, 1, AT, " world")).offset();
        long end = log.append(new TurnCompleted(1, SESSION, TURN, 3, 1, AT, "stop", Usage.of(2, 2))).offset();

        TurnRecord turn = new TurnRecord(TURN, "r", "h", 0L, AT, started, end, TurnRecord.Status.COMPLETED, "stop");
        SessionRecord session = new SessionRecord(SESSION, AT, Map.of(), 0, List.of(turn));
        // The index's stream position trails the turn's end it already recorded.
        IndexAnswer answer = new IndexAnswer(session, 0, second);

        Map<String, Object> transcript = new Transcripts(Topics.defaults(), log, 1_000_000).build(answer, true);

        @SuppressWarnings("unchecked")
        Map<String, Object> only = ((List<Map<String, Object>>) transcript.get("turns")).getFirst();
        assertEquals("Hello world", only.get("answer"));
        assertEquals(2, only.get("token_chunks"));
        assertEquals(4, ((List<?>) only.get("events")).size());
    }
}
