package io.tokenpipe.delivery;

import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.time.Duration;
import java.util.List;

/** How delivery-sse serves streams. */
public record DeliverySettings(
        int httpPort,
        Duration heartbeat,
        Duration retry,
        int clientQueueEvents,
        int historyReaders,
        int maxStreams,
        String webIngestUrl,
        List<String> corsOrigins,
        int recentEvents,
        long recentEventsBytes,
        Duration historyWait,
        long transcriptMaxBytes,
        Duration partitionDetachGrace,
        long recentEventsNodeBytes) {

    public static final Setting HTTP_PORT = Setting.of("DELIVERY_HTTP_PORT", "8082", "HTTP port of delivery-sse.");
    public static final Setting HEARTBEAT_MS = Setting.of("SSE_HEARTBEAT_MS", "15000",
            "Comment line sent on an idle stream; keeps proxies from closing it (must be below their idle timeout, and Jetty's 30 s) and detects clients that went away.");
    public static final Setting RETRY_MS = Setting.of("SSE_RETRY_MS", "1000",
            "The retry: hint sent to clients: how long an EventSource waits before reconnecting.");
    public static final Setting CLIENT_QUEUE_EVENTS = Setting.of("SSE_CLIENT_QUEUE_EVENTS", "1024",
            "Live events buffered per client; a client that falls this far behind is switched to reading from the log until it catches up.");
    public static final Setting HISTORY_READERS = Setting.of("SSE_HISTORY_READERS", "8",
            "Kafka consumers kept for resumes and replays (reads of a session's past), shared by all clients of the node.");
    public static final Setting MAX_STREAMS = Setting.of("SSE_MAX_STREAMS", "20000",
            "Concurrent streams one node accepts; beyond it new streams get 503 with Retry-After.");
    public static final Setting WEB_INGEST_URL = Setting.of("WEB_INGEST_URL", "",
            "Base URL of ingest-api as the web page at / should call it; empty means the page's own origin.");
    public static final Setting CORS_ORIGINS = Setting.of("CORS_ORIGINS", "",
            "Comma-separated origins allowed to call the HTTP API from a browser (e.g. the web page's origin when it is served by another node); empty allows none; * allows any (credentials are still required).");

    public static final Setting RECENT_EVENTS = Setting.of("SSE_RECENT_EVENTS", "16384",
            "Events per partition the live tail keeps in memory; new streams and resumes that reach back no further are served from it without reading Kafka.");
    public static final Setting RECENT_EVENTS_BYTES = Setting.of("SSE_RECENT_EVENTS_BYTES", "4194304",
            "Bytes of event JSON per partition the live tail keeps in memory at most (a turn.started carries its whole prompt); whichever of this and SSE_RECENT_EVENTS is reached first bounds the ring.");

    public static final Setting HISTORY_WAIT_MS = Setting.of("SSE_HISTORY_WAIT_MS", "5000",
            "How long a read of a session's past waits for a free history reader before the request is answered 503 with Retry-After (a stream already open ends, and its client resumes).");
    public static final Setting TRANSCRIPT_MAX_BYTES = Setting.of("TRANSCRIPT_MAX_BYTES", "33554432",
            "Largest transcript built in memory, counted in bytes of the session's stored events; a larger session's transcript is answered 413 (its events can still be replayed as a stream with ?follow=false).");

    public static final Setting PARTITION_DETACH_MS = Setting.of("SSE_PARTITION_DETACH_MS", "30000",
            "How long the live tail keeps reading a partition (and its recent-events ring) after the last stream of this node on it ended; a node reads only the partitions its clients follow, and a client that comes back within this time is served from the ring.");

    public static final Setting RECENT_EVENTS_NODE_BYTES = Setting.of("SSE_RECENT_EVENTS_NODE_BYTES", "268435456",
            "Bytes of event JSON the live tail keeps in memory across all partitions at most: each partition's ring is bounded by this divided by the topic's partition count when that is below SSE_RECENT_EVENTS_BYTES (256 MiB over 256 partitions: 1 MiB each), so a node following sessions on every partition of a many-partition topic stays within its heap.");

    public static final List<Setting> SETTINGS = List.of(HTTP_PORT, HEARTBEAT_MS, RETRY_MS, CLIENT_QUEUE_EVENTS,
            HISTORY_READERS, MAX_STREAMS, WEB_INGEST_URL, CORS_ORIGINS, RECENT_EVENTS, RECENT_EVENTS_BYTES,
            HISTORY_WAIT_MS, TRANSCRIPT_MAX_BYTES, PARTITION_DETACH_MS, RECENT_EVENTS_NODE_BYTES);

    /** The byte bound of one partition's ring: the per-partition bound, or the node's share of its budget if smaller. */
    long recentEventsBytesPerPartition(int partitions) {
        return Math.max(1, Math.min(recentEventsBytes, recentEventsNodeBytes / Math.max(1, partitions)));
    }

    public static DeliverySettings from(Env env) {
        return new DeliverySettings(env.integer(HTTP_PORT), env.millis(HEARTBEAT_MS), env.millis(RETRY_MS),
                env.positiveInteger(CLIENT_QUEUE_EVENTS), env.positiveInteger(HISTORY_READERS),
                env.positiveInteger(MAX_STREAMS), env.string(WEB_INGEST_URL), env.list(CORS_ORIGINS),
                env.positiveInteger(RECENT_EVENTS), env.positiveLong(RECENT_EVENTS_BYTES),
                env.millis(HISTORY_WAIT_MS), env.positiveLong(TRANSCRIPT_MAX_BYTES), env.millis(PARTITION_DETACH_MS),
                env.positiveLong(RECENT_EVENTS_NODE_BYTES));
    }
}
