package io.tokenpipe.common.auth;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.PlainHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import io.tokenpipe.common.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Date;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReadTokensTest {

    private static final byte[] SECRET = ReadTokens.secret("unit-test-secret-0123456789abcdefghijkl");
    private static final Instant NOW = Instant.parse("2026-12-01T10:00:00Z");

    private static ReadTokens at(Instant now) {
        return new ReadTokens(SECRET, Duration.ofMinutes(10), Clock.fixed(now, ZoneOffset.UTC));
    }

    @Test
    void aReadTokenNamesItsSessionUntilItExpires() throws Exception {
        ReadTokens.Issued issued = at(NOW).issueRead("s_abc");
        assertEquals(NOW.plus(Duration.ofMinutes(10)), issued.expiresAt());
        Principal principal = at(NOW.plusSeconds(599)).verify(issued.token());
        assertEquals(Principal.Kind.READ_TOKEN, principal.kind());
        assertEquals("s_abc", principal.sessionId());
        assertTrue(principal.scopes().isEmpty(), "a read token carries no key scope");

        ReadTokens.InvalidToken expired = assertThrows(ReadTokens.InvalidToken.class,
                () -> at(NOW.plusSeconds(600)).verify(issued.token()));
        assertTrue(expired.expired());
    }

    @Test
    void aNodeTokenIsNoReadToken() throws Exception {
        assertEquals(Principal.Kind.NODE, at(NOW).verify(at(NOW).issueNode()).kind());
    }

    @Test
    void tokensSignedOtherwiseOrAlteredOrUnsignedAreRefused() throws Exception {
        String good = at(NOW).issueRead("s_abc").token();
        ReadTokens other = new ReadTokens(ReadTokens.randomSecret(), Duration.ofMinutes(10), Clock.fixed(NOW, ZoneOffset.UTC));
        assertFalse(assertThrows(ReadTokens.InvalidToken.class, () -> other.verify(good)).expired());

        // Same signature, another session: the payload is signed.
        String[] parts = good.split("\\.");
        String payload = new String(java.util.Base64.getUrlDecoder().decode(parts[1])).replace("s_abc", "s_xyz");
        String altered = parts[0] + "." + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(payload.getBytes()) + "." + parts[2];
        assertThrows(ReadTokens.InvalidToken.class, () -> at(NOW).verify(altered));

        JWTClaimsSet claims = new JWTClaimsSet.Builder().issuer(ReadTokens.ISSUER).audience(ReadTokens.READ_AUDIENCE)
                .subject("s_abc").expirationTime(Date.from(NOW.plusSeconds(60))).build();
        String unsigned = new PlainJWT(new PlainHeader(), claims).serialize();
        assertThrows(ReadTokens.InvalidToken.class, () -> at(NOW).verify(unsigned), "alg none is never accepted");

        SignedJWT hs512 = new SignedJWT(new JWSHeader(JWSAlgorithm.HS512), claims);
        hs512.sign(new MACSigner(ReadTokens.secret("unit-test-secret-0123456789abcdefghijkl-and-more-for-hs512-0123456789")));
        assertThrows(ReadTokens.InvalidToken.class, () -> at(NOW).verify(hs512.serialize()));

        assertThrows(ReadTokens.InvalidToken.class, () -> at(NOW).verify("not.a.token"));
        assertThrows(ReadTokens.InvalidToken.class, () -> at(NOW).verify("garbage"));
    }

    @Test
    void aShortSecretIsAConfigurationError() {
        assertThrows(ConfigException.class, () -> new ReadTokens(ReadTokens.secret("short"), Duration.ofMinutes(1), Clock.systemUTC()));
    }
}
