package io.tokenpipe.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/**
 * One HTTP/1.1 GET of an event stream over a non-blocking socket: writes the request, parses the
 * status line and headers, decodes the body (chunked, fixed length, or until close), and splits it
 * into Server-Sent Events as the EventSource specification does ({@code id}, {@code event},
 * multi-line {@code data}, {@code retry}, comments). Lives on one {@link ClientLoop} thread.
 */
final class SseConnection implements EventStream {

    private enum State { HEAD, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILER, FIXED, UNTIL_CLOSE, DONE }

    private static final int MAX_ERROR_BODY = 4096;

    private final ClientLoop loop;
    private final InetSocketAddress address;
    private final SseListener listener;
    private final ByteBuffer request;
    /** Whatever the listener wants to find again (its session, a connection number). */
    final Object attachment;

    private SocketChannel channel;
    private SelectionKey key;
    private boolean open;
    private boolean closed;
    private boolean closedByUs;
    private State state = State.HEAD;

    private byte[] head = new byte[512];
    private int headLength;
    private int status;
    private boolean chunked;
    private long remaining; // of the current chunk, or of a fixed-length body
    private final StringBuilder sizeLine = new StringBuilder();
    private int trailerLineLength;

    private byte[] line = new byte[256];
    private int lineLength;
    private boolean lastWasCr;
    private String eventId;
    private String eventType;
    private byte[] data = new byte[512];
    private int dataLength;
    private boolean hasData;
    private final StringBuilder errorBody = new StringBuilder();

    /**
     * @param pathAndQuery e.g. {@code /v1/sessions/s_x/events?follow=false}
     * @param lastEventId  sent as {@code Last-Event-ID}, or null
     */
    SseConnection(ClientLoop loop, InetSocketAddress address, String pathAndQuery, String lastEventId,
                  SseListener listener, Object attachment) {
        this.loop = loop;
        this.address = address;
        this.listener = listener;
        this.attachment = attachment;
        StringBuilder r = new StringBuilder(256)
                .append("GET ").append(pathAndQuery).append(" HTTP/1.1\r\n")
                .append("Host: ").append(address.getHostString()).append(':').append(address.getPort()).append("\r\n")
                .append("Accept: text/event-stream\r\n")
                .append("Cache-Control: no-cache\r\n")
                .append("User-Agent: tokenpipe-bench\r\n")
                .append("Authorization: ").append(BenchKey.authorization()).append("\r\n");
        if (lastEventId != null) {
            r.append("Last-Event-ID: ").append(lastEventId).append("\r\n");
        }
        r.append("\r\n");
        this.request = ByteBuffer.wrap(r.toString().getBytes(StandardCharsets.US_ASCII));
    }

    /** Starts connecting; call on the loop thread (or through {@link #open()}). */
    void connectNow() {
        try {
            channel = SocketChannel.open();
            channel.configureBlocking(false);
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            open = true;
            if (channel.connect(address)) {
                key = channel.register(loop.selector(), 0, this);
                onConnected();
            } else {
                key = channel.register(loop.selector(), SelectionKey.OP_CONNECT, this);
            }
        } catch (IOException | RuntimeException e) {
            fail(e);
        }
    }

    /** Connects from any thread. */
    SseConnection open() {
        if (loop.inLoop()) {
            connectNow();
        } else {
            loop.execute(this::connectNow);
        }
        return this;
    }

    ClientLoop loop() {
        return loop;
    }

