package io.tokenpipe.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.Json;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A real HTTP/1.1 server on a loopback port that plays OpenAI-compatible {@code /chat/completions}
 * answers from scripts, one script per request in order. Built on a raw {@link ServerSocket} so a
 * script can stream chunk by chunk, stall, cut the connection mid-answer, and notice when the
 * client hangs up. Requests are recorded for assertions. No sleeps: scripts wait on the client
 * (its disconnect) or on latches the test releases.
 */
public final class FakeUpstream implements AutoCloseable {

    /** Long enough for any stall a test provokes; a script never waits longer. */
    public static final Duration MAX_WAIT = Duration.ofSeconds(5);

    /** What a request looked like on the wire; header names in lower case. */
    public record Request(String method, String path, Map<String, String> headers, String body) {
        public JsonNode json() {
            return Json.read(body, JsonNode.class);
        }

        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** How to answer one request. */
    @FunctionalInterface
    public interface Script {
        void play(Exchange exchange) throws Exception;
    }

    private final ServerSocket server;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final BlockingQueue<Script> scripts = new LinkedBlockingQueue<>();
    private final BlockingQueue<Request> requests = new LinkedBlockingQueue<>();
    private final BlockingQueue<Integer> hangUps = new LinkedBlockingQueue<>();
    private final AtomicInteger requestCount = new AtomicInteger();
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final List<Throwable> scriptFailures = new ArrayList<>();

    public FakeUpstream() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        threads.submit(this::acceptLoop);
    }

    /** The API root to configure as a backend's BASE_URL. */
    public String baseUrl() {
        return "http://127.0.0.1:" + server.getLocalPort() + "/v1";
    }

    /** Queues the answer to the next unanswered request. */
    public FakeUpstream then(Script script) {
        scripts.add(script);
        return this;
    }

    /** The next request received, in order (waits for it). */
    public Request takeRequest() throws InterruptedException {
        Request request = requests.poll(MAX_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        if (request == null) {
            fail("the fake upstream received no request");
        }
        return request;
    }

    public int requestCount() {
        return requestCount.get();
    }

    /** Waits until a script that was holding a connection open saw the client hang up. */
    public boolean awaitHangUp() throws InterruptedException {
        return hangUps.poll(MAX_WAIT.toMillis(), TimeUnit.MILLISECONDS) != null;
    }

    /** Problems inside scripts (e.g. a write failing unexpectedly), so a test can assert there were none. */
    public synchronized List<Throwable> scriptFailures() {
        return List.copyOf(scriptFailures);
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket socket : sockets) {
            socket.close();
        }
        threads.shutdownNow();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket socket = server.accept();
                sockets.add(socket);
                threads.submit(() -> serve(socket));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket socket) {
        try (socket) {
            InputStream in = new BufferedInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            while (true) {
                Request request = readRequest(in);
                if (request == null) {
                    return; // the client closed an idle keep-alive connection
                }
                requestCount.incrementAndGet();
                requests.add(request);
                Script script = scripts.poll();
                Exchange exchange = new Exchange(request, socket, in, out);
                if (script == null) {
                    exchange.respond(500, "application/json", "{\"error\":{\"message\":\"no script for this request\"}}");
                } else {
                    script.play(exchange);
                }
                if (exchange.closed) {
                    return;
                }
            }
        } catch (Exception e) {
            if (!server.isClosed()) {
                synchronized (this) {
                    scriptFailures.add(e);
                }
            }
        } finally {
            sockets.remove(socket);
        }
    }

