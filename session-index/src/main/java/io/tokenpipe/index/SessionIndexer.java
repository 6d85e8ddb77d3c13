package io.tokenpipe.index;

import io.tokenpipe.common.event.EventHeaders;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.SessionCreated;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.kafka.Topics;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Folds the three topics of one partition into session records. Token chunks are the bulk of the
 * stream topic and change nothing in a record, so they are recognised by their header and skipped
 * without being parsed; only the position advances.
 */
final class SessionIndexer implements Processor<String, byte[], Void, Void> {

    private static final Logger log = LoggerFactory.getLogger(SessionIndexer.class);

    private final Topics topics;
    private final IndexProgress progress;
    private ProcessorContext<Void, Void> context;
    private KeyValueStore<String, SessionRecord> sessions;
    private KeyValueStore<String, Long> positions;

    SessionIndexer(Topics topics, IndexProgress progress) {
        this.topics = topics;
        this.progress = progress;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
        this.context = context;
        this.sessions = context.getStateStore(IndexTopology.SESSIONS_STORE);
        this.positions = context.getStateStore(IndexTopology.POSITIONS_STORE);
        // The stores are restored by now: seed this node's progress with what they remember.
        int partition = context.taskId().partition();
        for (String topic : topics.all()) {
            Long position = positions.get(topic);
            if (position != null) {
                progress.advance(new TopicPartition(topic, partition), position);
            }
        }
    }

    @Override
    public void process(Record<String, byte[]> record) {
        RecordMetadata meta = context.recordMetadata().orElseThrow();
        String sessionId = record.key();
        if (sessionId != null && record.value() != null) {
            try {
                apply(meta, sessionId, record);
            } catch (RuntimeException e) {
                // The log is the source of truth and keeps the record; the index must not stop for
                // everyone because of one record it cannot read.
                log.error("index skips unreadable record {}-{}@{}", meta.topic(), meta.partition(), meta.offset(), e);
            }
        }
        positions.put(meta.topic(), meta.offset());
        progress.advance(new TopicPartition(meta.topic(), meta.partition()), meta.offset());
    }

    private void apply(RecordMetadata meta, String sessionId, Record<String, byte[]> record) {
        String topic = meta.topic();
        if (topic.equals(topics.stream())) {
            String type = EventHeaders.type(record.headers());
            if (TokenChunk.TYPE.equals(type)) {
                return;
            }
            applyStreamEvent(sessionId, meta.offset(), Json.read(record.value(), StreamEvent.class));
        } else if (topic.equals(topics.prompts())) {
            applyPrompt(sessionId, meta.offset(), Json.read(record.value(), PromptSubmitted.class));
        } else if (topic.equals(topics.sessions())) {
            SessionCreated created = Json.read(record.value(), SessionCreated.class);
            if (sessions.get(sessionId) == null) {
                sessions.put(sessionId, new SessionRecord(sessionId, created.createdAt(), created.metadata(),
                        meta.partition(), java.util.List.of()));
            }
        }
    }

    private void applyPrompt(String sessionId, long offset, PromptSubmitted prompt) {
        SessionRecord session = sessions.get(sessionId);
        if (session == null) {
            log.warn("prompt for unknown session {} at offset {} ignored by the index", sessionId, offset);
            return;
        }
        if (session.turn(prompt.turnId()).isPresent()) {
            return; // a duplicate of a retried request: the first one is the turn
        }
        sessions.put(sessionId, session.withTurn(new TurnRecord(prompt.turnId(), prompt.clientRequestId(),
                prompt.requestHash(), offset, prompt.submittedAt(), null, null, TurnRecord.Status.QUEUED, null)));
    }

    private void applyStreamEvent(String sessionId, long offset, StreamEvent event) {
        SessionRecord session = sessions.get(sessionId);
        if (session == null || session.turn(event.turnId()).isEmpty()) {
            log.warn("{} for unknown turn {}/{} at offset {} ignored by the index", event.type(), sessionId,
                    event.turnId(), offset);
            return;
        }
        SessionRecord updated = switch (event) {
            case TurnStarted s -> session.updateTurn(s.turnId(), t -> t.started(offset));
            case TurnCompleted c -> session.updateTurn(c.turnId(),
                    t -> t.ended(offset, TurnRecord.Status.COMPLETED, c.finishReason()));
            case TurnFailed f -> session.updateTurn(f.turnId(),
                    t -> t.ended(offset, TurnRecord.Status.FAILED, f.error().code()));
            default -> session;
        };
        if (updated != session) {
            sessions.put(sessionId, updated);
        }
    }
}
