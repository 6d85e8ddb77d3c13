package io.tokenpipe.delivery;

import io.tokenpipe.common.auth.Principal;
import io.tokenpipe.common.auth.Scope;
import io.tokenpipe.common.http.ApiException;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StreamQuotaTest {

    private final StreamQuota quota = new StreamQuota(2, 1);
    private final Principal key = Principal.apiKey("svc", Set.of(Scope.READ));

    @Test
    void aKeyHoldsAtMostItsStreamsAndAReleaseFreesOneOnce() {
        Runnable first = quota.acquire(key);
        quota.acquire(key);
        ApiException refused = assertThrows(ApiException.class, () -> quota.acquire(key));
        assertEquals(429, refused.status());
        assertEquals("too_many_streams_for_credential", refused.code());
        first.run();
        first.run(); // twice is harmless
        quota.acquire(key);
        assertThrows(ApiException.class, () -> quota.acquire(key));
    }

    @Test
    void readTokensAreCountedPerSessionAndOthersAreNotAffected() {
        quota.acquire(Principal.readToken("s_a"));
        assertThrows(ApiException.class, () -> quota.acquire(Principal.readToken("s_a")));
        quota.acquire(Principal.readToken("s_b"));
        quota.acquire(key);
        quota.acquire(Principal.open()); // open mode and node tokens are not counted
        quota.acquire(Principal.open());
    }
}
