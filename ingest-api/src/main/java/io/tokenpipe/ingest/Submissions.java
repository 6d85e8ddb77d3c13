package io.tokenpipe.ingest;

import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.PromptSubmitted;
import io.tokenpipe.common.event.SessionCreated;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.id.Ids;
import io.tokenpipe.common.kafka.Topics;
import io.tokenpipe.common.privacy.SessionCodec;
import io.tokenpipe.common.privacy.SessionDeletedException;
import io.tokenpipe.common.privacy.SessionKeys;
import io.tokenpipe.common.log.TurnLogContext;
import io.tokenpipe.index.SessionIndex;
import io.tokenpipe.index.SessionRecord;
import io.tokenpipe.index.TurnRecord;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.SecretKey;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/**
 * Creating sessions and submitting turns: what {@code POST /v1/sessions}, {@code POST .../turns} and
 * the OpenAI-compatible {@code POST /v1/chat/completions} share. Every refusal (404, 409, 422) happens
 * before anything is written; a write returns once Kafka has acknowledged it.
 */
public final class Submissions {

    private static final Logger log = LoggerFactory.getLogger(Submissions.class);

    /** A session written to the sessions topic. */
    public record CreatedSession(String sessionId, Instant createdAt, Map<String, String> metadata) {
    }

    /**
     * A turn accepted: newly written, or (a retry with the same idempotency key) the one written before.
     *
     * @param replayed true when this is the earlier turn of the same request
     * @param status   the turn's status as the index knows it ({@code queued} for a new one)
     */
    public record AcceptedTurn(String sessionId, String turnId, String clientRequestId, String status,
                               Instant submittedAt, boolean replayed) {
    }

    private final IngestSettings settings;
    private final Topics topics;
    private final KafkaWriter writer;
    private final SessionIndex index;
    private final TurnRequestParser parser;
    private final Clock clock;
    private final SessionCodec codec;

    /** @param codec seals the prompts of sessions that have a key (and creates keys for new sessions) */
    public Submissions(IngestSettings settings, Topics topics, Producer<String, byte[]> producer, SessionIndex index,
                       Clock clock, SessionCodec codec) {
        this.codec = codec;
        this.settings = settings;
        this.topics = topics;
        this.writer = new KafkaWriter(producer, settings.kafkaWriteTimeout());
        this.index = index;
        this.parser = new TurnRequestParser(settings);
        this.clock = clock;
    }

    public IngestSettings settings() {
        return settings;
    }

    public CreatedSession createSession(Map<String, String> metadata) {
        String sessionId = Ids.newSessionId();
        Instant now = clock.instant();
        // The key before the session: whoever learns of the session can find its key.
        codec.keys().create(sessionId);
        writer.write(topics.sessions(), sessionId, SessionCreated.TYPE,
                new SessionCreated(SessionCreated.VERSION, sessionId, now, metadata));
        return new CreatedSession(sessionId, now, metadata);
    }

    /**
     * Validates a turn request in tokenpipe's format ({@code POST .../turns}); a 4xx names the offending
     * field. The OpenAI endpoint translates its requests into this format, so both accept the same values.
     */
    public TurnRequest parse(byte[] body, String idempotencyKey) {
        return parser.parse(body, idempotencyKey);
    }

    /**
     * Submits the turn to the session, unless the same request (by idempotency key) was submitted
     * before, which is returned instead.
     *
     * @param justCreated the session was created by this same request a moment ago: the index may not
     *                    show it yet, and it holds no turns
     */
    public AcceptedTurn submit(String sessionId, TurnRequest request, boolean justCreated) {
        codec.keys().checkNotDeleted(sessionId);
        String clientRequestId = request.clientRequestId() != null ? request.clientRequestId() : Ids.newRequestId();
        String requestHash = hash(request.fingerprint());
        if (!justCreated) {
            // A client's idempotency key must be checked against everything already written (a retry
            // may follow its first attempt by a millisecond); a generated request id cannot collide.
            SessionRecord session = index.existing(sessionId, request.clientRequestId() != null).session();
            Optional<TurnRecord> earlier = session.turnForRequest(clientRequestId);
            if (earlier.isPresent()) {
                TurnRecord turn = earlier.get();
                if (!requestHash.equals(turn.requestHash())) {
                    throw new ApiException(422, "idempotency_key_reused", "idempotency key '" + clientRequestId
                            + "' was already used for a different request in this session");
                }
                return new AcceptedTurn(sessionId, turn.turnId(), clientRequestId, turn.status().json(), turn.submittedAt(), true);
            }
            if (session.turns().size() >= settings.maxTurnsPerSession()) {
                throw new ApiException(409, "too_many_turns", "session " + sessionId + " already holds "
                        + session.turns().size() + " turns (MAX_TURNS_PER_SESSION)");
            }
        }
        String turnId = Ids.turnId(sessionId, clientRequestId);
        Instant now = clock.instant();
        try (TurnLogContext ids = TurnLogContext.of(sessionId, turnId)) {
            PromptSubmitted prompt = new PromptSubmitted(PromptSubmitted.VERSION,
                    sessionId, turnId, clientRequestId, requestHash, request.model(), request.messages(), request.params(), now);
            writer.writeBytes(topics.prompts(), sessionId, PromptSubmitted.TYPE, codec.sealPrompt(prompt, keyOf(sessionId)));
            log.debug("accepted turn {} for model {}", turnId, request.model());
        }
        return new AcceptedTurn(sessionId, turnId, clientRequestId, TurnRecord.Status.QUEUED.json(), now, false);
    }

    /** The session's key, or {@code null} when it was created without one; 410 when it was deleted. */
    private SecretKey keyOf(String sessionId) {
        SessionKeys.State state = codec.keys().known(sessionId);
        if (state instanceof SessionKeys.Absent && codec.keys().encrypting()) {
            state = codec.keys().fresh(sessionId); // created a moment ago on another node
        }
        return switch (state) {
            case SessionKeys.Present present -> present.key();
            case SessionKeys.Absent absent -> null;
            case SessionKeys.Deleted deleted -> throw new SessionDeletedException(sessionId);
        };
    }

    private static String hash(Object fingerprint) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Json.bytes(fingerprint)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
