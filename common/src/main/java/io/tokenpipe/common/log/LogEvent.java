package io.tokenpipe.common.log;

/**
 * One stream event as the log holds it: the session's partition, the event's offset there (its
 * durable id, the SSE {@code id}), its type and its JSON as its writer wrote it. Its Server-Sent Events
 * frame is built on first use and then shared by every stream that sends the event, so a node
 * frames each event once however many clients follow the session.
 *
 * <p>An event stored sealed (an encrypted session) is opened on first use of its JSON, not when it is
 * read: the live tail never waits for a key, and events nobody reads are never decrypted. When the
 * session is deleted the opened copy is dropped ({@link #forget()}) and the JSON is never given out again.
 */
public final class LogEvent {

    /** Opens a sealed value; throws (e.g. the session was deleted) when it cannot. */
    @FunctionalInterface
    public interface Opener {
        byte[] open(String sessionId, byte[] stored);
    }

    private final int partition;
    private final long offset;
    private final String sessionId;
    private final String type;
    private final byte[] stored;
    private final Opener opener;   // null when stored is the JSON itself
    private final byte[] chain;    // the record's link in its turn's hash chain, or null
    private final long readAtNanos;
    private final long timestampMillis;
    private volatile byte[] json;
    private volatile byte[] sseFrame; // two racing first uses build the same bytes: harmless
    private volatile boolean forgotten;

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
        this(partition, offset, sessionId, type, json, json, null, null, readAtNanos, timestampMillis);
    }

    /**
     * @param stored the record's value as stored: the event's JSON, or sealed
     * @param json   the event's JSON when known (the stored value itself, or already opened); {@code null}
     *               to open it with {@code opener} on first use
     * @param opener opens a sealed value; {@code null} when the value is stored as plain JSON
     * @param chain  the record's link in its turn's hash chain ({@code tp-chain} header), or {@code null}
     */
    public LogEvent(int partition, long offset, String sessionId, String type, byte[] stored, byte[] json,
                    Opener opener, byte[] chain, long readAtNanos, long timestampMillis) {
        this.stored = stored;
        this.opener = opener;
        this.chain = chain;
        this.json = json;
        this.readAtNanos = readAtNanos;
        this.timestampMillis = timestampMillis;
        this.partition = partition;
        this.offset = offset;
        this.sessionId = sessionId;
        this.type = type;
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

    /** The event's JSON (opened if it was stored sealed); not to be modified. */
    public byte[] json() {
        byte[] plain = json;
        if (plain == null) {
            if (forgotten) {
                throw new IllegalStateException("the event's session was deleted");
            }
            plain = opener.open(sessionId, stored);
            if (!forgotten) {
                json = plain;
            }
        }
        return plain;
    }

    /** The record's value exactly as stored (sealed or not): what the hash chain covers. */
    public byte[] stored() {
        return stored;
    }

    /** Bytes the event takes as stored. */
    public int size() {
        return stored.length;
    }

    /** The record's link in its turn's hash chain, or {@code null}. */
    public byte[] chain() {
        return chain;
    }

    /** Whether the event was stored sealed (its session is encrypted). */
    public boolean sealed() {
        return opener != null;
    }

    /** Whether {@link #forget()} dropped it. */
    public boolean forgotten() {
        return forgotten;
    }

    /** The session was deleted: drop the opened JSON and frame, and never open the event again. */
    public void forget() {
        if (opener == null) {
            return; // stored as plain JSON: there is nothing opened to drop (readers refuse the session)
        }
        forgotten = true;
        json = null;
        sseFrame = null;
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
            frame = SseFrames.event(offset, type, json());
            if (!forgotten) {
                sseFrame = frame;
            }
        }
        return frame;
    }

    @Override
    public String toString() {
        return "LogEvent[" + partition + "@" + offset + " " + sessionId + " " + type + "]";
    }
}
