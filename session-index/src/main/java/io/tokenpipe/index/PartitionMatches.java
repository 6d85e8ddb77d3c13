package io.tokenpipe.index;

import java.util.List;

/**
 * What one node found in the partitions it holds, for one query: the matching sessions with their
 * creation keys (in key order), the partitions it searched, and — when it stopped examining a
 * partition before finding a page or reaching the end of the range — the lowest key it examined up
 * to: beyond it, that partition's matches are unknown.
 */
record PartitionMatches(List<Match> matches, List<Integer> partitions, String examinedUpTo) {

    record Match(String key, SessionRecord session) {
    }
}
