package io.tokenpipe.delivery;

import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.ingest.IngestSettings;
import io.tokenpipe.ingest.Submissions;
import io.tokenpipe.testing.JsonMutations;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded fuzzing of the OpenAI-compatible request parser (POST /v1/chat/completions): whatever the body,
 * it yields a turn within the server's limits or refuses with a 4xx ApiException — never another
 * exception, which would be a 500. The seed of a failing case is in the message.
 */
class ChatCompletionRequestFuzzTest {

    private static final int MAX_TOKENS_LIMIT = 300;
    private static final IngestSettings SETTINGS = new IngestSettings(0, 1000, MAX_TOKENS_LIMIT, "synthetic", List.of(),
            1000, "", Duration.ofSeconds(1), List.of());
    private static final String VALID = "{\"model\":\"synthetic\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
            + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}],\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},\"max_completion_tokens\":20,\"n\":1,\"temperature\":0.2,"
            + "\"stop\":\"x\",\"seed\":7,\"user\":\"u1\"}";
    private static final String[] OPENAI_FRAGMENTS = {"\"stream\"", "\"stream_options\"", "\"include_usage\"", "\"n\"",
            "\"max_completion_tokens\"", "\"developer\"", "\"assistant\"", "\"type\"", "\"text\"", "\"image_url\"", "\"tools\"",
            "2", "false"};

    // Only the turn parser of Submissions is used here: no topic, producer or index is needed.
    private final Submissions submissions = new Submissions(SETTINGS, null, null, null, Clock.systemUTC());

    @Test
    void theValidRequestParses() {
        ChatCompletionRequest request = parse(VALID.getBytes(StandardCharsets.UTF_8));
        assertTrue(request.stream() && request.includeUsage());
        assertTrue(request.turn().params().maxTokens() == 20);
    }

    @Test
    void mutatedRequestsParseWithinLimitsOrAreRefusedWithA4xx() {
        for (long seed = 0; seed < 5_000; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            check(JsonMutations.mutate(VALID, random, OPENAI_FRAGMENTS).getBytes(StandardCharsets.UTF_8), seed);
        }
    }

    @Test
    void randomBytesAreRefusedWithA4xx() {
        for (long seed = 0; seed < 2_000; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            byte[] body = new byte[random.nextInt(0, 200)];
            random.nextBytes(body);
            check(body, seed);
        }
    }

    private ChatCompletionRequest parse(byte[] body) {
        return ChatCompletionRequest.parse(body, null, submissions);
    }

    private void check(byte[] body, long seed) {
        try {
            ChatCompletionRequest request = parse(body);
            Integer maxTokens = request.turn().params().maxTokens();
            assertNotNull(maxTokens, "seed " + seed);
            assertTrue(maxTokens >= 1 && maxTokens <= MAX_TOKENS_LIMIT, "seed " + seed + ": max_tokens " + maxTokens);
            assertFalse(request.turn().messages().isEmpty(), "seed " + seed);
        } catch (ApiException e) {
            assertTrue(e.status() >= 400 && e.status() < 500, "seed " + seed + ": " + e.status());
            assertNotNull(e.code(), "seed " + seed);
        } catch (RuntimeException e) {
            fail("seed " + seed + ": " + e + " for body " + new String(body, StandardCharsets.UTF_8), e);
        }
    }
}
