package io.tokenpipe.delivery;

import io.tokenpipe.common.event.EventChain;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.KafkaRef;
import io.tokenpipe.common.event.StreamEvent;
import io.tokenpipe.common.event.ReasoningChunk;
import io.tokenpipe.common.event.TokenChunk;
import io.tokenpipe.common.event.TurnCompleted;
import io.tokenpipe.common.event.TurnFailed;
import io.tokenpipe.common.event.TurnResumed;
import io.tokenpipe.common.event.TurnStarted;
import io.tokenpipe.common.kafka.SkippedRecords;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.index.IndexAnswer;
import io.tokenpipe.index.SessionRecord;
import io.tokenpipe.index.TurnRecord;
import io.tokenpipe.common.log.LogEvent;
import io.tokenpipe.common.log.SessionLog;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A whole session for auditing: each turn's request, parameters, full answer, outcome and timing,
 * and every event with its Kafka provenance. Read from the log, through the same replay plan as a
 * stream, so it shows exactly what a client following the session was sent.
 */
final class Transcripts {

    private final Topics topics;
    private final SessionLog sessionLog;
    private final long maxBytes;

    /** @param maxBytes the most bytes of stored events one transcript may hold in memory (413 beyond) */
    Transcripts(Topics topics, SessionLog sessionLog, long maxBytes) {
        this.maxBytes = maxBytes;
        this.topics = topics;
        this.sessionLog = sessionLog;
    }

    Map<String, Object> build(IndexAnswer answer, boolean withEvents) throws InterruptedException {
        SessionRecord session = answer.session();
        Map<String, TurnTranscript> turns = new LinkedHashMap<>();
        for (TurnRecord turn : session.turns()) {
            turns.put(turn.turnId(), new TurnTranscript(turn, session.partition()));
        }
        ReplayPlan plan = ReplayPlan.after(answer, -1);
        SseEndpoint.checkRetained(sessionLog, plan); // a transcript with turns missing would mislead an audit
        List<long[]> reads = new ArrayList<>(plan.ranges());
        reads.add(new long[]{plan.openFrom(), sessionLog.end(plan.partition()) - 1});
        long bytes = 0;
        long read = -1; // the last offset taken: the open part may overlap the index's last range
        for (long[] range : reads) {
            long position = Math.max(range[0], read + 1);
            long to = range[1] + 1;
            while (position < to) {
                SessionLog.Batch batch = sessionLog.read(plan.partition(), session.sessionId(), position, to, 5_000);
                for (LogEvent stored : batch.events()) {
                    if (stored.offset() <= read) {
                        continue; // read already (a turn's end the index knows, before its stream position)
                    }
                    read = stored.offset();
                    bytes += stored.size();
                    if (bytes > maxBytes) {
                        // Built whole in memory on a request thread: refuse rather than hold gigabytes.
                        throw new ApiException(413, "transcript_too_large", "this session's events exceed "
                                + maxBytes + " bytes (TRANSCRIPT_MAX_BYTES); replay them as a stream with "
                                + "GET /v1/sessions/{id}/events?follow=false instead");
                    }
                    StreamEvent event;
                    try {
                        event = Json.read(stored.json(), StreamEvent.class);
                    } catch (RuntimeException e) {
                        // An event of a type or shape this node does not know: the rest of the session
                        // is still worth showing.
                        SkippedRecords.skip("transcripts", topics.stream(), stored.partition(), stored.offset(), e);
                        continue;
                    }
                    if (event == null || event.turnId() == null) {
                        SkippedRecords.skip("transcripts", topics.stream(), stored.partition(), stored.offset(),
                                "an event without a turn id");
                        continue;
                    }
                    turns.computeIfAbsent(event.turnId(), id -> new TurnTranscript(null, session.partition()))
                            .add(event, stored, new KafkaRef(topics.stream(), stored.partition(), stored.offset()));
                }
                position = batch.next();
            }
        }

        Map<String, Object> out = new LinkedHashMap<>();
        out.put("session_id", session.sessionId());
        out.put("created_at", session.createdAt());
        out.put("metadata", session.metadata());
        out.put("partition", session.partition());
        out.put("topics", Map.of("sessions", topics.sessions(), "prompts", topics.prompts(), "stream", topics.stream()));
        List<Map<String, Object>> turnList = new ArrayList<>();
        turns.values().forEach(t -> turnList.add(t.render(withEvents)));
        out.put("turns", turnList);
        return out;
    }

