package io.tokenpipe.ingest;

import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.testing.JsonMutations;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded fuzzing of the turn request parser: whatever the body, it either yields a request within the
 * limits or refuses with a 4xx ApiException; never another exception (a 500), never an unbounded value.
 * The seed of a failing case is in the message, so it can be replayed.
 */
class TurnRequestParserFuzzTest {

    private static final int MAX_TOKENS_LIMIT = 500;
    private static final IngestSettings SETTINGS = new IngestSettings(0, 1000, MAX_TOKENS_LIMIT, "synthetic", List.of(),
            1000, "", Duration.ofSeconds(1), List.of());
    private static final String VALID = "{\"prompt\":\"hello\",\"max_tokens\":12,\"temperature\":0.5,\"stop\":[\"x\"],"
            + "\"seed\":3,\"options\":{\"tokens\":5},\"model\":\"synthetic\"}";

    private final TurnRequestParser parser = new TurnRequestParser(SETTINGS);

    @Test
    void mutatedBodiesAreParsedWithinLimitsOrRefusedWithA4xx() {
        for (long seed = 0; seed < 5_000; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            String body = JsonMutations.mutate(VALID, random);
            check(body.getBytes(StandardCharsets.UTF_8), random.nextBoolean() ? null : randomKey(random), seed);
        }
    }

    @Test
    void randomBytesAreRefusedWithA4xx() {
        for (long seed = 0; seed < 2_000; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            byte[] body = new byte[random.nextInt(0, 200)];
            random.nextBytes(body);
            check(body, null, seed);
        }
    }

    @Test
    void leavingMaxTokensOutGivesTheLimitNotUnbounded() {
        TurnRequest request = parser.parse("{\"prompt\":\"hi\"}".getBytes(StandardCharsets.UTF_8), null);
        assertEquals(MAX_TOKENS_LIMIT, request.params().maxTokens());
    }

    private void check(byte[] body, String key, long seed) {
        try {
            TurnRequest request = parser.parse(body, key);
            assertNotNull(request.params().maxTokens(), "seed " + seed);
            assertTrue(request.params().maxTokens() >= 1 && request.params().maxTokens() <= MAX_TOKENS_LIMIT, "seed " + seed);
            assertTrue(request.params().options().size() <= TurnRequestParser.MAX_OPTIONS, "seed " + seed);
            assertTrue(!request.messages().isEmpty(), "seed " + seed);
        } catch (ApiException e) {
            assertTrue(e.status() >= 400 && e.status() < 500, "seed " + seed + ": " + e.status());
            assertNotNull(e.code(), "seed " + seed);
        } catch (RuntimeException e) {
            fail("seed " + seed + ": " + e + " for body " + new String(body, StandardCharsets.UTF_8), e);
        }
    }

    private static String randomKey(SplittableRandom random) {
        StringBuilder key = new StringBuilder();
        int length = random.nextInt(0, 140);
        for (int i = 0; i < length; i++) {
            key.append((char) random.nextInt(0x1f, 0x80));
        }
        return key.toString();
    }
}
