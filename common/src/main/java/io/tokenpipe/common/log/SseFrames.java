package io.tokenpipe.common.log;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Server-Sent Events framing. An event's {@code id} is its offset and its {@code data} the event's
 * JSON as stored: a frame is those bytes between a short header and a blank line, built without
 * parsing, decoding or re-encoding the event.
 */
public final class SseFrames {

    public static final byte[] HEARTBEAT = ": heartbeat\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] END = "\n\n".getBytes(StandardCharsets.US_ASCII);

    private SseFrames() {
    }

    public static byte[] retry(long millis) {
        return ("retry: " + millis + "\n\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** @param type the event name; {@code null} frames a plain {@code message} */
    public static byte[] event(long offset, String type, byte[] json) {
        // Event names come from our own records, but a CR or LF in one would forge extra fields.
        String name = type == null ? "message" : type.replace("\r", "").replace("\n", "");
        byte[] head = ("id: " + offset + "\nevent: " + name + "\ndata: ").getBytes(StandardCharsets.UTF_8);
        if (hasLineBreak(json)) {
            return multiLine(head, json);
        }
        byte[] frame = new byte[head.length + json.length + END.length];
        System.arraycopy(head, 0, frame, 0, head.length);
        System.arraycopy(json, 0, frame, head.length, json.length);
        System.arraycopy(END, 0, frame, head.length + json.length, END.length);
        return frame;
    }

    private static boolean hasLineBreak(byte[] value) {
        for (byte b : value) {
            if (b == '\n' || b == '\r') {
                return true;
            }
        }
        return false;
    }

    /** Our JSON is always one line; anything else is split into data lines, as the spec requires. */
    private static byte[] multiLine(byte[] head, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(head.length + value.length + 32);
        out.writeBytes(head);
        String[] lines = new String(value, StandardCharsets.UTF_8).split("\r\n|\r|\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (i > 0) {
                out.writeBytes("\ndata: ".getBytes(StandardCharsets.US_ASCII));
            }
            out.writeBytes(lines[i].getBytes(StandardCharsets.UTF_8));
        }
        out.writeBytes(END);
        return out.toByteArray();
    }
}
