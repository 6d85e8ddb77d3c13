package io.tokenpipe.standalone.browser;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.TestAuth;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.support.ui.FluentWait;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * One page following more sessions than a browser opens HTTP/1.1 connections to one origin (six in
 * Chromium): over one WebSocket every session streams to completion, through a drop of the socket
 * mid-turn, each once and in full; over SSE alone the page gets six streams and no more. Real
 * headless Chromium against the whole stack; skipped when Chromium or ChromeDriver is not installed.
 */
class ManySessionsBrowserIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    /** More than Chromium's six connections per origin. */
    private static final int SESSIONS = 10;
    private static final int CONNECTIONS_PER_ORIGIN = 6;

    /** 3 tokens a second: a 40-token answer takes 13 s, long enough to drop the socket while they stream. */
    private static final Map<String, String> SETTINGS = Map.of(
            "SYNTHETIC_TTFT_MS", "200",
            "SYNTHETIC_TOKENS_PER_SECOND", "3",
            "SSE_HEARTBEAT_MS", "1000");

    @TempDir
    static Path dataDir;

    private static final String MISSING = Browser.missing();
    private static Standalone stack;
    private static ApiClient api;
    private Browser browser;

    @BeforeAll
    static void start() {
        if (MISSING != null) {
            return;
        }
        stack = BrowserStack.start("browser-many", dataDir, SETTINGS);
        api = new ApiClient(stack.port());
    }

    @BeforeEach
    void needsTheBrowser() {
        assumeTrue(MISSING == null, MISSING);
        browser = Browser.start();
    }

    @AfterEach
    void closeBrowser(TestInfo test) {
        if (browser != null) {
            browser.saveArtifacts(test.getTestMethod().orElseThrow().getName());
            browser.close();
            // The server notices a vanished client at its next heartbeat (1 s here).
            new FluentWait<>(stack).withTimeout(Duration.ofSeconds(15)).pollingEvery(Duration.ofMillis(50))
                    .withMessage("the closed browser's streams ended on the server")
                    .until(s -> s.deliveryStreams() == 0 && s.deliverySockets() == 0);
        }
    }

    @AfterAll
    static void stop() {
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    void tenSessionsStreamToTheEndOverOneSocketThroughADrop() {
        List<String> sessions = createSessions();
        openPage("", sessions);
        assertEquals("websocket", browser.js("return window.tokenpipe.transport();"), "several chats take the socket");
        assertEquals(1, stack.deliverySockets(), "one socket for all " + SESSIONS + " sessions");
        // The first page's own new chat streamed over SSE until the switch; the server drops it at its next heartbeat.
        new FluentWait<>(stack).withTimeout(WAIT).pollingEvery(Duration.ofMillis(50))
                .withMessage(() -> "one stream per session, all on the socket: " + stack.deliveryStreams())
                .until(s -> s.deliveryStreams() == SESSIONS);

        List<String> prompts = submitToEach(sessions);
        // Drop the socket while every session is mid-answer: the page resubscribes each from its own last id.
        // (Both in one condition: on a loaded machine answers may arrive in bursts.)
        browser.await(WAIT).withMessage(() -> "tokens arriving in most chats while answers still stream: " + chats()).until(d -> {
            List<Map<String, Object>> chats = chats();
            long flowing = chats.stream().filter(c -> ((Number) c.get("eventCount")).longValue() >= 3).count();
            boolean streaming = chats.stream().anyMatch(c -> {
                Map<String, Object> a = answer(c.get("sessionId").toString());
                return a != null && "streaming".equals(a.get("state"));
            });
            return flowing >= SESSIONS / 2 && streaming;
        });
        int statesBefore = browser.connectionStates().size();
        stack.endStreams();
        browser.await(WAIT).withMessage(() -> "the page noticed the drop and came back: " + browser.connectionStates()).until(d -> {
            List<String> states = browser.connectionStates();
            List<String> after = states.subList(Math.min(statesBefore, states.size()), states.size());
            int reconnecting = after.indexOf("reconnecting");
            return reconnecting >= 0 && after.subList(reconnecting, after.size()).contains("live");
        });

        for (int i = 0; i < SESSIONS; i++) {
            assertStreamedOnceInFull(sessions.get(i), prompts.get(i));
        }
        assertEquals(1, stack.deliverySockets(), "the page came back on one socket");
        assertEquals(List.of(), browser.consoleProblems(), "no console warnings or errors");
    }

    @Test
    void overSseAloneThePageGetsOnlySixStreams() {
        List<String> sessions = createSessions();
        openPage("?transport=sse", sessions);
        assertEquals("sse", browser.js("return window.tokenpipe.transport();"));
        // Six EventSources are answered; the other four wait for a connection that never frees up.
        browser.await(WAIT).withMessage(() -> "six chats live: " + chats()).until(d ->
                chats().stream().filter(c -> "live".equals(c.get("state"))).count() == CONNECTIONS_PER_ORIGIN);
        submitToEach(sessions);

        List<String> live = new ArrayList<>();
        chats().stream().filter(c -> "live".equals(c.get("state"))).forEach(c -> live.add(c.get("sessionId").toString()));
        browser.await(WAIT).withMessage(() -> "the live chats' answers done: " + chats()).until(d ->
                live.stream().allMatch(s -> "done".equals(answer(s).get("state"))));
        // Every turn was submitted before any of those six finished, so all ten sessions have events by
        // now: a stream open for the other four would have shown some.
        for (Map<String, Object> c : chats()) {
            if (!live.contains(c.get("sessionId").toString())) {
                assertEquals(0L, ((Number) c.get("eventCount")).longValue(), "a chat without a connection: " + c);
                assertTrue(List.of("connecting", "reconnecting").contains(c.get("state")), c.toString());
            }
        }
        assertEquals(CONNECTIONS_PER_ORIGIN, stack.deliveryStreams(), "the server holds six streams of this page, not ten");
    }

    // --- helpers ---

    private static List<String> createSessions() {
        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i++) {
            sessions.add(api.createSession());
        }
        return sessions;
    }

    /** Loads the page with the key (it stores it), then switches it to the sessions and waits for it to be up. */
    private void openPage(String query, List<String> sessions) {
        browser.driver().get(api.base() + "/" + query + "#key=" + TestAuth.ADMIN_KEY);
        browser.await(WAIT).until(d -> browser.js("return document.body.dataset.sessionId || null;") != null);
        browser.driver().get(api.base() + "/" + query + "#" + String.join(",", sessions));
        browser.await(WAIT).withMessage(() -> "the page follows the " + SESSIONS + " sessions: " + chats()).until(d -> {
            List<Map<String, Object>> chats = chats();
            return chats.size() == SESSIONS && chats.stream().map(c -> c.get("sessionId")).toList().equals(sessions)
                    && (query.contains("sse") || chats.stream().allMatch(c -> "live".equals(c.get("state"))));
        });
    }

    /** One turn per session, submitted all at once (so that they stream at the same time). */
    private static List<String> submitToEach(List<String> sessions) {
        List<String> prompts = IntStream.range(0, sessions.size()).mapToObj(i -> "Tell me a story about harbour number " + i).toList();
        IntStream.range(0, sessions.size()).parallel().forEach(i ->
                api.submitPrompt(sessions.get(i), "{\"prompt\":\"" + prompts.get(i) + "\",\"max_tokens\":40}"));
        return prompts;
    }

    private void assertStreamedOnceInFull(String session, String prompt) {
        Map<String, Object> done = browser.await(WAIT).withMessage(() -> "the answer in " + session + " done: " + answer(session))
                .until(d -> {
                    Map<String, Object> a = answer(session);
                    return a != null && "done".equals(a.get("state")) ? a : null;
                });
        JsonNode turn = completedTurn(session);
        assertEquals(turn.get("answer").asText(), done.get("text"), session + ": the page shows the transcript's answer");
        assertEquals(turn.get("events").size(), ((Number) done.get("events")).intValue(), session + ": every event applied once");
        Map<String, Object> chat = chats().stream().filter(c -> session.equals(c.get("sessionId"))).findFirst().orElseThrow();
        assertEquals(0L, ((Number) chat.get("duplicatesIgnored")).longValue(),
                session + ": each subscription resumed after its last id, so nothing came twice: " + chat);
        assertEquals(turn.get("events").size(), ((Number) chat.get("eventCount")).intValue(), chat.toString());
        assertEquals(List.of(prompt), browser.js("return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
                ".chat[data-session-id='" + session + "'] .user-message .bubble-text"), "the prompt sent from elsewhere is shown");
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> chats() {
        return (List<Map<String, Object>>) browser.js("return window.tokenpipe ? window.tokenpipe.chats() : [];");
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> answer(String session) {
        return (Map<String, Object>) browser.js("""
                const all = document.querySelectorAll(".chat[data-session-id='" + arguments[0] + "'] .answer");
                const a = all[all.length - 1];
                if (!a) return null;
                return { state: a.dataset.state, events: Number(a.dataset.events), text: a.querySelector(".answer-text").textContent };
                """, session);
    }

    /** The session's one turn in its transcript, once completed. */
    private static JsonNode completedTurn(String session) {
        return new FluentWait<>(api).withTimeout(WAIT).pollingEvery(Duration.ofMillis(100))
                .withMessage("the turn of " + session + " completed in its transcript")
                .until(client -> {
                    ApiClient.Response response = client.get("/v1/sessions/" + session + "/transcript");
                    if (response.status() != 200 || response.json() == null) {
                        return null;
                    }
                    JsonNode turns = response.json().get("turns");
                    return turns.size() == 1 && "completed".equals(turns.get(0).path("status").asText()) ? turns.get(0) : null;
                });
    }
}
