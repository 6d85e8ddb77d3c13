package io.tokenpipe.delivery;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.tokenpipe.common.auth.AccessControl;
import io.tokenpipe.common.auth.Principal;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.index.IndexUnavailableException;
import io.tokenpipe.index.SessionIndex;
import io.tokenpipe.index.SessionPage;
import io.tokenpipe.index.SessionQuery;
import io.tokenpipe.index.SessionRecord;
import io.tokenpipe.index.TurnRecord;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The auditors' routes: {@code GET /v1/sessions} finds sessions through the session index, and
 * {@code GET /v1/audit/trail} lists the access trail (admins). Every search is itself recorded.
 */
final class AuditApi {

    static final int DEFAULT_LIMIT = 50;
    static final int MAX_LIMIT = 200;
    private static final int MAX_METADATA_FILTERS = 16;
    private static final String METADATA_PREFIX = "metadata.";
    private static final java.util.Set<String> SEARCH_PARAMS = java.util.Set.of("from", "to", "model", "status", "limit", "cursor");

    private final SessionIndex index;
    private final AccessTrail trail;

    AuditApi(SessionIndex index, AccessTrail trail) {
        this.index = index;
        this.trail = trail;
    }

    void register(RoutesConfig routes) {
        routes.get("/v1/sessions", this::search);
        routes.get("/v1/audit/trail", this::listTrail);
    }

    private void search(Context ctx) {
        SessionQuery query = query(ctx);
        trail.record(principal(ctx), AccessTrail.SEARCH, null, searchDetail(ctx));
        SessionPage page;
        try {
            page = index.find(query);
        } catch (IndexUnavailableException e) {
            throw ApiException.unavailable("index_unavailable", "the session index is not available right now; retry shortly");
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("sessions", page.sessions().stream().map(AuditApi::summary).toList());
        body.put("next_cursor", page.nextCursor());
        ctx.json(body);
    }

    /** The request's search, or 400 naming the parameter that is wrong. */
    static SessionQuery query(Context ctx) {
        Map<String, String> metadata = new TreeMap<>();
        for (Map.Entry<String, List<String>> param : ctx.queryParamMap().entrySet()) {
            String name = param.getKey();
            if (param.getValue().size() > 1) {
                throw ApiException.badRequest("invalid_request", "'" + name + "' is given more than once");
            }
            if (name.startsWith(METADATA_PREFIX)) {
                String key = name.substring(METADATA_PREFIX.length());
                if (key.isEmpty() || key.length() > 64) {
                    throw ApiException.badRequest("invalid_request", "a metadata filter is metadata.<key>=<value>, with a key of 1-64 characters");
                }
                metadata.put(key, param.getValue().getFirst());
            } else if (!SEARCH_PARAMS.contains(name)) {
                throw ApiException.badRequest("unknown_parameter", "unknown parameter '" + clip(name)
                        + "' (from, to, metadata.<key>, model, status, limit, cursor)");
            }
        }
        if (metadata.size() > MAX_METADATA_FILTERS) {
            throw ApiException.badRequest("invalid_request", "at most " + MAX_METADATA_FILTERS + " metadata filters");
        }
        Instant from = instant(ctx, "from");
        Instant to = instant(ctx, "to");
        if (from != null && to != null && !from.isBefore(to)) {
            throw ApiException.badRequest("invalid_request", "'from' must be before 'to'");
        }
        String model = ctx.queryParam("model");
        if (model != null && (model.isBlank() || model.length() > 128)) {
            throw ApiException.badRequest("invalid_request", "'model' must be 1-128 characters");
        }
        TurnRecord.Status status = null;
        String statusText = ctx.queryParam("status");
        if (statusText != null) {
            try {
                status = TurnRecord.Status.fromJson(statusText);
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("invalid_request", "'status' is one of queued, running, completed, failed");
            }
        }
        int limit = DEFAULT_LIMIT;
        String limitText = ctx.queryParam("limit");
        if (limitText != null) {
            try {
                limit = Integer.parseInt(limitText.trim());
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > MAX_LIMIT) {
                throw ApiException.badRequest("invalid_request", "'limit' must be an integer from 1 to " + MAX_LIMIT);
            }
        }
        String afterKey = null;
        String cursor = ctx.queryParam("cursor");
        if (cursor != null) {
            afterKey = SessionQuery.keyOfCursor(cursor);
            if (afterKey == null) {
                throw ApiException.badRequest("invalid_cursor", "'cursor' must be a next_cursor this API returned");
            }
        }
        return new SessionQuery(from, to, metadata, model, status, limit, afterKey);
    }

    private static Instant instant(Context ctx, String name) {
        String text = ctx.queryParam(name);
        if (text == null) {
            return null;
        }
        try {
            return Instant.parse(text.trim());
        } catch (DateTimeParseException e) {
            throw ApiException.badRequest("invalid_request", "'" + name + "' must be an ISO-8601 instant such as 2026-03-02T14:00:00Z");
        }
    }

    private static Map<String, String> searchDetail(Context ctx) {
        Map<String, String> detail = new TreeMap<>();
        ctx.queryParamMap().forEach((name, values) -> detail.put(name, values.getFirst()));
        return detail;
    }

    private static Map<String, Object> summary(SessionRecord session) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("session_id", session.sessionId());
        out.put("created_at", session.createdAt());
        out.put("metadata", session.metadata());
        out.put("turns", session.turns().stream().map(t -> {
            Map<String, Object> turn = new LinkedHashMap<>();
            turn.put("turn_id", t.turnId());
            turn.put("status", t.status().json());
            turn.put("model", t.model());
            turn.put("submitted_at", t.submittedAt());
            turn.put("finish_reason", t.finishReason());
            return turn;
        }).toList());
        out.put("transcript_url", "/v1/sessions/" + session.sessionId() + "/transcript");
        out.put("events_url", "/v1/sessions/" + session.sessionId() + "/events");
        return out;
    }

