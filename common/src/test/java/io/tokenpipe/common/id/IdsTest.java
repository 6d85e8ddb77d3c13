package io.tokenpipe.common.id;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdsTest {

    @Test
    void validityFollowsTheDocumentedFormat() {
        for (String id : List.of("s_abc", "A-z_09", "x".repeat(64), "x".repeat(65), "", "a b", "a.b", "a/b", "é", "s_\n",
                "t_" + "Z".repeat(22))) {
            assertEquals(Ids.FORMAT.matcher(id).matches(), Ids.isValid(id), id);
        }
        assertEquals(false, Ids.isValid(null));
    }

    @Test
    void newSessionIdsAreValidAndDistinct() {
        String a = Ids.newSessionId();
        String b = Ids.newSessionId();
        assertTrue(Ids.isValid(a) && Ids.isValid(b));
        assertNotEquals(a, b);
    }

    @Test
    void aRetriedRequestMapsToTheSameTurnAndAnotherRequestDoesNot() {
        assertEquals(Ids.turnId("s_1", "key"), Ids.turnId("s_1", "key"));
        assertNotEquals(Ids.turnId("s_1", "key"), Ids.turnId("s_1", "other"));
        assertNotEquals(Ids.turnId("s_1", "key"), Ids.turnId("s_2", "key"));
        assertTrue(Ids.isValid(Ids.turnId("s_1", "key")));
    }
}