    SocketChannel channel() {
        return channel;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    int status() {
        return status;
    }

    /** Closes the connection as a client going away would (from any thread); the listener hears byUs=true. */
    @Override
    public void close() {
        if (loop.inLoop()) {
            closeNow(false, null, true);
        } else {
            loop.execute(() -> closeNow(false, null, true));
        }
    }

    void onConnectable() throws IOException {
        if (channel.finishConnect()) {
            onConnected();
        }
    }

    private void onConnected() throws IOException {
        channel.write(request);
        key.interestOps(request.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
    }

    void onWritable() throws IOException {
        channel.write(request);
        if (!request.hasRemaining()) {
            key.interestOps(SelectionKey.OP_READ);
        }
    }

    void onEndOfInput() {
        if (state == State.UNTIL_CLOSE) {
            flushPartialLine();
            closeNow(true, null, false);
        } else {
            closeNow(state == State.DONE, state == State.DONE ? null : new IOException("connection closed by the server"),
                    false);
        }
    }

    void fail(Throwable error) {
        closeNow(false, error, false);
    }

    private void closeNow(boolean endOfResponse, Throwable error, boolean byUs) {
        if (closed) {
            return;
        }
        closed = true;
        open = false;
        closedByUs = byUs;
        if (key != null) {
            key.cancel();
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // closed anyway
            }
        }
        listener.onClosed(this, endOfResponse, error, status, errorBody.toString(), byUs);
    }

    boolean closedByUs() {
        return closedByUs;
    }

    /** Feeds bytes just read. */
    void onBytes(byte[] bytes, int length, long receivedMicros) {
        int i = 0;
        while (i < length && open) {
            switch (state) {
                case HEAD -> {
                    byte b = bytes[i++];
                    if (headLength == head.length) {
                        head = Arrays.copyOf(head, head.length * 2);
                    }
                    head[headLength++] = b;
                    if (b == '\n' && headLength >= 4 && head[headLength - 2] == '\r' && head[headLength - 3] == '\n'
                            && head[headLength - 4] == '\r') {
                        parseHead(receivedMicros);
                    }
                }
                case CHUNK_SIZE -> {
                    byte b = bytes[i++];
                    if (b == '\n') {
                        String s = sizeLine.toString().trim();
                        sizeLine.setLength(0);
                        int semicolon = s.indexOf(';');
                        if (semicolon >= 0) {
                            s = s.substring(0, semicolon).trim();
                        }
                        long size;
                        try {
                            size = Long.parseLong(s, 16);
                        } catch (NumberFormatException e) {
                            fail(new IOException("bad chunk size '" + s + "'"));
                            return;
                        }
                        if (size == 0) {
                            state = State.TRAILER;
                            trailerLineLength = 0;
                        } else {
                            remaining = size;
                            state = State.CHUNK_DATA;
                        }
                    } else if (b != '\r') {
                        sizeLine.append((char) b);
                    }
                }
                case CHUNK_DATA -> {
                    int n = (int) Math.min(remaining, length - i);
                    body(bytes, i, n, receivedMicros);
                    i += n;
                    remaining -= n;
                    if (remaining == 0) {
                        state = State.CHUNK_CRLF;
                    }
                }
                case CHUNK_CRLF -> {
                    if (bytes[i++] == '\n') {
                        state = State.CHUNK_SIZE;
                    }
                }
                case TRAILER -> {
                    byte b = bytes[i++];
                    if (b == '\n') {
                        if (trailerLineLength == 0) {
                            state = State.DONE;
                            flushPartialLine();
                            closeNow(true, null, false);
                            return;
                        }
                        trailerLineLength = 0;
                    } else if (b != '\r') {
                        trailerLineLength++;
                    }
                }
                case FIXED -> {
                    int n = (int) Math.min(remaining, length - i);
                    body(bytes, i, n, receivedMicros);
                    i += n;
                    remaining -= n;
                    if (remaining == 0) {
                        state = State.DONE;
                        flushPartialLine();
                        closeNow(true, null, false);
                        return;
                    }
                }
                case UNTIL_CLOSE -> {
                    body(bytes, i, length - i, receivedMicros);
                    i = length;
                }
                case DONE -> i = length;
            }
        }
    }

    private void parseHead(long receivedMicros) {
        String text = new String(head, 0, headLength, StandardCharsets.ISO_8859_1);
        head = null;
        String[] lines = text.split("\r\n");
        String[] statusLine = lines[0].split(" ", 3);
        try {
            status = Integer.parseInt(statusLine[1]);
        } catch (RuntimeException e) {
            fail(new IOException("bad status line: " + lines[0]));
            return;
        }
        long contentLength = -1;
        for (int k = 1; k < lines.length; k++) {
            int colon = lines[k].indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String name = lines[k].substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = lines[k].substring(colon + 1).trim();
            if (name.equals("transfer-encoding") && value.toLowerCase(Locale.ROOT).contains("chunked")) {
                chunked = true;
            } else if (name.equals("content-length")) {
                contentLength = Long.parseLong(value);
            }
        }
        if (chunked) {
            state = State.CHUNK_SIZE;
        } else if (contentLength >= 0) {
            remaining = contentLength;
            state = contentLength == 0 ? State.DONE : State.FIXED;
        } else {
            state = State.UNTIL_CLOSE;
        }
        listener.onOpen(this, status, receivedMicros);
        if (state == State.DONE && open) {
            closeNow(true, null, false);
        }
    }

    private void body(byte[] bytes, int from, int n, long receivedMicros) {
        if (status != 200) {
            if (errorBody.length() < MAX_ERROR_BODY) {
                errorBody.append(new String(bytes, from, Math.min(n, MAX_ERROR_BODY - errorBody.length()),
                        StandardCharsets.UTF_8));
            }
            return;
        }
        int end = from + n;
        for (int i = from; i < end && open; i++) {
            byte b = bytes[i];
            if (b == '\n') {
                if (lastWasCr) {
                    lastWasCr = false; // the LF of a CRLF: the line already ended at the CR
                    continue;
                }
                line(receivedMicros);
            } else if (b == '\r') {
                lastWasCr = true;
                line(receivedMicros);
            } else {
                lastWasCr = false;
                if (lineLength == line.length) {
                    line = Arrays.copyOf(line, line.length * 2);
                }
                line[lineLength++] = b;
            }
        }
    }

    private void flushPartialLine() {
        // An unterminated last line is discarded, as the specification says.
        lineLength = 0;
    }

    private void line(long receivedMicros) {
        int length = lineLength;
        lineLength = 0;
        if (length == 0) {
            dispatch(receivedMicros);
            return;
        }
        if (line[0] == ':') {
            listener.onComment(this);
            return;
        }
        int colon = -1;
        for (int k = 0; k < length; k++) {
            if (line[k] == ':') {
                colon = k;
                break;
            }
        }
        int nameEnd = colon < 0 ? length : colon;
        int valueStart = colon < 0 ? length : colon + 1;
        if (valueStart < length && line[valueStart] == ' ') {
            valueStart++;
        }
        if (is("data", nameEnd)) {
            int add = length - valueStart + (hasData ? 1 : 0);
            if (dataLength + add > data.length) {
                data = Arrays.copyOf(data, Math.max(data.length * 2, dataLength + add));
            }
            if (hasData) {
                data[dataLength++] = '\n';
            }
            System.arraycopy(line, valueStart, data, dataLength, length - valueStart);
            dataLength += length - valueStart;
            hasData = true;
        } else if (is("id", nameEnd)) {
            eventId = new String(line, valueStart, length - valueStart, StandardCharsets.UTF_8);
        } else if (is("event", nameEnd)) {
            eventType = new String(line, valueStart, length - valueStart, StandardCharsets.UTF_8);
        } else if (is("retry", nameEnd)) {
            try {
                listener.onRetry(this, Long.parseLong(new String(line, valueStart, length - valueStart,
                        StandardCharsets.US_ASCII)), receivedMicros);
            } catch (NumberFormatException e) {
                // ignored, as the specification says
            }
        }
    }

    private boolean is(String field, int nameEnd) {
        if (nameEnd != field.length()) {
            return false;
        }
        for (int k = 0; k < nameEnd; k++) {
            if (line[k] != field.charAt(k)) {
                return false;
            }
        }
        return true;
    }

    private void dispatch(long receivedMicros) {
        if (!hasData) {
            eventType = null;
            eventId = null;
            return;
        }
        String type = eventType == null ? "message" : eventType;
        String id = eventId;
        int length = dataLength;
        eventType = null;
        eventId = null;
        dataLength = 0;
        hasData = false;
        listener.onEvent(this, id, type, data, length, receivedMicros);
    }
}
