package io.tokenpipe.common.privacy;

import io.tokenpipe.common.http.ApiException;

/** The session was deleted (its key shredded): its content can no longer be read. Answered as 410. */
public final class SessionDeletedException extends ApiException {

    public SessionDeletedException(String sessionId) {
        super(410, "session_deleted", "session " + sessionId + " was deleted; its content is gone");
    }
}