    /** One turn, assembled from its index record and its events. */
    private final class TurnTranscript {
        private final TurnRecord record;
        private final int partition;
        private final List<Map<String, Object>> events = new ArrayList<>();
        private final StringBuilder answer = new StringBuilder();
        private final Set<String> workers = new LinkedHashSet<>();
        private TurnStarted started;
        private StreamEvent end;
        private Instant firstToken;
        private int attempts;
        private int tokens;
        private final ChainCheck chain = new ChainCheck();

        TurnTranscript(TurnRecord record, int partition) {
            this.record = record;
            this.partition = partition;
        }

        void add(StreamEvent event, LogEvent stored, KafkaRef ref) {
            chain.add(stored, event.index());
            attempts = Math.max(attempts, event.attempt());
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("type", event.type());
            e.put("index", event.index());
            e.put("attempt", event.attempt());
            e.put("produced_at", event.producedAt());
            switch (event) {
                case TurnStarted s -> {
                    started = s;
                    workers.add(s.workerId());
                    e.put("worker_id", s.workerId());
                }
                case TokenChunk chunk -> {
                    tokens++;
                    answer.append(chunk.text());
                    if (firstToken == null) {
                        firstToken = chunk.producedAt();
                    }
                    e.put("text", chunk.text());
                }
                case ReasoningChunk chunk -> e.put("text", chunk.text());
                case TurnResumed r -> {
                    workers.add(r.workerId());
                    e.put("reason", r.reason());
                    e.put("worker_id", r.workerId());
                    e.put("restart", r.restart());
                    if (r.restart()) {
                        answer.setLength(0); // the answer started over; the events keep the discarded text
                        tokens = 0;
                    }
                }
                case TurnCompleted c -> {
                    end = c;
                    e.put("finish_reason", c.finishReason());
                }
                case TurnFailed f -> {
                    end = f;
                    e.put("error", f.error());
                }
            }
            e.put("kafka", ref);
            if (stored.chain() != null) {
                e.put("chain", EventChain.hex(stored.chain()));
            }
            events.add(e);
        }

        Map<String, Object> render(boolean withEvents) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("turn_id", record != null ? record.turnId() : started != null ? started.turnId() : null);
            t.put("status", status());
            if (started != null) {
                t.put("client_request_id", started.clientRequestId());
                t.put("model", started.model());
                t.put("messages", started.messages());
                t.put("params", started.params());
                t.put("submitted_at", started.submittedAt());
                t.put("prompt", started.prompt());
            } else if (record != null) {
                t.put("client_request_id", record.clientRequestId());
                t.put("submitted_at", record.submittedAt());
                if (record.promptOffset() != null) {
                    t.put("prompt", new KafkaRef(topics.prompts(), partition, record.promptOffset()));
                }
            }
            t.put("answer", answer.toString());
            t.put("token_chunks", tokens);
            if (end instanceof TurnCompleted c) {
                t.put("finish_reason", c.finishReason());
                t.put("usage", c.usage());
            } else if (end instanceof TurnFailed f) {
                t.put("error", f.error());
            }
            t.put("attempts", attempts);
            t.put("workers", workers);
            t.put("chain", chain.render(record != null && record.finished(), end != null));
            Map<String, Object> timing = new LinkedHashMap<>();
            if (started != null) {
                timing.put("started_at", started.producedAt());
                timing.put("queued_ms", millis(started.submittedAt(), started.producedAt()));
                if (firstToken != null) {
                    timing.put("first_token_at", firstToken);
                    timing.put("time_to_first_token_ms", millis(started.submittedAt(), firstToken));
                }
                if (end != null) {
                    timing.put("ended_at", end.producedAt());
                    timing.put("duration_ms", millis(started.producedAt(), end.producedAt()));
                }
            }
            t.put("timing", timing);
            if (withEvents) {
                t.put("events", events);
            }
            return t;
        }

        private String status() {
            if (end instanceof TurnCompleted) {
                return "completed";
            }
            if (end instanceof TurnFailed) {
                return "failed";
            }
            if (started != null) {
                return "running";
            }
            return record != null ? record.status().json() : "unknown";
        }

        private static Long millis(Instant from, Instant to) {
            return from == null || to == null ? null : Duration.between(from, to).toMillis();
        }
    }
}
