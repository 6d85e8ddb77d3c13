package io.tokenpipe.common.auth;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Writes (POSTs) per API key, as a token bucket per key name on this node: {@code perSecond} on
 * average, bursts of up to twice that. A key over its rate gets 429 with {@code Retry-After}; other
 * keys are not affected. Per node, not global: N nodes behind a balancer allow up to N times the rate.
 */
public final class WriteRateLimit {

    private final double perSecond;
    private final double burst;
    private final LongSupplier nanoTime;
    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

    private static final class Bucket {
        double tokens;
        long updated;

        Bucket(double tokens, long updated) {
            this.tokens = tokens;
            this.updated = updated;
        }
    }

    /** @param perSecond writes per second per key; 0 switches the limit off */
    public WriteRateLimit(double perSecond, LongSupplier nanoTime) {
        this.perSecond = perSecond;
        this.burst = Math.max(1, perSecond * 2);
        this.nanoTime = nanoTime;
    }

    public boolean enabled() {
        return perSecond > 0;
    }

    /** 0 when the write may go ahead (and is counted), else how many seconds to wait before retrying. */
    public int acquire(String key) {
        if (!enabled()) {
            return 0;
        }
        long now = nanoTime.getAsLong();
        Bucket bucket = buckets.computeIfAbsent(key, k -> new Bucket(burst, now));
        synchronized (bucket) {
            bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.updated) / 1e9 * perSecond);
            bucket.updated = now;
            if (bucket.tokens >= 1) {
                bucket.tokens -= 1;
                return 0;
            }
            return (int) Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
        }
    }
}