    private void listTrail(Context ctx) {
        for (String name : ctx.queryParamMap().keySet()) {
            if (!List.of("after", "since", "limit").contains(name)) {
                throw ApiException.badRequest("unknown_parameter", "unknown parameter '" + clip(name) + "' (after, since, limit)");
            }
        }
        long after = -1;
        String afterText = ctx.queryParam("after");
        if (afterText != null) {
            try {
                after = Long.parseLong(afterText.trim());
            } catch (NumberFormatException e) {
                after = -2;
            }
            if (after < -1) {
                throw ApiException.badRequest("invalid_cursor", "'after' must be a position (next_after) this API returned");
            }
        }
        Instant since = instant(ctx, "since");
        int limit = DEFAULT_LIMIT;
        String limitText = ctx.queryParam("limit");
        if (limitText != null) {
            try {
                limit = Integer.parseInt(limitText.trim());
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > MAX_LIMIT) {
                throw ApiException.badRequest("invalid_request", "'limit' must be an integer from 1 to " + MAX_LIMIT);
            }
        }
        AccessTrail.Page page = trail.read(after, since, limit);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("entries", page.entries().stream().map(p -> {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("position", p.position());
            entry.put("at", p.entry().at());
            entry.put("actor", Map.of("kind", p.entry().actorKind(), "name", p.entry().actor()));
            entry.put("action", p.entry().action());
            entry.put("session_id", p.entry().sessionId());
            entry.put("detail", p.entry().detail() == null ? Map.of() : p.entry().detail());
            return entry;
        }).toList());
        body.put("next_after", page.nextAfter());
        ctx.json(body);
    }

    private static Principal principal(Context ctx) {
        return AccessControl.principal(ctx).orElse(Principal.open());
    }

    private static String clip(String text) {
        return text.length() > 40 ? text.substring(0, 40) + "…" : text;
    }
}
