package io.tokenpipe.testing;

import java.util.SplittableRandom;

/**
 * Seeded mutations of a valid JSON request body, for fuzzing the request parsers: inserted fragments
 * (JSON punctuation, keywords, out-of-range numbers, lone surrogates, field names the parser knows),
 * deleted runs and replaced characters. The same seed gives the same body, so a failing case replays.
 */
public final class JsonMutations {

    private static final String[] FRAGMENTS = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "null", "true", "-1",
            "1e309", "9223372036854775808", "0.0", "\"prompt\"", "\"messages\"", "\"max_tokens\"", "\"options\"", "\"stop\"",
            "\"seed\"", "\"role\"", "\"content\"", "\"user\"", "\"system\"", "\"temperature\"", "NaN", "\uD800", "é", " "};

    private JsonMutations() {
    }

    /** {@code valid} with 1 to 5 random edits; {@code extraFragments} are inserted as often as the usual ones. */
    public static String mutate(String valid, SplittableRandom random, String... extraFragments) {
        StringBuilder body = new StringBuilder(valid);
        int edits = random.nextInt(1, 6);
        for (int i = 0; i < edits; i++) {
            int at = random.nextInt(0, body.length() + 1);
            switch (random.nextInt(3)) {
                case 0 -> {
                    int pick = random.nextInt(FRAGMENTS.length + extraFragments.length);
                    body.insert(at, pick < FRAGMENTS.length ? FRAGMENTS[pick] : extraFragments[pick - FRAGMENTS.length]);
                }
                case 1 -> {
                    if (at < body.length()) {
                        body.delete(at, Math.min(body.length(), at + random.nextInt(1, 8)));
                    }
                }
                default -> {
                    if (at < body.length()) {
                        body.setCharAt(at, (char) random.nextInt(0x20, 0x7f));
                    }
                }
            }
        }
        return body.toString();
    }
}
