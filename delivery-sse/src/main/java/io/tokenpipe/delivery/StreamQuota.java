package io.tokenpipe.delivery;

import io.tokenpipe.common.auth.Principal;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;
import io.tokenpipe.common.http.ApiException;

import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Streams open at once on this node per credential: per API key (by name), and per session for read
 * tokens (a leaked token must not take the node's share of streams). Beyond it a new stream gets 429
 * with {@code Retry-After}; other credentials are not affected.
 */
final class StreamQuota {

    static final Setting MAX_PER_KEY = Setting.of("SSE_MAX_STREAMS_PER_KEY", "1000",
            "Streams one API key may hold open at once on one node; beyond it 429 with Retry-After. 0 = no limit.");
    static final Setting MAX_PER_SESSION_TOKEN = Setting.of("SSE_MAX_STREAMS_PER_SESSION_TOKEN", "20",
            "Streams the read tokens of one session may hold open at once on one node (browser tabs); beyond it 429. 0 = no limit.");
    static final List<Setting> SETTINGS = List.of(MAX_PER_KEY, MAX_PER_SESSION_TOKEN);

    private final int maxPerKey;
    private final int maxPerSession;
    private final ConcurrentHashMap<String, AtomicInteger> open = new ConcurrentHashMap<>();

    StreamQuota(int maxPerKey, int maxPerSession) {
        this.maxPerKey = maxPerKey;
        this.maxPerSession = maxPerSession;
    }

    static StreamQuota from(Env env) {
        return new StreamQuota(env.integer(MAX_PER_KEY), env.integer(MAX_PER_SESSION_TOKEN));
    }

    /** Counts a new stream of this principal; the returned release (safe to run twice) uncounts it. */
    Runnable acquire(Principal principal) {
        String who;
        int max;
        switch (principal.kind()) {
            case API_KEY -> {
                who = "key:" + principal.name();
                max = maxPerKey;
            }
            case READ_TOKEN -> {
                who = "session:" + principal.sessionId();
                max = maxPerSession;
            }
            default -> {
                return () -> { };
            }
        }
        if (max <= 0) {
            return () -> { };
        }
        AtomicInteger count = open.computeIfAbsent(who, k -> new AtomicInteger());
        if (count.incrementAndGet() > max) {
            count.decrementAndGet();
            throw new ApiException(429, "too_many_streams_for_credential", (principal.kind() == Principal.Kind.API_KEY
                    ? "the API key '" + principal.name() + "'" : "this session's read tokens") + " already hold "
                    + max + " open streams on this node; close one or retry later", 2);
        }
        AtomicBoolean released = new AtomicBoolean();
        return () -> {
            if (released.compareAndSet(false, true)) {
                count.decrementAndGet();
            }
        };
    }
}
