package io.tokenpipe.worker.model;

import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A deterministic synthetic text generator, so the stack runs offline and load tests have a source
 * with controllable timing. It is not a language model: it strings words from a fixed vocabulary
 * into sentences, one word per delta, and ignores what the messages say except to seed itself.
 *
 * <p>The output depends only on the seed ({@code params.seed}, else a hash of the messages), so a
 * retry regenerates the same text and can resume after a continuation. Request options:
 * {@code tokens} (natural length; else 30..90 drawn from the seed), {@code time_to_first_token_ms}
 * and {@code tokens_per_second} (override {@link SyntheticSettings}). Thread-safe: no mutable state.
 */
public final class SyntheticModel implements ChatModel {

    static final String OPT_TOKENS = "tokens";
    static final String OPT_TTFT_MS = "time_to_first_token_ms";
    static final String OPT_TOKENS_PER_SECOND = "tokens_per_second";

    private static final String[] WORDS = ("""
            the a an this that every some many few most other each our their its
            river mountain city garden window letter engine signal harbor market village forest bridge
            station library kitchen morning evening winter summer season journey question answer story
            pattern network message system process record machine lantern compass island valley meadow
            traveler teacher student builder farmer sailor painter writer neighbor stranger friend family
            light shadow water stone paper silver copper timber thread candle mirror ladder basket
            quietly slowly gently carefully often rarely always sometimes nearly almost still again
            soon later together apart outside inside forward upward around across along beyond beneath
            walks carries builds finds keeps holds opens closes follows watches gathers measures
            remembers explains returns changes reaches crosses writes reads turns waits listens counts
            moves shares sends learns grows becomes seems brings leaves makes gives takes shows
            bright quiet narrow steady distant gentle patient careful simple curious ancient modern
            early late small large warm cold green golden hidden open calm clear heavy soft
            familiar sudden certain useful honest wooden broken empty crowded endless ordinary
            with from into over under between through toward near behind before after during
            and but while because although until when where
            time road plan idea voice hand door field wind rain cloud sky sea shore hill path
            word page line note song book map clock bell wheel tool rope boat cart lamp coat
            """).strip().split("\\s+");

    private final SyntheticSettings settings;

    public SyntheticModel(SyntheticSettings settings) {
        this.settings = settings;
    }

    @Override
    public ModelResult generate(ChatRequest request, TokenSink sink) throws ModelException, InterruptedException {
        long start = System.nanoTime();
        GenerationParams params = request.params();
        Map<String, Object> options = params.options();
        Long tokensOption = wholeNumber(options, OPT_TOKENS);
        Long ttftOption = wholeNumber(options, OPT_TTFT_MS);
        Double rateOption = number(options, OPT_TOKENS_PER_SECOND);
        if (tokensOption != null && tokensOption < 0) {
            throw invalid(OPT_TOKENS + " must not be negative, got " + tokensOption);
        }
        if (ttftOption != null && ttftOption < 0) {
            throw invalid(OPT_TTFT_MS + " must not be negative, got " + ttftOption);
        }
        if (rateOption != null && !(rateOption > 0)) {
            throw invalid(OPT_TOKENS_PER_SECOND + " must be greater than 0, got " + rateOption);
        }
        if (tokensOption != null && tokensOption > settings.maxOptionTokens()) {
            throw invalid(OPT_TOKENS + " must be at most " + settings.maxOptionTokens() + " here, got " + tokensOption);
        }
        if (ttftOption != null && ttftOption > settings.maxOptionTtft().toMillis()) {
            throw invalid(OPT_TTFT_MS + " must be at most " + settings.maxOptionTtft().toMillis() + " here, got " + ttftOption);
        }
        if (rateOption != null && rateOption < settings.minOptionRate()) {
            throw invalid(OPT_TOKENS_PER_SECOND + " must be at least " + settings.minOptionRate() + " here, got " + rateOption);
        }
        long ttftNanos = ttftOption != null ? ttftOption * 1_000_000L : settings.timeToFirstToken().toNanos();
        double rate = rateOption != null ? rateOption : settings.tokensPerSecond();

        long seed = params.seed() != null ? params.seed() : seedOf(request.messages());
        Words words = new Words(new SplittableRandom(seed));
        // Always drawn, so the words are the same whether or not the length is overridden.
        int natural = words.random.nextInt(30, 91);
        if (tokensOption != null) {
            natural = (int) Math.min(tokensOption, Integer.MAX_VALUE);
        }
        boolean truncated = params.maxTokens() != null && params.maxTokens() < natural;
        int count = truncated ? Math.max(0, params.maxTokens()) : natural;
        String finishReason = truncated ? "length" : "stop";

        Resume resume = skipContinuation(request.continuation(), words, count);
        int skipped = resume.deltas();
        if (!resume.remainder().isEmpty()) {
            // The earlier attempt delivered only part of a delta (the rest was held back as a possible
            // stop sequence): deliver the rest of it first.
            waitUntil(start + ttftNanos);
            if (!sink.accept(resume.remainder())) {
                return new ModelResult("stop", Usage.of(promptTokens(request.messages()), skipped));
            }
        }
        for (int i = skipped; i < count; i++) {
            String delta = words.next();
            if (Double.isFinite(rate) && rate > 0) {
                waitUntil(start + ttftNanos + (long) ((i - skipped) * 1e9 / rate));
            } else if (i == skipped && resume.remainder().isEmpty()) {
                waitUntil(start + ttftNanos);
            } else if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            if (!sink.accept(delta)) {
                return new ModelResult("stop", Usage.of(promptTokens(request.messages()), i + 1));
            }
        }
        return new ModelResult(finishReason, Usage.of(promptTokens(request.messages()), count));
    }

