package io.tokenpipe.index;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.SessionCreated;
import io.tokenpipe.common.event.TurnMark;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.kafka.Topics;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Folds a partition's sessions, prompts and turn marks into session records. Kafka Streams merges the
 * three partitions by timestamp, and a partition that is behind in fetching may be merged late: a
 * turn's mark can arrive before its prompt, a prompt before its session's creation. Every record
 * therefore adds what it knows to whatever is there, in any order, and the result is the same.
 */
final class SessionIndexer implements Processor<String, byte[], Void, Void> {

    /** Key, in the positions store, of the highest stream offset named by a mark of this partition. */
    static final String STREAM_MARK = "#stream-mark";

    private final Topics topics;
    private final IndexProgress progress;
    private ProcessorContext<Void, Void> context;
    private KeyValueStore<String, SessionRecord> sessions;
    private KeyValueStore<String, Long> positions;
    private KeyValueStore<String, String> byCreation;

    SessionIndexer(Topics topics, IndexProgress progress) {
        this.topics = topics;
        this.progress = progress;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
        this.context = context;
        this.sessions = context.getStateStore(IndexTopology.SESSIONS_STORE);
        this.positions = context.getStateStore(IndexTopology.POSITIONS_STORE);
        this.byCreation = context.getStateStore(IndexTopology.CREATED_STORE);
        fillCreatedStore();
        // The stores are restored by now: seed this node's progress with what they remember.
        int partition = context.taskId().partition();
        for (String topic : topics.indexed()) {
            Long position = positions.get(topic);
            if (position != null) {
                progress.advance(new TopicPartition(topic, partition), position);
            }
        }
        Long mark = positions.get(STREAM_MARK);
        if (mark != null) {
            progress.advance(new TopicPartition(topics.stream(), partition), mark);
        }
    }

    @Override
    public void process(Record<String, byte[]> record) {
        RecordMetadata meta = context.recordMetadata().orElseThrow();
        String sessionId = record.key();
        try {
            if (record.value() == null) {
                if (!meta.topic().equals(topics.sessions())) { // on the compacted sessions topic, a tombstone
                    throw new IllegalArgumentException("no value");
                }
            } else if (sessionId == null && meta.topic().equals(topics.turns())) {
                advanceStreamMark(meta.partition(), Json.read(record.value(), TurnMark.class).streamOffset()); // a watermark
            } else if (sessionId != null) {
                apply(meta, sessionId, record.value());
            }
        } catch (RuntimeException e) {
            // The log is the source of truth and keeps the record; the index must not stop for
            // everyone because of one record it cannot read.
            SkippedRecords.skip("session_index", meta.topic(), meta.partition(), meta.offset(), e);
        }
        positions.put(meta.topic(), meta.offset());
        progress.advance(new TopicPartition(meta.topic(), meta.partition()), meta.offset());
    }

    private void apply(RecordMetadata meta, String sessionId, byte[] value) {
        SessionRecord session = sessions.get(sessionId);
        if (session == null) {
            session = SessionRecord.placeholder(sessionId, meta.partition());
        }
        String topic = meta.topic();
        if (topic.equals(topics.sessions())) {
            SessionCreated created = Json.read(value, SessionCreated.class);
            if (session.createdAt() == null) {
                sessions.put(sessionId, session.created(created.createdAt(), created.metadata()));
                if (created.createdAt() != null) {
                    byCreation.put(CreationKey.of(created.createdAt(), sessionId), sessionId);
                }
            }
        } else if (topic.equals(topics.prompts())) {
            PromptSubmitted prompt = Json.read(value, PromptSubmitted.class);
            if (prompt.v() != PromptSubmitted.VERSION || prompt.turnId() == null) {
                throw new IllegalArgumentException("not a version " + PromptSubmitted.VERSION + " prompt with a turn id");
            }
            long offset = meta.offset();
            // A second prompt with a turn id already known is a retried request: the first one is the turn.
            sessions.put(sessionId, session.upsert(prompt.turnId(),
                    () -> TurnRecord.queued(prompt.turnId(), prompt.clientRequestId(), prompt.requestHash(), offset,
                            prompt.submittedAt(), prompt.model()),
                    t -> t.requestHash() != null ? t
                            : t.withPrompt(prompt.clientRequestId(), prompt.requestHash(), offset, prompt.submittedAt(),
                            prompt.model())));
        } else if (topic.equals(topics.turns())) {
            TurnMark mark = Json.read(value, TurnMark.class);
            if (mark.v() != TurnMark.VERSION || mark.turnId() == null || mark.type() == null) {
                throw new IllegalArgumentException("not a version " + TurnMark.VERSION + " mark of a turn");
            }
            sessions.put(sessionId, session.upsert(mark.turnId(), () -> TurnRecord.fromMark(mark), t -> t.with(mark)));
            advanceStreamMark(meta.partition(), mark.streamOffset());
        }
    }

    /**
     * An index built before the creation-time store existed has sessions and an empty store: fill it
     * once from the sessions store, so that searches find the sessions of before the upgrade too.
     */
    private void fillCreatedStore() {
        try (KeyValueIterator<String, String> any = byCreation.all()) {
            if (any.hasNext()) {
                return;
            }
        }
        try (KeyValueIterator<String, SessionRecord> all = sessions.all()) {
            while (all.hasNext()) {
                SessionRecord session = all.next().value;
                if (session != null && session.createdAt() != null) {
                    byCreation.put(CreationKey.of(session.createdAt(), session.sessionId()), session.sessionId());
                }
            }
        }
    }

    private void advanceStreamMark(int partition, long streamOffset) {
        TopicPartition stream = new TopicPartition(topics.stream(), partition);
        if (streamOffset > progress.processed(stream)) {
            positions.put(STREAM_MARK, streamOffset);
            progress.advance(stream, streamOffset);
        }
    }
}
