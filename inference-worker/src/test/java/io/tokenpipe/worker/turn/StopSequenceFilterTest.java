package io.tokenpipe.worker.turn;

import io.tokenpipe.worker.model.TokenSink;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopSequenceFilterTest {

    private final List<String> emitted = new ArrayList<>();
    private final TokenSink recorder = text -> emitted.add(text);

    @Test
    void passesTextThroughWhenNoStopSequenceIsNear() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("END"), recorder);
        assertTrue(filter.accept("Hello"));
        assertTrue(filter.accept(" world"));
        assertTrue(filter.flush());
        assertEquals(List.of("Hello", " world"), emitted);
        assertFalse(filter.stopped());
    }

    @Test
    void stopSequenceInsideOneDeltaCutsBeforeIt() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("STOP"), recorder);
        assertTrue(filter.accept("one "));
        assertFalse(filter.accept("two STOP three"));
        assertEquals(List.of("one ", "two "), emitted);
        assertTrue(filter.stopped());
    }

    @Test
    void stopSequenceSplitAcrossThreeDeltas() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("lo world"), recorder);
        assertTrue(filter.accept("Hel"));
        assertEquals(List.of("He"), emitted, "'l' may be the start of the stop sequence");
        assertTrue(filter.accept("lo wor"));
        assertEquals(List.of("He", "l"), emitted, "'lo wor' may be the start of the stop sequence");
        assertFalse(filter.accept("ld"));
        assertEquals(List.of("He", "l"), emitted);
        assertEquals("Hel", String.join("", emitted));
        assertTrue(filter.stopped());
    }

    @Test
    void heldBackTextIsReleasedWhenTheNextDeltaDiverges() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("lo world"), recorder);
        assertTrue(filter.accept("Hello wo"));
        assertTrue(filter.accept("nders"));
        assertEquals(List.of("Hel", "lo wonders"), emitted);
        assertFalse(filter.stopped());
    }

    @Test
    void flushReleasesAHeldBackPrefixAtTheEnd() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("###"), recorder);
        assertTrue(filter.accept("done #"));
        assertTrue(filter.accept("#"));
        assertEquals(List.of("done "), emitted);
        assertTrue(filter.flush());
        assertEquals(List.of("done ", "##"), emitted);
        assertTrue(filter.flush(), "nothing left to emit");
        assertEquals(2, emitted.size());
    }

    @Test
    void flushReturnsDownstreamAnswer() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("xy"), text -> false);
        assertTrue(filter.accept("x"), "nothing emitted yet, so nothing refused");
        assertFalse(filter.flush());
    }

    @Test
    void stopSequenceAtTheVeryBeginningEmitsNothing() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("<|end|>"), recorder);
        assertTrue(filter.accept("<|"));
        assertFalse(filter.accept("end|>more"));
        assertEquals(List.of(), emitted);
        assertTrue(filter.stopped());
    }

    @Test
    void earliestOfSeveralStopSequencesWins() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("beta", "alpha"), recorder);
        assertFalse(filter.accept("x alpha y beta"));
        assertEquals(List.of("x "), emitted);
    }

    @Test
    void overlappingPrefixesHoldBackTheLongestCandidate() throws Exception {
        // "abab" ends with "ab" and "abab": both could start "ababc"; hold back the longest.
        StopSequenceFilter filter = new StopSequenceFilter(List.of("ababc", "bx"), recorder);
        assertTrue(filter.accept("zabab"));
        assertEquals(List.of("z"), emitted);
        assertTrue(filter.accept("ab"));
        assertEquals(List.of("z", "ab"), emitted, "'abab' still pending after 'ababab'");
        assertFalse(filter.accept("c tail"));
        assertEquals(List.of("z", "ab"), emitted);
    }

    @Test
    void secondStopSequenceCompletedFromAHeldBackPrefix() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("abcd", "bx"), recorder);
        assertTrue(filter.accept("qab"));
        assertEquals(List.of("q"), emitted);
        assertFalse(filter.accept("x"));
        assertEquals(List.of("q", "a"), emitted);
    }

    @Test
    void afterStoppingEverythingIsRefusedAndNothingEmitted() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("!"), recorder);
        assertFalse(filter.accept("hi!"));
        assertFalse(filter.accept("more"));
        assertTrue(filter.flush());
        assertEquals(List.of("hi"), emitted);
    }

    @Test
    void emptyStopListIsPassThroughWithoutEmptyStrings() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of(), recorder);
        assertTrue(filter.accept("a"));
        assertTrue(filter.accept(""));
        assertTrue(filter.accept(" b"));
        assertTrue(filter.flush());
        assertEquals(List.of("a", " b"), emitted);
    }

    @Test
    void returnsDownstreamRefusal() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("zz"), text -> false);
        assertFalse(filter.accept("hello"));
        assertFalse(filter.stopped(), "downstream refusing is not a stop-sequence match");
    }

    @Test
    void unicodeStopSequenceAcrossDeltas() throws Exception {
        StopSequenceFilter filter = new StopSequenceFilter(List.of("終わり"), recorder);
        assertTrue(filter.accept("こんにちは終"));
        assertTrue(filter.accept("わ"));
        assertFalse(filter.accept("りです"));
        assertEquals(List.of("こんにちは"), emitted);
    }

    @Test
    void neverSplitsASurrogatePairWhenHoldingBack() throws Exception {
        // The stop sequence starts with the low surrogate of U+1F600, so the cut would fall inside the pair.
        String grin = "\uD83D\uDE00";
        StopSequenceFilter filter = new StopSequenceFilter(List.of("\uDE00!"), recorder);
        assertTrue(filter.accept("hi " + grin));
        assertEquals(List.of("hi "), emitted);
        assertTrue(filter.accept(" ok"));
        assertTrue(filter.flush());
        assertEquals(List.of("hi ", grin + " ok"), emitted);
        assertEquals("hi " + grin + " ok", String.join("", emitted));
    }

    @Test
    void emojiBeforeAStopPrefixIsEmittedWhole() throws Exception {
        String grin = "\uD83D\uDE00";
        StopSequenceFilter filter = new StopSequenceFilter(List.of("<end>"), recorder);
        assertTrue(filter.accept(grin + "<e"));
        assertEquals(List.of(grin), emitted);
        assertFalse(filter.accept("nd>"));
        assertEquals(List.of(grin), emitted);
    }
}