    private static Request readRequest(InputStream in) throws IOException {
        String requestLine = readLine(in);
        if (requestLine == null) {
            return null;
        }
        String[] parts = requestLine.split(" ");
        Map<String, String> headers = new LinkedHashMap<>();
        String line;
        while ((line = readLine(in)) != null && !line.isEmpty()) {
            int colon = line.indexOf(':');
            headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
        }
        int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
        byte[] body = in.readNBytes(length);
        return new Request(parts[0], parts[1], headers, new String(body, StandardCharsets.UTF_8));
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                String text = line.toString(StandardCharsets.ISO_8859_1);
                return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
            }
            line.write(b);
        }
        return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
    }

    /** One request being answered. */
    public final class Exchange {
        public final Request request;
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;
        private boolean closed;

        Exchange(Request request, Socket socket, InputStream in, OutputStream out) {
            this.request = request;
            this.socket = socket;
            this.in = in;
            this.out = out;
        }

        /** A complete response with a body; extra headers as "Name: value". */
        public void respond(int status, String contentType, String body, String... headers) throws IOException {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            StringBuilder head = new StringBuilder("HTTP/1.1 " + status + " " + reason(status) + "\r\n")
                    .append("Content-Type: ").append(contentType).append("\r\n")
                    .append("Content-Length: ").append(bytes.length).append("\r\n");
            for (String header : headers) {
                head.append(header).append("\r\n");
            }
            out.write(head.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
        }

        /** The head of a 200 event stream (chunked, as vLLM and Ollama send it). */
        public void startStream() throws IOException {
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                    + "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /** One {@code data:} event, flushed as its own HTTP chunk. */
        public void event(String data) throws IOException {
            raw("data: " + data + "\n\n");
        }

        /** Bytes of the event stream as they are, in one HTTP chunk. */
        public void raw(String text) throws IOException {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            out.write((Integer.toHexString(bytes.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /** {@code data: [DONE]} and the end of the chunked body; the connection stays open for the next request. */
        public void done() throws IOException {
            event("[DONE]");
            end();
        }

        /** Ends the chunked body without {@code [DONE]}. */
        public void end() throws IOException {
            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /** Closes the connection (FIN), mid-whatever: the client sees the body end early. */
        public void drop() throws IOException {
            closed = true;
            socket.shutdownOutput();
            socket.close();
        }

        /**
         * Resets the connection (RST). Data the client has not read yet is lost with it, so reset
         * only after the client has shown (through a latch) that it has what it must have.
         */
        public void reset() throws IOException {
            closed = true;
            socket.setSoLinger(true, 0);
            socket.close();
        }

        /**
         * Sends nothing more and waits for the client to hang up (or {@link #MAX_WAIT}); a hang-up is
         * recorded for {@link #awaitHangUp()}.
         */
        public void holdUntilClientHangsUp() throws IOException {
            closed = true;
            socket.setSoTimeout((int) MAX_WAIT.toMillis());
            try {
                while (in.read() >= 0) {
                    // a client sends nothing more on this connection
                }
                hangUps.add(1);
            } catch (SocketTimeoutException e) {
                // the client never hung up: awaitHangUp() reports it
            } catch (IOException e) {
                hangUps.add(1); // reset by the client
            }
        }

        /** Waits for the test to release the latch (at most {@link #MAX_WAIT}). */
        public void await(CountDownLatch latch) throws InterruptedException {
            if (!latch.await(MAX_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("the test never released the latch");
            }
        }
    }

    // ---- scripts ----

    /** A normal answer: a role chunk, one chunk per text, a finish reason, a usage chunk, [DONE]. */
    public static Script stream(String... texts) {
        return exchange -> {
            exchange.startStream();
            exchange.event(roleChunk());
            for (String text : texts) {
                exchange.event(contentChunk(text));
            }
            exchange.event(finishChunk("stop"));
            exchange.event(usageChunk(7, texts.length));
            exchange.done();
        };
    }

    /** An error response with a JSON body; extra headers as "Name: value". */
    public static Script status(int status, String body, String... headers) {
        return exchange -> exchange.respond(status, "application/json", body, headers);
    }

    /**
     * Texts, then, once the client has shown it read them ({@code clientHasThem} released), the
     * connection drops (or is reset) with no [DONE] and no finish reason. Waiting matters: the JDK
     * client discards data it has not handed out yet when the connection fails.
     */
    public static Script cutAfter(CountDownLatch clientHasThem, boolean reset, String... texts) {
        return exchange -> {
            exchange.startStream();
            exchange.event(roleChunk());
            for (String text : texts) {
                exchange.event(contentChunk(text));
            }
            exchange.await(clientHasThem);
            if (reset) {
                exchange.reset();
            } else {
                exchange.drop();
            }
        };
    }

    /** Texts, then silence until the client gives up. */
    public static Script stallAfter(String... texts) {
        return exchange -> {
            exchange.startStream();
            exchange.event(roleChunk());
            for (String text : texts) {
                exchange.event(contentChunk(text));
            }
            exchange.holdUntilClientHangsUp();
        };
    }

    // ---- chunks as vLLM sends them ----

    public static String roleChunk() {
        ObjectNode chunk = chunk();
        chunk.putArray("choices").addObject().put("index", 0).putNull("logprobs").putNull("finish_reason")
                .putObject("delta").put("role", "assistant").put("content", "");
        return Json.string(chunk);
    }

    public static String contentChunk(String text) {
        ObjectNode chunk = chunk();
        chunk.putArray("choices").addObject().put("index", 0).putNull("logprobs").putNull("finish_reason")
                .putObject("delta").put("content", text);
        return Json.string(chunk);
    }

    /** A reasoning model's thinking, in {@code field} ({@code reasoning_content} or {@code reasoning}), with null content. */
    public static String reasoningChunk(String field, String text) {
        ObjectNode chunk = chunk();
        chunk.putArray("choices").addObject().put("index", 0).putNull("logprobs").putNull("finish_reason")
                .putObject("delta").putNull("content").put(field, text);
        return Json.string(chunk);
    }

    public static String finishChunk(String reason) {
        ObjectNode chunk = chunk();
        ObjectNode choice = chunk.putArray("choices").addObject().put("index", 0).put("finish_reason", reason);
        choice.putObject("delta").put("content", "");
        return Json.string(chunk);
    }

    public static String usageChunk(int prompt, int completion) {
        ObjectNode chunk = chunk();
        chunk.putArray("choices");
        chunk.putObject("usage").put("prompt_tokens", prompt).put("completion_tokens", completion)
                .put("total_tokens", prompt + completion);
        return Json.string(chunk);
    }

    private static ObjectNode chunk() {
        ObjectNode chunk = Json.MAPPER.createObjectNode();
        chunk.put("id", "chatcmpl-fake").put("object", "chat.completion.chunk").put("created", 1_700_000_000L)
                .put("model", "fake-model");
        return chunk;
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 429 -> "Too Many Requests";
            case 500 -> "Internal Server Error";
            case 503 -> "Service Unavailable";
            default -> "Status";
        };
    }
}
