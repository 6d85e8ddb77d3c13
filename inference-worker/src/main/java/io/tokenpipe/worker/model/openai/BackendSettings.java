package io.tokenpipe.worker.model.openai;

import io.tokenpipe.common.config.ConfigException;
import io.tokenpipe.common.config.Env;
import io.tokenpipe.common.config.Setting;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One OpenAI-compatible backend (vLLM, Ollama, llama.cpp server, LM Studio, OpenAI, ...), read from
 * the environment variables {@code BACKEND_<NAME>_*} of a backend named in {@code MODEL_BACKENDS}.
 *
 * <p>{@link #toString()} never shows the API key or the extra headers (which may hold credentials too).
 *
 * @param name              the backend's NAME, upper-case {@code [A-Z0-9_]+}
 * @param baseUrl           the API root without a trailing slash; requests go to {@code <baseUrl>/chat/completions}
 * @param apiKey            sent as {@code Authorization: Bearer <apiKey>}; {@code null} for none
 * @param models            the model names a turn may ask for that this backend serves; {@code *} = any
 * @param upstreamModel     the model name sent upstream; {@code null} = the name the turn asked for
 * @param headers           extra request headers, in order
 * @param continuation      how to continue an answer after a mid-answer failure
 * @param fallback          the NAME of the backend to try when this one fails before its first token; {@code null} for none
 * @param connectTimeout    TCP (and TLS) connect timeout
 * @param firstTokenTimeout from sending the request to the first piece of text
 * @param idleTimeout       longest gap between two chunks once text flows
 * @param turnTimeout       longest one call may take, retries included
 * @param maxRetries        retries of a retryable failure before the first token (so up to {@code maxRetries + 1} attempts)
 * @param retryBase         back-off before the first retry (doubled for each further one, with full jitter)
 * @param retryMax          back-off cap
 * @param forwardOptions    the turn options copied into the upstream request; none by default, since a
 *                          client could otherwise raise the cost of a paid backend ({@code n}, {@code service_tier}…)
 * @param maxTokensField    the request field that carries a turn's max_tokens: {@code max_tokens}, or
 *                          {@code max_completion_tokens} for models that refuse the older name (OpenAI's o-series)
 */
public record BackendSettings(
        String name,
        URI baseUrl,
        String apiKey,
        List<String> models,
        String upstreamModel,
        Map<String, String> headers,
        Continuation continuation,
        String fallback,
        Duration connectTimeout,
        Duration firstTokenTimeout,
        Duration idleTimeout,
        Duration turnTimeout,
        int maxRetries,
        Duration retryBase,
        Duration retryMax,
        Set<String> forwardOptions,
        String maxTokensField) {

    /** What a backend does when asked to continue an answer another attempt began. */
    public enum Continuation {
        /**
         * Sends the delivered text as a trailing assistant message with {@code continue_final_message: true}
         * and {@code add_generation_prompt: false} (vLLM; Ollama and llama.cpp continue a trailing assistant
         * message too): the upstream generates only what follows, and clients keep the text they have.
         */
        PREFILL,
        /**
         * Asks the whole question again and streams the whole new answer: for servers that cannot
         * continue a message (OpenAI itself). Clients must discard the partial text first.
         */
        RESTART
    }

    /** The wildcard model name: the backend serves whatever model a turn asks for. */
    public static final String ANY_MODEL = "*";

    /** The placeholder in the documented variable names. */
    public static final String NAME_PLACEHOLDER = "<NAME>";
    private static final String PREFIX = "BACKEND_";

    public static final Setting MODEL_BACKENDS = Setting.of("MODEL_BACKENDS", "",
            "Comma-separated NAMEs of the OpenAI-compatible backends to enable (vLLM, Ollama, llama.cpp, LM Studio, OpenAI); each is configured by the variables below, whose names start with BACKEND_ and that NAME. Empty = only the synthetic model.");

    public static final Setting BASE_URL = template("BASE_URL", null,
            "Required for an enabled backend: its OpenAI-compatible API root, e.g. http://localhost:11434/v1 (requests go to BASE_URL + /chat/completions).");
    public static final Setting API_KEY = template("API_KEY", null,
            "The backend's API key, sent as an 'Authorization: Bearer' header; never logged. Unset = no Authorization header.");
    public static final Setting MODELS = template("MODELS", null,
            "Comma-separated model names a turn may ask for that this backend serves; * = any name no other backend or the synthetic model claims. Default: NAME in lower case.");
    public static final Setting UPSTREAM_MODEL = template("UPSTREAM_MODEL", null,
            "The model name sent upstream. Default: the name the turn asked for.");
    public static final Setting HEADERS = template("HEADERS", null,
            "Extra request headers as 'Name: value' pairs separated by ';' (or by newlines, then values may contain ';'); never logged.");
    public static final Setting CONTINUATION = template("CONTINUATION", "prefill",
            "How to go on after a failure mid-answer: prefill (send the partial answer as an assistant message to continue; vLLM, Ollama, llama.cpp) or restart (ask again and tell clients to discard the partial answer; OpenAI).");
    public static final Setting FALLBACK = template("FALLBACK", null,
            "NAME of another enabled backend to try when this one fails before its first token (after its retries).");
    public static final Setting CONNECT_TIMEOUT_MS = template("CONNECT_TIMEOUT_MS", "5000",
            "Connect timeout to the backend.");
    public static final Setting FIRST_TOKEN_TIMEOUT_MS = template("FIRST_TOKEN_TIMEOUT_MS", "60000",
            "Longest wait from sending a request to the first piece of text.");
    public static final Setting IDLE_TIMEOUT_MS = template("IDLE_TIMEOUT_MS", "30000",
            "Longest gap between two chunks of a streaming answer.");
    public static final Setting TURN_TIMEOUT_MS = template("TURN_TIMEOUT_MS", "600000",
            "Longest a turn may take on this backend, retries included (not retried when it expires).");
    public static final Setting MAX_RETRIES = template("MAX_RETRIES", "3",
            "Retries of a retryable failure (unreachable, timeout, 429, 5xx) before the first token; none after it.");
    public static final Setting RETRY_BASE_MS = template("RETRY_BASE_MS", "500",
            "Back-off before the first retry, doubled for each further one, with full jitter; a 429's Retry-After is honoured.");
    public static final Setting RETRY_MAX_MS = template("RETRY_MAX_MS", "10000",
            "Upper bound of the back-off between retries.");
    public static final Setting FORWARD_OPTIONS = template("FORWARD_OPTIONS", "",
            "Comma-separated names of a turn's options copied into the upstream request (e.g. top_p,presence_penalty); empty forwards none, so clients cannot set cost-raising fields such as n, service_tier or max_completion_tokens.");

    public static final Setting MAX_TOKENS_FIELD = template("MAX_TOKENS_FIELD", "max_tokens",
            "The request field that carries a turn's max_tokens: max_tokens, or max_completion_tokens for models that reject max_tokens (OpenAI's reasoning models).");

    private static final List<Setting> PER_BACKEND = List.of(BASE_URL, API_KEY, MODELS, UPSTREAM_MODEL, HEADERS,
            CONTINUATION, FALLBACK, CONNECT_TIMEOUT_MS, FIRST_TOKEN_TIMEOUT_MS, IDLE_TIMEOUT_MS, TURN_TIMEOUT_MS,
            MAX_RETRIES, RETRY_BASE_MS, RETRY_MAX_MS, FORWARD_OPTIONS, MAX_TOKENS_FIELD);

    private static final Pattern NAME = Pattern.compile("[A-Z0-9_]+");
    private static final Pattern VARIABLE = Pattern.compile("BACKEND_([A-Z0-9_]+)_(" + String.join("|",
            PER_BACKEND.stream().map(BackendSettings::suffix).toList()) + ")");
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");
    /** Headers the client sets itself (or java.net.http refuses to let callers set). */
    private static final Set<String> RESERVED_HEADERS = Set.of("connection", "content-length", "expect", "host",
            "upgrade", "content-type", "transfer-encoding", "te", "trailer", "keep-alive", "accept");

    public BackendSettings {
        models = List.copyOf(models);
        headers = Collections.unmodifiableMap(new LinkedHashMap<>(headers));
        forwardOptions = forwardOptions == null ? Set.of() : Set.copyOf(forwardOptions);
        maxTokensField = maxTokensField == null ? "max_tokens" : maxTokensField;
    }

    /** The documented settings, named with the literal {@code <NAME>} placeholder, after {@code MODEL_BACKENDS}. */
    public static List<Setting> documented() {
        List<Setting> all = new ArrayList<>();
        all.add(MODEL_BACKENDS);
        all.addAll(PER_BACKEND);
        return List.copyOf(all);
    }

    /** Whether {@code name} is a variable this class reads: {@code MODEL_BACKENDS} or {@code BACKEND_<NAME>_<SETTING>}. */
    public static boolean isBackendVariable(String name) {
        return name != null && (name.equals(MODEL_BACKENDS.name()) || VARIABLE.matcher(name).matches());
    }

    /** The enabled backends, in {@code MODEL_BACKENDS} order; empty when none is enabled. */
    public static List<BackendSettings> fromEnv(Env env) {
        List<String> names = new ArrayList<>();
        for (String raw : env.list(MODEL_BACKENDS)) {
            String name = raw.toUpperCase(Locale.ROOT);
            if (!NAME.matcher(name).matches()) {
                throw new ConfigException(MODEL_BACKENDS.name() + " lists '" + raw
                        + "', which is not a backend name: use letters, digits and '_' only");
            }
            if (names.contains(name)) {
                throw new ConfigException(MODEL_BACKENDS.name() + " lists '" + name + "' twice");
            }
            names.add(name);
        }
        List<BackendSettings> backends = new ArrayList<>();
        for (String name : names) {
            BackendSettings backend = from(env, name);
            if (backend.fallback() != null && !names.contains(backend.fallback())) {
                throw new ConfigException(variable(FALLBACK, name) + " names '" + backend.fallback()
                        + "', which is not a backend listed in " + MODEL_BACKENDS.name() + " " + names);
            }
            rejectUnknownVariables(env, name);
            backends.add(backend);
        }
        return List.copyOf(backends);
    }

    /** One backend's settings, whether or not {@code MODEL_BACKENDS} lists it (its fallback is not checked). */
    public static BackendSettings from(Env env, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new ConfigException("'" + name + "' is not a backend name: use upper-case letters, digits and '_' only");
        }
        URI baseUrl = baseUrl(env, name);
        String apiKey = env.string(setting(API_KEY, name));
        List<String> models = env.list(setting(MODELS, name));
        if (models.isEmpty()) {
            models = List.of(name.toLowerCase(Locale.ROOT));
        }
        models = List.copyOf(new LinkedHashSet<>(models));
        String upstreamModel = env.string(setting(UPSTREAM_MODEL, name));
        Map<String, String> headers = headers(env.string(setting(HEADERS, name)), variable(HEADERS, name));
        if (apiKey != null && headers.keySet().stream().anyMatch("authorization"::equalsIgnoreCase)) {
            throw new ConfigException(variable(HEADERS, name) + " sets Authorization while " + variable(API_KEY, name)
                    + " is set too: use one or the other");
        }
        Continuation continuation = switch (env.required(setting(CONTINUATION, name)).toLowerCase(Locale.ROOT)) {
            case "prefill" -> Continuation.PREFILL;
            case "restart" -> Continuation.RESTART;
            default -> throw new ConfigException(variable(CONTINUATION, name) + " must be prefill or restart, got '"
                    + env.string(setting(CONTINUATION, name)) + "'");
        };
        String fallback = env.string(setting(FALLBACK, name));
        if (fallback != null) {
            fallback = fallback.toUpperCase(Locale.ROOT);
            if (!NAME.matcher(fallback).matches()) {
                throw new ConfigException(variable(FALLBACK, name) + " must be a backend NAME, got '"
                        + env.string(setting(FALLBACK, name)) + "'");
            }
            if (fallback.equals(name)) {
                throw new ConfigException(variable(FALLBACK, name) + " names the backend itself");
            }
        }
        Duration retryBase = env.millis(setting(RETRY_BASE_MS, name));
        Duration retryMax = env.millis(setting(RETRY_MAX_MS, name));
        if (retryMax.compareTo(retryBase) < 0) {
            throw new ConfigException(variable(RETRY_MAX_MS, name) + " (" + retryMax.toMillis() + ") must not be less than "
                    + variable(RETRY_BASE_MS, name) + " (" + retryBase.toMillis() + ")");
        }
        int maxRetries = env.integer(setting(MAX_RETRIES, name));
        if (maxRetries < 0) {
            throw new ConfigException(variable(MAX_RETRIES, name) + " must not be negative, got " + maxRetries);
        }
        String maxTokensField = env.required(setting(MAX_TOKENS_FIELD, name));
        if (!maxTokensField.equals("max_tokens") && !maxTokensField.equals("max_completion_tokens")) {
            throw new ConfigException(variable(MAX_TOKENS_FIELD, name) + " must be max_tokens or max_completion_tokens, got '"
                    + maxTokensField + "'");
        }
        return new BackendSettings(name, baseUrl, apiKey, models, upstreamModel, headers, continuation, fallback,
                positiveMillis(env, CONNECT_TIMEOUT_MS, name), positiveMillis(env, FIRST_TOKEN_TIMEOUT_MS, name),
                positiveMillis(env, IDLE_TIMEOUT_MS, name), positiveMillis(env, TURN_TIMEOUT_MS, name),
                maxRetries, retryBase, retryMax, Set.copyOf(env.list(setting(FORWARD_OPTIONS, name))), maxTokensField);
    }

    /** {@code <baseUrl>/chat/completions}, keeping a query string of the base URL. */
    public URI chatCompletionsUri() {
        try {
            return new URI(baseUrl.getScheme(), baseUrl.getAuthority(), baseUrl.getPath() + "/chat/completions",
                    baseUrl.getQuery(), null);
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot extend " + baseUrl, e);
        }
    }

    /** The base URL for logs: without its query string, which may hold a key. */
    public String displayUrl() {
        return baseUrl.getScheme() + "://" + baseUrl.getRawAuthority() + baseUrl.getRawPath()
                + (baseUrl.getRawQuery() == null ? "" : "?…");
    }

    /** Whether this backend serves the model a turn asked for (by name or as {@code *}). */
    public boolean serves(String model) {
        return models.contains(model) || models.contains(ANY_MODEL);
    }

    /** Whether this backend lists {@code model} by name (not only through {@code *}). */
    public boolean servesByName(String model) {
        return models.contains(model);
    }

    /** The model name to send upstream for a turn that asked for {@code requested}. */
    public String upstreamModelFor(String requested) {
        return upstreamModel != null ? upstreamModel : requested;
    }

    public boolean continuesAnswers() {
        return continuation == Continuation.PREFILL;
    }

    @Override
    public String toString() {
        return "BackendSettings[name=" + name + ", baseUrl=" + displayUrl() + ", apiKey=" + (apiKey == null ? "none" : "***")
                + ", models=" + models + ", upstreamModel=" + upstreamModel + ", headers=" + headers.keySet()
                + ", continuation=" + continuation + ", fallback=" + fallback + ", connectTimeout=" + connectTimeout
                + ", firstTokenTimeout=" + firstTokenTimeout + ", idleTimeout=" + idleTimeout + ", turnTimeout="
                + turnTimeout + ", maxRetries=" + maxRetries + ", retryBase=" + retryBase + ", retryMax=" + retryMax
                + ", maxTokensField=" + maxTokensField + "]";
    }

    // ---- parsing ----

    private static Setting template(String suffix, String defaultValue, String description) {
        return Setting.of(PREFIX + NAME_PLACEHOLDER + "_" + suffix, defaultValue, description);
    }

    private static String suffix(Setting template) {
        return template.name().substring((PREFIX + NAME_PLACEHOLDER + "_").length());
    }

    /** The concrete variable name of a per-backend setting. */
    public static String variable(Setting template, String name) {
        return template.name().replace(NAME_PLACEHOLDER, name);
    }

    private static Setting setting(Setting template, String name) {
        return Setting.of(variable(template, name), template.defaultValue(), template.description());
    }

    private static Duration positiveMillis(Env env, Setting template, String name) {
        Duration value = env.millis(setting(template, name));
        if (value.isZero()) {
            throw new ConfigException(variable(template, name) + " must be greater than 0");
        }
        return value;
    }

    private static URI baseUrl(Env env, String name) {
        String variable = variable(BASE_URL, name);
        String raw = env.string(setting(BASE_URL, name));
        if (raw == null) {
            throw new ConfigException(variable + " must be set: backend " + name + " is listed in "
                    + MODEL_BACKENDS.name() + " (e.g. http://localhost:11434/v1 for Ollama)");
        }
        URI uri;
        try {
            uri = new URI(raw);
        } catch (URISyntaxException e) {
            throw new ConfigException(variable + " is not a URL: " + e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new ConfigException(variable + " must be an http:// or https:// URL, got '" + raw + "'");
        }
        if (uri.getHost() == null) {
            throw new ConfigException(variable + " has no host: '" + raw + "'");
        }
        if (uri.getRawUserInfo() != null) {
            throw new ConfigException(variable + " must not contain credentials: use "
                    + variable(API_KEY, name) + " or " + variable(HEADERS, name));
        }
        if (uri.getRawFragment() != null) {
            throw new ConfigException(variable + " must not have a #fragment");
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        while (path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        if (path.endsWith("/chat/completions")) {
            throw new ConfigException(variable + " is the API root (e.g. http://host:8000/v1), without /chat/completions");
        }
        try {
            return new URI(scheme, uri.getAuthority(), path, uri.getQuery(), null);
        } catch (URISyntaxException e) {
            throw new ConfigException(variable + " is not a URL: " + e.getMessage());
        }
    }

    /** {@code Name: value} pairs separated by newlines, or by {@code ;} when there is no newline. */
    static Map<String, String> headers(String raw, String variable) {
        Map<String, String> headers = new LinkedHashMap<>();
        if (raw == null || raw.isBlank()) {
            return headers;
        }
        String[] parts = raw.contains("\n") ? raw.split("\r?\n") : raw.split(";");
        for (String part : parts) {
            if (part.isBlank()) {
                continue;
            }
            int colon = part.indexOf(':');
            String headerName = colon < 0 ? part.trim() : part.substring(0, colon).trim();
            if (colon < 0 || !HEADER_NAME.matcher(headerName).matches()) {
                // Only the name is shown: the value may be a credential.
                throw new ConfigException(variable + " must be 'Name: value' pairs separated by ';' or newlines; '"
                        + (colon < 0 ? "(a pair without ':')" : headerName) + "' is not a header name");
            }
            String value = part.substring(colon + 1).trim();
            if (value.chars().anyMatch(c -> c < 0x20 && c != '\t' || c == 0x7f)) {
                throw new ConfigException(variable + ": the value of header " + headerName + " has control characters");
            }
            if (RESERVED_HEADERS.contains(headerName.toLowerCase(Locale.ROOT))) {
                throw new ConfigException(variable + " must not set " + headerName + ": the worker sets it itself");
            }
            if (headers.keySet().stream().anyMatch(headerName::equalsIgnoreCase)) {
                throw new ConfigException(variable + " sets " + headerName + " twice");
            }
            headers.put(headerName, value);
        }
        return headers;
    }

    /**
     * A typo in a variable of an enabled backend (BACKEND_VLLM_BASEURL) would silently leave the
     * default in force: refuse it. A well-formed variable of another backend (BACKEND_VLLM_2_BASE_URL,
     * enabled or not) is not a typo.
     */
    private static void rejectUnknownVariables(Env env, String name) {
        for (String variable : env.withPrefix(PREFIX + name + "_").keySet()) {
            if (!VARIABLE.matcher(variable).matches()) {
                throw new ConfigException(variable + " is not a backend setting; backend " + name + " reads "
                        + PER_BACKEND.stream().map(s -> variable(s, name)).toList());
            }
        }
    }
}
