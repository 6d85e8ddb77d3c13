package io.tokenpipe.common.http;

import io.javalin.http.Context;
import io.tokenpipe.common.id.Ids;

/** Ids taken from request paths, checked before anything looks them up. */
public final class PathIds {

    private PathIds() {
    }

    /** The {@code {sessionId}} path parameter, or 400 {@code invalid_session_id}. */
    public static String sessionId(Context ctx) {
        String sessionId = ctx.pathParam("sessionId");
        if (!Ids.isValid(sessionId)) {
            throw ApiException.badRequest("invalid_session_id",
                    "a session id is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
        }
        return sessionId;
    }
}
