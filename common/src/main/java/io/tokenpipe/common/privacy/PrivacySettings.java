package io.tokenpipe.common.privacy;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/**
 * Encryption of session content and how long sessions are kept.
 *
 * @param encrypt   whether new sessions get a data key (their prompts and answers are sealed with it)
 * @param retention how long after its creation a session is deleted; {@link Duration#ZERO} keeps sessions for ever
 */
public record PrivacySettings(boolean encrypt, Duration retention, Duration sweepInterval) {

    public static final Setting ENCRYPT_SESSIONS = Setting.of("ENCRYPT_SESSIONS", "true",
            "Seal each new session's prompts and answers with its own AES-256-GCM key (kept in TOPIC_SESSION_KEYS), so that DELETE /v1/sessions/{id} erases them (crypto-shredding). Off: stored as plain JSON, and a delete only hides them until Kafka's retention removes them.");
    public static final Setting SESSION_RETENTION_MS = Setting.of("SESSION_RETENTION_MS", "0",
            "Sessions older than this (since creation) are deleted as by DELETE /v1/sessions/{id}; 0 keeps them for ever. Checked by the session index on the node holding each partition.");
    public static final Setting SESSION_SWEEP_INTERVAL_MS = Setting.of("SESSION_SWEEP_INTERVAL_MS", "60000",
            "How often each node looks for sessions past SESSION_RETENTION_MS among the partitions its index holds.");

    public static final List<Setting> SETTINGS = List.of(ENCRYPT_SESSIONS, SESSION_RETENTION_MS, SESSION_SWEEP_INTERVAL_MS);

    public static PrivacySettings from(Env env) {
        return new PrivacySettings(env.bool(ENCRYPT_SESSIONS), env.millis(SESSION_RETENTION_MS),
                env.millis(SESSION_SWEEP_INTERVAL_MS));
    }
}