    /** How much of the sequence a continuation covers: whole deltas, and the rest of a delta it ends inside. */
    private record Resume(int deltas, String remainder) {
    }

    /** Consumes the deltas the continuation already covers. */
    private static Resume skipContinuation(String continuation, Words words, int count) throws ModelException {
        int pos = 0;
        int k = 0;
        while (pos < continuation.length()) {
            String delta = k < count ? words.next() : null;
            int left = continuation.length() - pos;
            if (delta != null && left < delta.length() && delta.startsWith(continuation.substring(pos))) {
                return new Resume(k + 1, delta.substring(left));
            }
            if (delta == null || !continuation.startsWith(delta, pos)) {
                throw new ModelException("continuation_mismatch",
                        "the continuation is not a prefix of this request's synthetic text (at char " + pos + ")", false);
            }
            pos += delta.length();
            k++;
        }
        return new Resume(k, "");
    }

    /** Sleeps until the deadline; Thread.sleep throws InterruptedException as soon as the thread is interrupted. */
    private static void waitUntil(long deadlineNanos) throws InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        long remaining;
        while ((remaining = deadlineNanos - System.nanoTime()) > 0) {
            Thread.sleep(remaining / 1_000_000L, (int) (remaining % 1_000_000L));
        }
    }

    static long seedOf(List<ChatMessage> messages) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (ChatMessage m : messages) {
                // Length-prefixed so ("ab","c") and ("a","bc") hash differently.
                for (String part : new String[] {m.role(), m.content()}) {
                    byte[] bytes = (part == null ? "" : part).getBytes(StandardCharsets.UTF_8);
                    sha.update(ByteBuffer.allocate(4).putInt(bytes.length).array());
                    sha.update(bytes);
                }
            }
            return ByteBuffer.wrap(sha.digest()).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required on every JVM", e);
        }
    }

    static int promptTokens(List<ChatMessage> messages) {
        long chars = 0;
        for (ChatMessage m : messages) {
            chars += m.content() == null ? 0 : m.content().length();
        }
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (chars + 3) / 4));
    }

    private static Double number(Map<String, Object> options, String key) throws ModelException {
        Object value = options.get(key);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Number n) || !Double.isFinite(n.doubleValue())) {
            throw invalid(key + " must be a number, got " + describe(value));
        }
        return n.doubleValue();
    }

    /** Accepts 12 and 12.0 (JSON decoders differ) but not 12.5. */
    private static Long wholeNumber(Map<String, Object> options, String key) throws ModelException {
        Object value = options.get(key);
        if (value == null) {
            return null;
        }
        if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        if (value instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) < 1e15) {
            return (long) n.doubleValue();
        }
        throw invalid(key + " must be an integer, got " + describe(value));
    }

    private static String describe(Object value) {
        return value instanceof String s ? "'" + s + "'" : String.valueOf(value);
    }

    private static ModelException invalid(String message) {
        return new ModelException("invalid_options", "synthetic model option " + message, false);
    }

    /** The endless word stream: sentences of 6..16 words, capitalised, ending with a period. */
    private static final class Words {
        final SplittableRandom random;
        private int index;
        private int leftInSentence;

        Words(SplittableRandom random) {
            this.random = random;
        }

        String next() {
            boolean sentenceStart = leftInSentence == 0;
            if (sentenceStart) {
                leftInSentence = random.nextInt(6, 17);
            }
            String word = WORDS[random.nextInt(WORDS.length)];
            if (sentenceStart) {
                word = Character.toUpperCase(word.charAt(0)) + word.substring(1);
            }
            leftInSentence--;
            return (index++ == 0 ? "" : " ") + word + (leftInSentence == 0 ? "." : "");
        }
    }
}
