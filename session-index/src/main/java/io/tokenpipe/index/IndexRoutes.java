package io.tokenpipe.index;

import io.javalin.config.RoutesConfig;
import io.tokenpipe.common.event.Json;
import io.tokenpipe.common.http.ApiException;
import io.tokenpipe.common.id.Ids;

/** The internal routes through which other nodes read and search the sessions this node holds. */
public final class IndexRoutes {

    private IndexRoutes() {
    }

    public static void register(RoutesConfig routes, SessionIndex index) {
        routes.get(SessionIndex.ROUTE + "{sessionId}", ctx -> {
            String sessionId = ctx.pathParam("sessionId");
            if (!Ids.isValid(sessionId)) {
                throw ApiException.badRequest("invalid_session_id", "not a session id");
            }
            boolean fresh = Boolean.parseBoolean(ctx.queryParam("fresh"));
            try {
                ctx.contentType("application/json").result(Json.bytes(index.lookupHere(sessionId, fresh)));
            } catch (IndexUnavailableException | org.apache.kafka.streams.errors.InvalidStateStoreException e) {
                throw ApiException.unavailable("index_unavailable", e.getMessage());
            }
        });
        routes.post(SessionIndex.FIND_ROUTE, ctx -> {
            SessionQuery query;
            try {
                query = Json.read(ctx.bodyAsBytes(), SessionQuery.class);
            } catch (RuntimeException e) {
                throw ApiException.badRequest("malformed_json", "the body is not a session search");
            }
            if (query == null || query.limit() < 1) {
                throw ApiException.badRequest("invalid_request", "a search needs a limit of 1 or more");
            }
            try {
                ctx.contentType("application/json").result(Json.bytes(index.findHere(query)));
            } catch (IndexUnavailableException | org.apache.kafka.streams.errors.InvalidStateStoreException e) {
                throw ApiException.unavailable("index_unavailable", e.getMessage());
            }
        });
    }
}
