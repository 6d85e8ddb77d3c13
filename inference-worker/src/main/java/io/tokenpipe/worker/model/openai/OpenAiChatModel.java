package io.tokenpipe.worker.model.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenpipe.common.event.ChatMessage;
import io.tokenpipe.common.event.GenerationParams;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.event.Usage;
import io.tokenpipe.worker.model.ChatModel;
import io.tokenpipe.worker.model.ChatRequest;
import io.tokenpipe.worker.model.ModelException;
import io.tokenpipe.worker.model.ModelResult;
import io.tokenpipe.worker.model.TokenSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLHandshakeException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.net.ConnectException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One OpenAI-compatible backend (vLLM, Ollama, llama.cpp server, LM Studio, OpenAI, ...): posts the
 * conversation to {@code <base>/chat/completions} with {@code "stream": true} and hands each content
 * delta of the server-sent event stream to the sink the moment it arrives.
 *
 * <p>The request carries {@code model} (the backend's {@code UPSTREAM_MODEL}, else the name the turn
 * asked for), {@code messages}, {@code stream}, {@code stream_options.include_usage}, and, when set,
 * {@code max_tokens}, {@code temperature}, {@code stop} and {@code seed}, plus the turn's options
 * (except the synthetic model's {@code tokens}, {@code tokens_per_second} and
 * {@code time_to_first_token_ms}) as extra body fields; an option never replaces one of those
 * fields. Stop sequences and max tokens are passed on but not relied on: the worker enforces both.
 *
 * <p><b>Continuation.</b> When the request has a continuation (text an earlier attempt delivered),
 * mode {@code prefill} appends it as an assistant message with {@code "continue_final_message": true,
 * "add_generation_prompt": false}, so the upstream generates only what follows; mode
 * {@code restart} ignores it and asks again ({@link #continuesAnswers()} tells the caller which).
 *
 * <p><b>Timeouts.</b> A blocking read has no timeout of its own, so a watchdog task on a shared
 * scheduler aborts the exchange (cancels the request, closes the body stream) when the first piece
 * of text has not arrived {@code FIRST_TOKEN_TIMEOUT_MS} after sending, when no data line has
 * arrived for {@code IDLE_TIMEOUT_MS} after it (time spent in the sink does not count), or when the
 * call has lasted {@code TURN_TIMEOUT_MS}. Interrupting the calling thread aborts the exchange too
 * and throws {@link InterruptedException}.
 *
 * <p><b>Failures</b> ({@link ModelException#code()}; {@link ModelException#afterFirstToken()} says
 * whether the attempt had already handed text to the sink):
 * <table>
 *   <caption>error codes</caption>
 *   <tr><th>code</th><th>when</th><th>retryable</th></tr>
 *   <tr><td>{@code upstream_unreachable}</td><td>connection refused, connect timeout, unknown host; a TLS
 *       handshake failure (not retryable)</td><td>yes</td></tr>
 *   <tr><td>{@code upstream_timeout}</td><td>no first token within FIRST_TOKEN_TIMEOUT_MS, a gap longer than
 *       IDLE_TIMEOUT_MS, HTTP 408: retryable; TURN_TIMEOUT_MS expired: not retryable</td><td>mostly</td></tr>
 *   <tr><td>{@code rate_limited}</td><td>HTTP 429; {@link ModelException#retryAfter()} from
 *       {@code Retry-After} (seconds or HTTP-date) or {@code retry-after-ms}</td><td>yes</td></tr>
 *   <tr><td>{@code upstream_error}</td><td>HTTP 5xx (Retry-After honoured too), or an error object in the
 *       stream with no 4xx code</td><td>yes</td></tr>
 *   <tr><td>{@code upstream_auth}</td><td>HTTP 401 or 403 (the upstream message is not repeated: it may
 *       quote the key)</td><td>no</td></tr>
 *   <tr><td>{@code upstream_rejected}</td><td>any other 4xx (400, 404, 422, ...) or a 3xx, or an error object in
 *       the stream with a 4xx code; the message includes the upstream's {@code error.message}, truncated</td>
 *       <td>no</td></tr>
 *   <tr><td>{@code upstream_protocol}</td><td>a data line that is not a JSON object, a line over 1 MiB, or a
 *       response that is not an event stream at all</td><td>no</td></tr>
 *   <tr><td>{@code upstream_disconnected}</td><td>connection reset or closed before a response, or the stream
 *       ended without {@code [DONE]} or a finish reason</td><td>yes</td></tr>
 * </table>
 *
 * <p>Thread-safe; one instance serves any number of concurrent turns. The calling thread (a virtual
 * thread in the worker) does the reading.
 */
public final class OpenAiChatModel implements ChatModel, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(OpenAiChatModel.class);

    /** Options of the synthetic model that mean nothing upstream. */
    static final Set<String> WORKER_OPTIONS = Set.of("tokens", "tokens_per_second", "time_to_first_token_ms");
    /** Body fields the worker sets itself; options cannot replace them. */
    private static final Set<String> CONTROLLED_FIELDS = Set.of("model", "messages", "stream", "stream_options",
            "continue_final_message", "add_generation_prompt");

    static final int MAX_LINE_BYTES = 1 << 20;
    private static final int MAX_ERROR_BODY_BYTES = 64 * 1024;
    private static final int MAX_JSON_BODY_BYTES = 16 << 20;
    static final int MAX_UPSTREAM_MESSAGE_CHARS = 300;

    private static final ScheduledExecutorService SHARED_WATCHDOG = sharedWatchdog();

    private final BackendSettings settings;
    private final HttpClient client;
    private final boolean ownsClient;
    private final ScheduledExecutorService watchdog;
    private final Clock clock;

    /** A backend with its own HTTP client (HTTP/1.1, the backend's connect timeout) and the shared watchdog. */
    public OpenAiChatModel(BackendSettings settings) {
        this(settings, defaultClient(settings), true, SHARED_WATCHDOG, Clock.systemUTC());
    }

    /**
     * A backend on a given client (which {@link #close()} leaves open) and watchdog scheduler.
     *
     * @param clock only for {@code Retry-After} dates
     */
    public OpenAiChatModel(BackendSettings settings, HttpClient client, ScheduledExecutorService watchdog, Clock clock) {
        this(settings, client, false, watchdog, clock);
    }

    private OpenAiChatModel(BackendSettings settings, HttpClient client, boolean ownsClient,
                            ScheduledExecutorService watchdog, Clock clock) {
        this.settings = settings;
        this.client = client;
        this.ownsClient = ownsClient;
        this.watchdog = watchdog;
        this.clock = clock;
    }

    /** The client {@link #OpenAiChatModel(BackendSettings)} uses. */
    public static HttpClient defaultClient(BackendSettings settings) {
        return HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(settings.connectTimeout())
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    public BackendSettings settings() {
        return settings;
    }

    public String name() {
        return settings.name();
    }

    /**
     * Whether a retried turn's text continues the text already delivered ({@code prefill}), or
     * replaces it ({@code restart}: the caller must tell clients to discard the partial answer).
     */
    public boolean continuesAnswers() {
        return settings.continuesAnswers();
    }

    /** {@link #continuesAnswers()}, whatever the model name. */
    @Override
    public boolean continuesAnswers(String model) {
        return continuesAnswers();
    }

    @Override
    public ModelResult generate(ChatRequest request, TokenSink sink) throws ModelException, InterruptedException {
        return generate(request, sink, System.nanoTime() + settings.turnTimeout().toNanos());
    }

    /**
     * As {@link #generate(ChatRequest, TokenSink)}, with the turn timeout expiring at {@code deadlineNanos}
     * ({@link System#nanoTime()} scale): the router passes one deadline to all attempts of a call.
     */
    ModelResult generate(ChatRequest request, TokenSink sink, long deadlineNanos)
            throws ModelException, InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        long start = System.nanoTime();
        if (deadlineNanos - start <= 0) {
            throw timeout(Timeout.TURN, false);
        }
        HttpRequest httpRequest = httpRequest(request);
        log.debug("backend {}: asking {} for turn model {}", settings.name(),
                settings.upstreamModelFor(request.model()), request.model());
        Watchdog dog = new Watchdog(start, deadlineNanos);
        CompletableFuture<HttpResponse<InputStream>> future =
                client.sendAsync(httpRequest, HttpResponse.BodyHandlers.ofInputStream());
        dog.start(future);
        HttpResponse<InputStream> response;
        try {
            response = future.get();
        } catch (InterruptedException e) {
            dog.finish();
            future.cancel(true);
            // Should the response have arrived regardless, release its connection.
            future.thenAccept(r -> closeQuietly(r.body()));
            throw e;
        } catch (CancellationException e) {
            dog.finish();
            throw dog.fired() != null ? timeout(dog.fired(), false)
                    : new ModelException("upstream_disconnected", prefix() + "the request was cancelled", true, e);
        } catch (ExecutionException e) {
            dog.finish();
            throw sendFailure(e.getCause(), dog);
        }
        InputStream body = response.body();
        try {
            dog.attach(body);
            int status = response.statusCode();
            if (status < 200 || status > 299) {
                throw statusFailure(status, response.headers(), body, dog);
            }
            String contentType = response.headers().firstValue("content-type").orElse("").toLowerCase(Locale.ROOT);
            if (contentType.startsWith("application/json")) {
                return readWholeAnswer(body, sink, dog);
            }
            return readStream(body, sink, dog);
        } finally {
            dog.finish();
            closeQuietly(body); // before the end of the stream, this aborts the exchange (the connection is closed)
        }
    }

    // ---- the request ----

    HttpRequest httpRequest(ChatRequest request) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(settings.chatCompletionsUri())
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(Json.bytes(body(request))));
        if (settings.apiKey() != null) {
            builder.header("Authorization", "Bearer " + settings.apiKey());
        }
        settings.headers().forEach(builder::header);
        return builder.build();
    }

    /** The JSON body of a request. */
    ObjectNode body(ChatRequest request) {
        GenerationParams params = request.params();
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("model", settings.upstreamModelFor(request.model()));
        ArrayNode messages = body.putArray("messages");
        for (ChatMessage message : request.messages()) {
            messages.addObject().put("role", message.role()).put("content", message.content() == null ? "" : message.content());
        }
        boolean prefill = !request.continuation().isEmpty() && settings.continuesAnswers();
        if (prefill) {
            messages.addObject().put("role", "assistant").put("content", request.continuation());
        }
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        if (params.maxTokens() != null) {
            body.put(settings.maxTokensField(), params.maxTokens());
        }
        if (params.temperature() != null) {
            body.put("temperature", params.temperature());
        }
        if (!params.stop().isEmpty()) {
            ArrayNode stop = body.putArray("stop");
            params.stop().forEach(stop::add);
        }
        if (params.seed() != null) {
            body.put("seed", params.seed());
        }
        if (prefill) {
            body.put("continue_final_message", true);
            body.put("add_generation_prompt", false);
        }
        for (Map.Entry<String, Object> option : params.options().entrySet()) {
            String key = option.getKey();
            // Only what the operator allowed (BACKEND_<NAME>_FORWARD_OPTIONS): a client must not raise the cost.
            if (settings.forwardOptions().contains(key) && !WORKER_OPTIONS.contains(key) && !CONTROLLED_FIELDS.contains(key)
                    && !body.has(key)) {
                body.set(key, Json.MAPPER.valueToTree(option.getValue()));
            }
        }
        return body;
    }

    // ---- the response ----

    private ModelResult readStream(InputStream body, TokenSink sink, Watchdog dog)
            throws ModelException, InterruptedException {
        LineReader lines = new LineReader(body);
        StreamState state = new StreamState();
        boolean done = false;
        boolean sawData = false;
        boolean sawForeign = false;
        // An event's data lines, joined with "\n" as the SSE spec says; dispatched at the blank line.
        StringBuilder data = null;
        try {
            String line;
            while (true) {
                line = lines.next();
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
                if (line == null || line.isEmpty()) {
                    if (data != null) {
                        String event = data.toString();
                        data = null;
                        if (event.strip().equals("[DONE]")) {
                            done = true;
                            break;
                        }
                        if (!handleChunk(event, state, sink, dog)) {
                            return new ModelResult("stop", state.usage); // the caller has enough: abort the upstream
                        }
                    }
                    if (line == null) {
                        break; // a last event without its blank line still counts: lenient with sloppy servers
                    }
                    continue;
                }
                if (line.startsWith(":")) {
                    continue; // comment (keep-alive)
                }
                if (!line.startsWith("data:")) {
                    if (!line.startsWith("event:") && !line.startsWith("id:") && !line.startsWith("retry:")) {
                        sawForeign = true;
                    }
                    continue;
                }
                sawData = true;
                String value = line.substring(line.startsWith("data: ") ? 6 : 5);
                if (data == null) {
                    data = new StringBuilder(value);
                } else {
                    data.append('\n').append(value);
                }
            }
        } catch (LineTooLongException e) {
            throw new ModelException("upstream_protocol", prefix() + "a line of the event stream is longer than "
                    + MAX_LINE_BYTES + " bytes", false, e, null, state.delivered);
        } catch (IOException e) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            if (state.finish != null && dog.fired() != Timeout.TURN) {
                return new ModelResult(state.finish, state.usage); // the answer was complete; only the epilogue is missing
            }
            if (dog.fired() != null) {
                throw timeout(dog.fired(), state.delivered);
            }
            throw new ModelException("upstream_disconnected", prefix() + "the connection broke "
                    + (state.delivered ? "mid-answer" : "before the answer began") + ": " + describe(e), true, e, null,
                    state.delivered);
        }
        if (!done && state.finish == null) {
            if (dog.fired() != null) {
                throw timeout(dog.fired(), state.delivered);
            }
            if (sawForeign && !sawData) {
                throw new ModelException("upstream_protocol", prefix()
                        + "the response is not an OpenAI-compatible event stream (is BASE_URL the API root, e.g. .../v1?)",
                        false, null, null, false);
            }
            throw new ModelException("upstream_disconnected", prefix() + "the stream ended "
                    + (state.delivered ? "mid-answer" : "before the answer began") + " (no [DONE] and no finish reason)",
                    true, null, null, state.delivered);
        }
        return new ModelResult(state.finish == null ? "stop" : state.finish, state.usage);
    }

    /** What the chunks of one streamed answer said so far. */
    private static final class StreamState {
        String finish;
        Usage usage;
        boolean delivered;
    }

    /** One chunk of the stream; {@code false} when the sink wants no more. */
    private boolean handleChunk(String data, StreamState state, TokenSink sink, Watchdog dog)
            throws ModelException, InterruptedException {
        dog.activity(false);
        JsonNode chunk = parse(data, state.delivered);
        JsonNode error = chunk.get("error");
        if (error != null && !error.isNull()) {
            throw streamError(error, state.delivered);
        }
        JsonNode usageNode = chunk.get("usage");
        if (usageNode != null && usageNode.isObject()) {
            state.usage = usage(usageNode);
        }
        JsonNode choice = chunk.path("choices").path(0);
        if (!choice.isObject()) {
            return true; // the usage chunk has no choices
        }
        JsonNode delta = choice.path("delta");
        // Reasoning models (DeepSeek, vLLM/SGLang reasoning parsers: reasoning_content; OpenRouter, Ollama: reasoning)
        // think before they answer; the thinking is relayed as its own kind of event, never mixed into the answer.
        JsonNode reasoning = delta.path("reasoning_content").isTextual() ? delta.path("reasoning_content") : delta.path("reasoning");
        if (reasoning.isTextual() && !reasoning.textValue().isEmpty()) {
            dog.activity(true);
            state.delivered = true; // written to the log: a failure now is mid-answer, not silently retried
            if (!deliverReasoning(sink, reasoning.textValue(), dog)) {
                return false;
            }
        }
        JsonNode content = delta.path("content");
        if (content.isTextual() && !content.textValue().isEmpty()) {
            dog.activity(true);
            state.delivered = true;
            if (!deliver(sink, content.textValue(), dog)) {
                return false;
            }
        }
        JsonNode reason = choice.get("finish_reason");
        if (reason != null && reason.isTextual()) {
            state.finish = finishReason(reason.textValue());
        }
        return true;
    }

    /** A server that ignored {@code "stream": true} and sent the whole completion as one JSON object. */
    private ModelResult readWholeAnswer(InputStream body, TokenSink sink, Watchdog dog)
            throws ModelException, InterruptedException {
        byte[] bytes;
        try {
            bytes = readUpTo(body, MAX_JSON_BODY_BYTES);
        } catch (IOException e) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            if (dog.fired() != null) {
                throw timeout(dog.fired(), false);
            }
            throw new ModelException("upstream_disconnected", prefix() + "the connection broke: " + describe(e), true, e);
        }
        JsonNode answer = parse(new String(bytes, StandardCharsets.UTF_8), false);
        JsonNode error = answer.get("error");
        if (error != null && !error.isNull()) {
            throw streamError(error, false);
        }
        Usage usage = answer.get("usage") != null && answer.get("usage").isObject() ? usage(answer.get("usage")) : null;
        JsonNode choice = answer.path("choices").path(0);
        if (!choice.isObject()) {
            throw new ModelException("upstream_protocol", prefix() + "the JSON response has no choices", false);
        }
        JsonNode content = choice.path("message").path("content");
        dog.activity(true);
        if (content.isTextual() && !content.textValue().isEmpty() && !deliver(sink, content.textValue(), dog)) {
            return new ModelResult("stop", usage);
        }
        JsonNode reason = choice.get("finish_reason");
        return new ModelResult(reason != null && reason.isTextual() ? finishReason(reason.textValue()) : "stop", usage);
    }

    /** Hands text to the sink; the time the sink takes (a slow writer) does not count as upstream idleness. */
    private static boolean deliver(TokenSink sink, String text, Watchdog dog) throws InterruptedException {
        dog.busy(true);
        try {
            return sink.accept(text);
        } finally {
            dog.busy(false);
        }
    }

    private static boolean deliverReasoning(TokenSink sink, String text, Watchdog dog) throws InterruptedException {
        dog.busy(true);
        try {
            return sink.reasoning(text);
        } finally {
            dog.busy(false);
        }
    }

    private JsonNode parse(String data, boolean delivered) throws ModelException {
        try {
            JsonNode node = Json.MAPPER.readTree(data);
            if (node == null || !node.isObject()) {
                throw new ModelException("upstream_protocol", prefix() + "a data line is not a JSON object: "
                        + truncate(data), false, null, null, delivered);
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new ModelException("upstream_protocol", prefix() + "a data line is not valid JSON: " + truncate(data),
                    false, e, null, delivered);
        }
    }

    /** An {@code error} object inside a 200 stream (vLLM and others report late failures this way). */
    private ModelException streamError(JsonNode error, boolean delivered) {
        String message = error.isTextual() ? error.textValue() : error.path("message").asText("");
        int code = error.path("code").canConvertToInt() ? error.path("code").asInt()
                : error.path("code").isTextual() ? parseIntOr(error.path("code").textValue(), 0) : 0;
        String text = prefix() + "the upstream reported an error" + (code > 0 ? " (" + code + ")" : "")
                + (message.isBlank() ? "" : ": " + truncate(message));
        if (code == 401 || code == 403) {
            return new ModelException("upstream_auth", prefix() + "the upstream refused the credentials (" + code + ")",
                    false, null, null, delivered);
        }
        if (code == 429) {
            return new ModelException("rate_limited", text, true, null, null, delivered);
        }
        if (code >= 400 && code < 500) {
            return new ModelException("upstream_rejected", text, false, null, null, delivered);
        }
        return new ModelException("upstream_error", text, true, null, null, delivered);
    }

    private ModelException statusFailure(int status, HttpHeaders headers, InputStream body, Watchdog dog)
            throws InterruptedException {
        String upstreamMessage = null;
        try {
            upstreamMessage = errorMessage(readUpTo(body, MAX_ERROR_BODY_BYTES));
        } catch (IOException e) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            // The status says enough.
        }
        String detail = upstreamMessage == null ? "" : ": " + upstreamMessage;
        Duration retryAfter = retryAfter(headers, clock);
        if (status == 401 || status == 403) {
            // Not repeated: some servers quote (part of) the key.
            return new ModelException("upstream_auth", prefix() + "the upstream refused the credentials (HTTP " + status
                    + "); check the backend's API_KEY / HEADERS", false);
        }
        if (status == 429) {
            return new ModelException("rate_limited", prefix() + "rate limited (HTTP 429)"
                    + (retryAfter == null ? "" : ", retry after " + retryAfter.toMillis() + " ms") + detail,
                    true, null, retryAfter, false);
        }
        if (status == 408) {
            return new ModelException("upstream_timeout", prefix() + "the upstream timed out the request (HTTP 408)",
                    true, null, retryAfter, false);
        }
        if (status >= 500) {
            return new ModelException("upstream_error", prefix() + "the upstream failed (HTTP " + status + ")" + detail,
                    true, null, retryAfter, false);
        }
        if (status >= 300 && status < 400) {
            String location = headers.firstValue("location").map(l -> " to " + truncate(l)).orElse("");
            return new ModelException("upstream_rejected", prefix() + "the upstream redirected (HTTP " + status + ")"
                    + location + "; set BASE_URL to the final address", false);
        }
        return new ModelException("upstream_rejected", prefix() + "the upstream rejected the request (HTTP " + status
                + ")" + detail, false);
    }

    private ModelException sendFailure(Throwable cause, Watchdog dog) {
        if (dog.fired() != null) {
            return timeout(dog.fired(), false);
        }
        if (find(cause, HttpConnectTimeoutException.class) != null) {
            return new ModelException("upstream_unreachable", prefix() + "could not connect within "
                    + settings.connectTimeout().toMillis() + " ms", true, cause);
        }
        if (find(cause, SSLHandshakeException.class) != null) {
            return new ModelException("upstream_unreachable", prefix() + "the TLS handshake failed: "
                    + describe(cause), false, cause);
        }
        if (find(cause, ConnectException.class) != null || find(cause, UnresolvedAddressException.class) != null
                || find(cause, java.net.UnknownHostException.class) != null) {
            return new ModelException("upstream_unreachable", prefix() + "could not connect: " + describe(cause),
                    true, cause);
        }
        if (cause instanceof HttpTimeoutException) {
            return new ModelException("upstream_timeout", prefix() + "the request timed out", true, cause);
        }
        if (cause instanceof IOException) {
            return new ModelException("upstream_disconnected", prefix() + "the connection broke before a response: "
                    + describe(cause), true, cause);
        }
        if (cause instanceof RuntimeException runtime) {
            throw runtime;
        }
        throw new IllegalStateException(prefix() + "the request failed", cause);
    }

    private ModelException timeout(Timeout which, boolean delivered) {
        return switch (which) {
            case FIRST_TOKEN -> new ModelException("upstream_timeout", prefix() + "no text within "
                    + settings.firstTokenTimeout().toMillis() + " ms (first-token timeout)", true, null, null, delivered);
            case IDLE -> new ModelException("upstream_timeout", prefix() + "the answer paused for more than "
                    + settings.idleTimeout().toMillis() + " ms (idle timeout)", true, null, null, delivered);
            case TURN -> new ModelException("upstream_timeout", prefix() + "the turn took longer than "
                    + settings.turnTimeout().toMillis() + " ms (turn timeout)", false, null, null, delivered);
        };
    }

    private String prefix() {
        return "backend " + settings.name() + ": ";
    }

    // ---- small parsers ----

    /** {@code stop}, {@code length} and {@code content_filter} as they are; other reasons as their nearest. */
    static String finishReason(String raw) {
        return switch (raw.toLowerCase(Locale.ROOT)) {
            case "length", "max_tokens", "model_length" -> "length";
            case "content_filter" -> "content_filter";
            default -> "stop";
        };
    }

    private static Usage usage(JsonNode node) {
        int prompt = node.path("prompt_tokens").asInt(0);
        int completion = node.path("completion_tokens").asInt(0);
        JsonNode total = node.get("total_tokens");
        return new Usage(prompt, completion, total != null && total.canConvertToInt() ? total.asInt() : prompt + completion);
    }

    /** From {@code retry-after-ms}, else {@code Retry-After} in seconds or as an HTTP-date; {@code null} if neither parses. */
    static Duration retryAfter(HttpHeaders headers, Clock clock) {
        Optional<String> millis = headers.firstValue("retry-after-ms");
        if (millis.isPresent()) {
            try {
                return Duration.ofMillis(Math.max(0, new BigDecimal(millis.get().trim()).longValue()));
            } catch (NumberFormatException | ArithmeticException ignored) {
                // try Retry-After
            }
        }
        return headers.firstValue("retry-after").map(v -> retryAfter(v, clock)).orElse(null);
    }

    static Duration retryAfter(String value, Clock clock) {
        String v = value.trim();
        try {
            BigDecimal seconds = new BigDecimal(v);
            return seconds.signum() <= 0 ? Duration.ZERO
                    : Duration.ofMillis(seconds.movePointRight(3).setScale(0, java.math.RoundingMode.CEILING).longValueExact());
        } catch (NumberFormatException | ArithmeticException ignored) {
            // an HTTP-date?
        }
        try {
            Duration until = Duration.between(clock.instant(),
                    ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant());
            return until.isNegative() ? Duration.ZERO : until;
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    /** The message of an error body: {@code error.message}, {@code error} (a string), {@code message} or {@code detail}. */
    static String errorMessage(byte[] body) {
        if (body.length == 0) {
            return null;
        }
        String text = new String(body, StandardCharsets.UTF_8);
        try {
            JsonNode node = Json.MAPPER.readTree(text);
            if (node != null && node.isObject()) {
                JsonNode error = node.get("error");
                for (JsonNode candidate : new JsonNode[] {error == null ? null : error.get("message"), error,
                        node.get("message"), node.get("detail")}) {
                    if (candidate != null && candidate.isTextual() && !candidate.textValue().isBlank()) {
                        return truncate(candidate.textValue());
                    }
                }
                return null;
            }
        } catch (JsonProcessingException ignored) {
            // not JSON: plain text, or an HTML error page of a proxy
        }
        return text.stripLeading().startsWith("<") ? null : truncate(text);
    }

    static String truncate(String text) {
        String clean = text.replaceAll("[\\p{Cntrl}&&[^\t]]+", " ").strip();
        return clean.length() <= MAX_UPSTREAM_MESSAGE_CHARS ? clean
                : clean.substring(0, MAX_UPSTREAM_MESSAGE_CHARS) + "…";
    }

    private static int parseIntOr(String text, int otherwise) {
        try {
            return Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            return otherwise;
        }
    }

    private static String describe(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && (t.getMessage() == null || t.getMessage().isBlank())) {
            t = t.getCause();
        }
        return t.getMessage() == null || t.getMessage().isBlank() ? t.getClass().getSimpleName() : t.getMessage();
    }

    private static <T extends Throwable> T find(Throwable e, Class<T> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    private static byte[] readUpTo(InputStream in, int limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        int n;
        while (out.size() < limit && (n = in.read(buffer, 0, Math.min(buffer.length, limit - out.size()))) >= 0) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    private static void closeQuietly(InputStream in) {
        if (in != null) {
            try {
                in.close();
            } catch (IOException | RuntimeException ignored) {
                // closing is best effort
            }
        }
    }

    @Override
    public void close() {
        if (ownsClient) {
            client.shutdownNow();
        }
    }

    @Override
    public String toString() {
        return "OpenAiChatModel[" + settings.name() + "]";
    }

    private static ScheduledExecutorService sharedWatchdog() {
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openai-backend-watchdog");
            t.setDaemon(true);
            return t;
        });
        executor.setRemoveOnCancelPolicy(true); // cancelled turn timeouts must not pile up for 10 minutes
        return executor;
    }

    // ---- the watchdog ----

    enum Timeout { FIRST_TOKEN, IDLE, TURN }

    /**
     * Aborts one exchange when a deadline passes. One scheduled task at a time: when it runs early
     * (activity moved the deadline), it schedules itself again for the new deadline, so chunks cost
     * a volatile write, not a timer operation.
     */
    private final class Watchdog implements Runnable {
        private final long turnDeadline;
        private final long firstTokenDeadline;
        private final long idleNanos;
        private volatile long lastActivity;
        private volatile boolean firstToken;
        private volatile boolean busy;
        private CompletableFuture<?> request;
        private InputStream body;
        private ScheduledFuture<?> task;
        private Timeout fired;
        private boolean finished;

        Watchdog(long start, long turnDeadline) {
            this.turnDeadline = turnDeadline;
            this.firstTokenDeadline = start + settings.firstTokenTimeout().toNanos();
            this.idleNanos = settings.idleTimeout().toNanos();
            this.lastActivity = start;
        }

        void start(CompletableFuture<?> future) {
            synchronized (this) {
                request = future;
            }
            schedule(System.nanoTime());
        }

        /** A data line arrived ({@code text}: with content). */
        void activity(boolean text) {
            long now = System.nanoTime();
            lastActivity = now;
            if (text && !firstToken) {
                firstToken = true;
                schedule(now); // the idle deadline may come before the first-token one the task waits for
            }
        }

        void busy(boolean value) {
            if (!value) {
                lastActivity = System.nanoTime();
            }
            busy = value;
        }

        void attach(InputStream in) {
            boolean close;
            synchronized (this) {
                body = in;
                close = fired != null;
            }
            if (close) {
                closeQuietly(in);
            }
        }

        synchronized Timeout fired() {
            return fired;
        }

        synchronized void finish() {
            finished = true;
            if (task != null) {
                task.cancel(false);
            }
        }

        @Override
        public void run() {
            long now = System.nanoTime();
            if (now - turnDeadline >= 0) {
                abort(Timeout.TURN);
            } else if (busy) {
                schedule(now); // the sink is working; look again later
            } else if (now - deadline() >= 0) {
                abort(firstToken ? Timeout.IDLE : Timeout.FIRST_TOKEN);
            } else {
                schedule(now);
            }
        }

        private long deadline() {
            return firstToken ? lastActivity + idleNanos : firstTokenDeadline;
        }

        private void schedule(long now) {
            long at = busy ? now + idleNanos : deadline();
            if (turnDeadline - at < 0) {
                at = turnDeadline;
            }
            synchronized (this) {
                if (!finished && fired == null) {
                    if (task != null) {
                        task.cancel(false); // at most one pending check (this may be it, running: harmless)
                    }
                    task = watchdog.schedule(this, Math.max(0, at - now), TimeUnit.NANOSECONDS);
                }
            }
        }

        private void abort(Timeout reason) {
            CompletableFuture<?> pending;
            InputStream in;
            synchronized (this) {
                if (finished || fired != null) {
                    return;
                }
                fired = reason;
                pending = request;
                in = body;
            }
            log.debug("backend {}: aborting the exchange ({} timeout)", settings.name(), reason);
            if (pending != null) {
                pending.cancel(true);
            }
            closeQuietly(in);
        }
    }

    // ---- line reading ----

    static final class LineTooLongException extends IOException {
        LineTooLongException() {
            super("line too long");
        }
    }

    /**
     * Lines of an event stream, ended by LF, CRLF or CR, decoded as UTF-8 once complete (so a
     * character split between reads is whole). Returns what is available without waiting to fill a
     * buffer, so each event is handled as soon as it arrives. An unterminated last line is dropped,
     * as the event-stream format says.
     */
    static final class LineReader {
        private final InputStream in;
        private final byte[] buffer = new byte[8192];
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        private int pos;
        private int limit;
        private boolean skipLf;

        LineReader(InputStream in) {
            this.in = in;
        }

        /** The next line without its terminator, or {@code null} at the end of the stream. */
        String next() throws IOException {
            line.reset();
            while (true) {
                if (pos == limit) {
                    int n = in.read(buffer);
                    if (n < 0) {
                        return null;
                    }
                    pos = 0;
                    limit = n;
                }
                while (pos < limit) {
                    byte b = buffer[pos++];
                    if (skipLf) {
                        skipLf = false;
                        if (b == '\n') {
                            continue;
                        }
                    }
                    if (b == '\n' || b == '\r') {
                        skipLf = b == '\r';
                        return line.toString(StandardCharsets.UTF_8);
                    }
                    if (line.size() >= MAX_LINE_BYTES) {
                        throw new LineTooLongException();
                    }
                    line.write(b);
                }
            }
        }
    }
}
