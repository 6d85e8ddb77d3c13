package io.tokenpipe.common.auth;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One line of the access table: a method and a path template ({@code /v1/sessions/{sessionId}/events},
 * segments in braces match any one segment) and the {@link Access} it requires.
 */
public final class AccessRule {

    /** Files of the web page at the root: {@code /}, {@code /app.js}, {@code /index.html}… */
    private static final Pattern WEB_FILE = Pattern.compile("/([A-Za-z0-9_-]+\\.(html|js|css|ico|svg|png|txt))?");

    private final String method;
    private final String template;
    private final String[] segments;
    private final Access access;

    private AccessRule(String method, String template, Access access) {
        this.method = method.toUpperCase(Locale.ROOT);
        this.template = template;
        this.segments = template.split("/", -1);
        this.access = access;
    }

    public static AccessRule of(String method, String template, Access access) {
        return new AccessRule(method, template, access);
    }

    /** The web page's static files, readable by anyone (the page itself holds no data). */
    public static AccessRule webPage() {
        return new AccessRule("GET", "<web page files>", Access.PUBLIC);
    }

    public String method() {
        return method;
    }

    public String template() {
        return template;
    }

    public Access access() {
        return access;
    }

    /** Whether the request matches; its {@code {sessionId}} segment is then in {@code match.sessionId}. */
    Match match(String requestMethod, String path) {
        String m = requestMethod.equals("HEAD") ? "GET" : requestMethod;
        if (!m.equals(method)) {
            return null;
        }
        if (template.equals("<web page files>")) {
            return WEB_FILE.matcher(path).matches() ? new Match(this, null) : null;
        }
        String trimmed = path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        String[] parts = trimmed.split("/", -1);
        if (parts.length != segments.length) {
            return null;
        }
        String sessionId = null;
        for (int i = 0; i < parts.length; i++) {
            String segment = segments[i];
            if (segment.startsWith("{") && segment.endsWith("}")) {
                if (parts[i].isEmpty()) {
                    return null;
                }
                if (segment.equals("{sessionId}")) {
                    sessionId = URLDecoder.decode(parts[i], StandardCharsets.UTF_8);
                }
            } else if (!segment.equals(parts[i])) {
                return null;
            }
        }
        return new Match(this, sessionId);
    }

    record Match(AccessRule rule, String sessionId) {
    }

    @Override
    public String toString() {
        return method + " " + template;
    }
}
