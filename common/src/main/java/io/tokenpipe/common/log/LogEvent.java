package io.tokenpipe.common.log;

/**
 * One stream event as the log holds it: the session's partition, the event's offset there (its
 * durable id, the SSE {@code id}), its type and its JSON exactly as stored. Its Server-Sent Events
 * frame is built on first use and then shared by every stream that sends the event, so a node
 * frames each event once however many clients follow the session.
 */
public final class LogEvent {

    private final int partition;
    private final long offset;
    private final String sessionId;
    private final String type;
    private final byte[] json;
    private final long readAtNanos;
    private final long timestampMillis;
    private volatile byte[] sseFrame; // two racing first uses build the same bytes: harmless

    /** @param type the event's type, or {@code null} when the record carried none */
    public LogEvent(int partition, long offset, String sessionId, String type, byte[] json) {
        this(partition, offset, sessionId, type, json, 0);
    }

    /** @param readAtNanos when a live reader read it ({@link System#nanoTime()}), for stage timing; 0 if not read live */
    public LogEvent(int partition, long offset, String sessionId, String type, byte[] json, long readAtNanos) {
        this(partition, offset, sessionId, type, json, readAtNanos, 0);
    }

    /** @param timestampMillis the record's timestamp (its producer's send, epoch ms), for delivery latency; 0 if unknown */
    public LogEvent(int partition, long offset, String sessionId, String type, byte[] json, long readAtNanos,
                    long timestampMillis) {
        this.readAtNanos = readAtNanos;
        this.timestampMillis = timestampMillis;
        this.partition = partition;
        this.offset = offset;
        this.sessionId = sessionId;
        this.type = type;
        this.json = json;
    }

    public int partition() {
        return partition;
    }

    public long offset() {
        return offset;
    }

    public String sessionId() {
        return sessionId;
    }

    public String type() {
        return type;
    }

    /** The event's JSON as stored; not to be modified. */
    public byte[] json() {
        return json;
    }

    /** When the live reader read it ({@link System#nanoTime()}); 0 for an event read from history. */
    public long readAtNanos() {
        return readAtNanos;
    }

    /** The record's timestamp (epoch ms: when the worker sent it); 0 if unknown. */
    public long timestampMillis() {
        return timestampMillis;
    }

    /** {@code id: <offset>}, {@code event: <type>}, {@code data: <json>}. */
    public byte[] sseFrame() {
        byte[] frame = sseFrame;
        if (frame == null) {
            frame = SseFrames.event(offset, type, json);
            sseFrame = frame;
        }
        return frame;
    }

    @Override
    public String toString() {
        return "LogEvent[" + partition + "@" + offset + " " + sessionId + " " + type + "]";
    }
}
