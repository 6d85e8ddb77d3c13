package io.tokenpipe.common.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.tokenpipe.common.config.ConfigException;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;

/**
 * Signed, expiring tokens (JWS with HMAC-SHA256, through nimbus-jose-jwt): a <b>read token</b> lets its
 * holder read one session's stream and transcript and nothing else; a <b>node token</b> lets another
 * node of the deployment ask this one's share of the session index. Every ingest-api and delivery-sse
 * node shares the secret ({@code AUTH_TOKEN_SECRET}), so a token issued by one is accepted by all.
 */
public final class ReadTokens {

    static final String ISSUER = "tokenpipe";
    static final String READ_AUDIENCE = "tokenpipe-session-read";
    static final String NODE_AUDIENCE = "tokenpipe-node";
    private static final Duration NODE_TOKEN_TTL = Duration.ofMinutes(1);
    /** HS256 needs a key of at least 256 bits. */
    public static final int MIN_SECRET_BYTES = 32;

    /** The token was refused; the message says why, without echoing the token. */
    public static final class InvalidToken extends Exception {
        private final boolean expired;

        InvalidToken(String message, boolean expired) {
            super(message);
            this.expired = expired;
        }

        public boolean expired() {
            return expired;
        }
    }

    /** A token as issued: its compact form and when it stops being accepted. */
    public record Issued(String token, Instant expiresAt) {
    }

    private final JWSSigner signer;
    private final JWSVerifier verifier;
    private final Duration readTtl;
    private final Clock clock;

    public ReadTokens(byte[] secret, Duration readTtl, Clock clock) {
        if (secret.length < MIN_SECRET_BYTES) {
            throw new ConfigException("AUTH_TOKEN_SECRET must be at least " + MIN_SECRET_BYTES + " bytes");
        }
        try {
            this.signer = new MACSigner(secret);
            this.verifier = new MACVerifier(secret);
        } catch (JOSEException e) {
            throw new ConfigException("AUTH_TOKEN_SECRET cannot be used as an HMAC key: " + e.getMessage());
        }
        this.readTtl = readTtl;
        this.clock = clock;
    }

    /** A random secret, for a single process that issues and checks its own tokens (the embedded launcher). */
    public static byte[] randomSecret() {
        byte[] secret = new byte[MIN_SECRET_BYTES];
        new SecureRandom().nextBytes(secret);
        return secret;
    }

    public static byte[] secret(String configured) {
        return configured.getBytes(StandardCharsets.UTF_8);
    }

    public Duration readTtl() {
        return readTtl;
    }

    /** A read token for one session, valid for {@code READ_TOKEN_TTL_SECONDS}. */
    public Issued issueRead(String sessionId) {
        return issue(READ_AUDIENCE, sessionId, readTtl);
    }

    /** A short token one node presents to another for an index lookup. */
    public String issueNode() {
        return issue(NODE_AUDIENCE, "node", NODE_TOKEN_TTL).token();
    }

    /** Who presents this token: the reader of one session, or another node. */
    public Principal verify(String token) throws InvalidToken {
        JWTClaimsSet claims = verifiedClaims(token);
        List<String> audiences = claims.getAudience();
        if (audiences != null && audiences.contains(READ_AUDIENCE)) {
            return Principal.readToken(claims.getSubject());
        }
        if (audiences != null && audiences.contains(NODE_AUDIENCE)) {
            return Principal.node();
        }
        throw new InvalidToken("the token is not valid here", false);
    }

    private Issued issue(String audience, String subject, Duration ttl) {
        Instant now = clock.instant();
        Instant expires = now.plus(ttl);
        byte[] id = new byte[12];
        new SecureRandom().nextBytes(id);
        JWTClaimsSet claims = new JWTClaimsSet.Builder()
                .issuer(ISSUER)
                .audience(audience)
                .subject(subject)
                .issueTime(Date.from(now))
                .expirationTime(Date.from(expires))
                .jwtID(Base64.getUrlEncoder().withoutPadding().encodeToString(id))
                .build();
        SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
        try {
            jwt.sign(signer);
        } catch (JOSEException e) {
            throw new IllegalStateException("signing a token failed", e);
        }
        return new Issued(jwt.serialize(), expires);
    }

    private JWTClaimsSet verifiedClaims(String token) throws InvalidToken {
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            // Only the algorithm we sign with: never "none", never one the token chooses.
            if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(verifier)) {
                throw new InvalidToken("the token's signature is not valid", false);
            }
            JWTClaimsSet claims = jwt.getJWTClaimsSet();
            if (!ISSUER.equals(claims.getIssuer()) || claims.getSubject() == null) {
                throw new InvalidToken("the token is not valid here", false);
            }
            Date expires = claims.getExpirationTime();
            if (expires == null || !clock.instant().isBefore(expires.toInstant())) {
                throw new InvalidToken("the token has expired; ask for a new one", true);
            }
            return claims;
        } catch (ParseException e) {
            throw new InvalidToken("not a token tokenpipe issued", false);
        } catch (JOSEException e) {
            throw new InvalidToken("the token's signature could not be checked", false);
        }
    }
}
