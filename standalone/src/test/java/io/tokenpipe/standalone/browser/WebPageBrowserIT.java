package io.tokenpipe.standalone.browser;

import com.fasterxml.jackson.databind.JsonNode;
import io.tokenpipe.standalone.Standalone;
import io.tokenpipe.testing.ApiClient;
import io.tokenpipe.testing.TestAuth;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.FluentWait;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The web page at / in a real headless Chromium, against the whole stack over real sockets: a typed
 * prompt streams in token by token, a dropped connection is resumed by the page itself without gap or
 * doubled text, and reloading a session replays its history. Skipped when Chromium or ChromeDriver is
 * not installed; on failure a screenshot, the page's DOM and its console are left in target/browser/.
 */
class WebPageBrowserIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    /** The synthetic model at 20 tokens a second: its 30 to 90 tokens take 1.5 to 4.5 s, slow enough to watch. */
    private static final Map<String, String> PACING = Map.of(
            "SYNTHETIC_TTFT_MS", "200",
            "SYNTHETIC_TOKENS_PER_SECOND", "20");

    private static final List<String> CANDIDATES = List.of("harbors", "lighthouses", "rivers", "old maps",
            "winter gardens", "clock towers", "paper boats", "mountain villages", "copper kettles", "night trains",
            "quiet libraries", "stone bridges", "market days", "silver lanterns", "island ferries", "wooden ladders",
            "distant valleys", "golden meadows", "curious sailors", "broken compasses", "empty stations",
            "crowded kitchens", "patient farmers", "endless roads", "hidden doors", "steady rain", "narrow paths",
            "ancient forests", "familiar songs", "sudden storms").stream().map(s -> "Tell me a story about " + s).toList();

    @TempDir
    static Path dataDir;

    private static Standalone stack;
    private static ApiClient api;
    private static Browser browser;

    @RegisterExtension
    static final AfterTestExecutionCallback ARTIFACTS_ON_FAILURE = context -> {
        if (browser != null && context.getExecutionException().isPresent()) {
            browser.saveArtifacts(context.getRequiredTestMethod().getName() + "-failure");
        }
    };

    /** Why the tests cannot run here (no Chromium or no ChromeDriver), or null. */
    private static final String MISSING = Browser.missing();

    @BeforeAll
    static void start() {
        if (MISSING != null) {
            return; // each test reports itself skipped, with the reason
        }
        stack = BrowserStack.start("browser", dataDir, PACING);
        api = new ApiClient(stack.port());
        browser = Browser.start();
    }

    @BeforeEach
    void needsTheBrowser() {
        assumeTrue(MISSING == null, MISSING);
    }

    @AfterAll
    static void stop() {
        try {
            if (browser != null) {
                browser.close();
                awaitNoOpenStreams();
            }
        } finally {
            if (stack != null) {
                stack.close();
            }
        }
    }

    @Test
    void aTypedPromptStreamsIntoThePage() {
        String prompt = BrowserStack.promptWithLength(CANDIDATES, 60, 84);
        String session = openNewChat();

        long sent = System.nanoTime();
        send(prompt);
        List<AnswerView> seen = watchUntilSettled();
        long took = (System.nanoTime() - sent) / 1_000_000;
        AnswerView done = seen.getLast();

        assertEquals("done", done.state(), "the answer finished: " + done);
        List<Integer> streamingLengths = seen.stream().filter(AnswerView::streaming)
                .map(a -> a.text().length()).filter(n -> n > 0).distinct().toList();
        assertTrue(streamingLengths.size() >= 3,
                "the text grew token by token while streaming, not all at once; lengths seen: " + streamingLengths);
        for (int i = 1; i < seen.size(); i++) {
            assertTrue(seen.get(i).text().startsWith(seen.get(i - 1).text()),
                    "text is only ever appended to: " + seen.get(i - 1).text() + " -> " + seen.get(i).text());
        }

        JsonNode turn = completedTurn(session, done.turnId());
        assertEquals(turn.get("answer").asText(), done.text(), "the page shows the transcript's answer");
        assertEquals(String.join("", BrowserStack.syntheticDeltas(prompt)), done.text(), "and it is the model's text");
        assertEquals(turn.get("events").size(), done.events(), "every event of the turn was applied once");
        assertEquals(List.of(prompt), texts(".user-message .bubble-text"), "the user bubble shows the prompt");
        String badge = browser.driver().findElement(By.cssSelector(".answer .badge-synthetic")).getText();
        assertTrue(badge.contains("synthetic") && badge.contains("not an LLM"), "synthetic badge: " + badge);
        assertEquals(0L, pageCounter("duplicatesIgnored"));
        assertEquals(List.of(), browser.consoleProblems(), "no console warnings or errors");

        System.out.printf("typed prompt: %d events in %d ms, %d snapshots, lengths while streaming %s%n",
                done.events(), took, seen.size(), streamingLengths);
        browser.saveArtifacts("aTypedPromptStreamsIntoThePage");
    }

    @Test
    void thePageResumesByItselfAfterTheConnectionDrops() {
        String prompt = BrowserStack.promptWithLength(CANDIDATES, 85, 90);
        String session = openNewChat();

        send(prompt);
        int drops = 0;
        int minEvents = 5;
        while (drops < 2) {
            int need = minEvents;
            // Only drop while tokens are flowing on a connection that is up (and so registered server-side).
            AnswerView before = browser.await(WAIT).withMessage(() -> "tokens arriving on a live connection").until(d -> {
                AnswerView a = answer();
                return a != null && (!a.streaming() || (a.events() >= need && "live".equals(connection()))) ? a : null;
            });
            if (!before.streaming()) {
                break; // the turn outran us: one drop still proves the point, checked below
            }
            int statesBefore = browser.connectionStates().size();
            stack.endStreams();
            drops++;
            browser.await(WAIT).withMessage(() -> "the page noticed the drop and came back: "
                    + browser.connectionStates()).until(d -> {
                List<String> states = browser.connectionStates();
                List<String> after = states.subList(Math.min(statesBefore, states.size()), states.size());
                int reconnecting = after.indexOf("reconnecting");
                return reconnecting >= 0 && after.subList(reconnecting, after.size()).contains("live");
            });
            // The next drop waits for tokens sent on the new connection (which is then registered server-side).
            minEvents = (int) answer().events() + 2;
        }
        AnswerView done = watchUntilSettled().getLast();

        assertTrue(drops >= 1, "the connection was dropped mid-turn at least once");
        assertEquals("done", done.state(), "the answer finished: " + done);
        JsonNode turn = completedTurn(session, done.turnId());
        String expected = turn.get("answer").asText();
        assertEquals(expected, done.text(), "after " + drops + " drop(s) the text has no gap and nothing doubled");
        assertEquals(String.join("", BrowserStack.syntheticDeltas(prompt)), done.text());
        int events = turn.get("events").size();
        assertEquals(events, pageCounter("eventCount"), "the page applied each of the turn's events once");
        assertEquals(events, done.events());
        assertEquals(0L, pageCounter("duplicatesIgnored"),
                "the server resumed after the page's Last-Event-ID: nothing was sent twice");
        assertEquals(turn.get("events").get(events - 1).get("kafka").get("offset").asLong(), pageCounter("lastEventId"));
        List<String> states = browser.connectionStates();
        assertTrue(states.stream().filter("reconnecting"::equals).count() >= drops + 1L,
                "connecting, then reconnecting once per drop: " + states);
        assertEquals("live", connection(), "live again at the end");
        System.out.printf("dropped %d time(s); %d events, connection states %s%n", drops, events, states);
        assertEquals(List.of(), browser.consoleProblems(), "no console warnings or errors");
    }

    @Test
    void reloadingTheSessionReplaysItsHistory() {
        String prompt = BrowserStack.promptWithLength(CANDIDATES, 30, 50);
        String session = openNewChat();
        send(prompt);
        AnswerView live = watchUntilSettled().getLast();
        assertEquals("done", live.state(), "the answer finished: " + live);
        JsonNode turn = completedTurn(session, live.turnId());
        assertEquals(turn.get("answer").asText(), live.text());
        String url = browser.driver().getCurrentUrl();
        assertTrue(url.endsWith("#" + session), "the session is in the address: " + url);

        browser.driver().navigate().refresh();
        assertEquals(session, awaitSession(), "the reloaded page opened the same session");
        AnswerView replayed = browser.await(WAIT).withMessage(() -> "the replayed answer").until(d -> {
            AnswerView a = answer();
            return a != null && a.state().equals("done") ? a : null;
        });

        assertEquals(url, browser.driver().getCurrentUrl());
        assertEquals(live.turnId(), replayed.turnId());
        assertEquals(live.text(), replayed.text(), "the replay renders the same text");
        assertEquals(live.events(), replayed.events());
        assertEquals(List.of(prompt), texts(".user-message .bubble-text"), "the prompt is shown again");
        assertEquals(1, browser.driver().findElements(By.cssSelector(".answer")).size(), "one turn, shown once");
        assertEquals(turn.get("events").size(), pageCounter("eventCount"));
        assertNotNull(browser.driver().findElement(By.cssSelector(".answer .badge-synthetic")));
        assertEquals(List.of(), browser.consoleProblems(), "no console warnings or errors");
    }

    @Test
    void theStopButtonCancelsTheRunningAnswerAndKeepsItsText() {
        String prompt = BrowserStack.promptWithLength(CANDIDATES, 85, 90); // over 4 s at 20 tokens a second
        String session = openNewChat();
        send(prompt);
        browser.await(WAIT).withMessage(() -> "tokens streaming and a Stop button; answer: " + answer()).until(d -> {
            AnswerView a = answer();
            return a != null && a.streaming() && a.events() >= 5
                    && !d.findElements(By.cssSelector("#messages .answer:last-child .answer-meta button.stop")).isEmpty();
        });

        browser.driver().findElement(By.cssSelector("#messages .answer:last-child .answer-meta button.stop")).click();
        AnswerView done = watchUntilSettled().getLast();

        assertEquals("done", done.state(), "the answer ended: " + done);
        assertEquals(List.of("cancelled"), texts("#messages .answer:last-child .answer-meta .finish"),
                "the page says it was cancelled");
        assertTrue(browser.driver().findElements(By.cssSelector("#messages .answer:last-child button.stop")).isEmpty(),
                "no Stop button on an ended answer");
        JsonNode turn = completedTurn(session, done.turnId());
        assertEquals("cancelled", turn.get("finish_reason").asText(), turn.toString());
        List<String> workers = new ArrayList<>();
        turn.get("workers").forEach(w -> workers.add(w.asText()));
        assertFalse(workers.isEmpty(), "the transcript names the worker: " + turn);
        assertEquals(List.of("worker " + String.join(" → ", workers)),
                texts("#messages .answer:last-child .answer-meta .provenance"),
                "the page shows who wrote the answer, as the transcript records it");
        String full = String.join("", BrowserStack.syntheticDeltas(prompt));
        assertEquals(turn.get("answer").asText(), done.text(), "the text streamed before the stop stays");
        assertTrue(full.startsWith(done.text()) && done.text().length() < full.length(),
                "stopped part-way: " + done.text().length() + " of " + full.length() + " characters");
        assertEquals(List.of(), browser.consoleProblems(), "no console warnings or errors");
    }

    // --- helpers ---

    /**
     * With the browser gone, waits until the server has noticed (at its next heartbeat), so that the
     * stack is closed with no stream open: closing it with one open sets off a storm of Javalin
     * exceptions (stack traces until the JVM exits). Quitting the browser is what frees the stream:
     * navigating away does not, since Chromium keeps the page, EventSource and all, in its
     * back/forward cache.
     */
    private static void awaitNoOpenStreams() {
        try {
            new FluentWait<>(stack).withTimeout(Duration.ofSeconds(10)).pollingEvery(Duration.ofMillis(50))
                    .until(s -> s.deliveryStreams() == 0);
        } catch (RuntimeException e) {
            System.err.println("streams still open at the end: " + e);
        }
    }

    /**
     * Opens / with an API key in the fragment, as ./tokenpipe run prints it (a new chat), waits until
     * its stream is live, and returns the session id.
     */
    private static String openNewChat() {
        browser.driver().get(api.base() + "/#key=" + TestAuth.ADMIN_KEY);
        return awaitSession();
    }

    private static String awaitSession() {
        return browser.await(WAIT).withMessage(() -> "a session and a live connection; pill: " + connection()).until(d -> {
            Object id = browser.js("return document.body.dataset.sessionId || null;");
            return id != null && "live".equals(connection()) ? id.toString() : null;
        });
    }

    private static void send(String prompt) {
        WebElement box = browser.driver().findElement(By.id("prompt"));
        box.sendKeys(prompt);
        browser.driver().findElement(By.id("send")).click();
    }

    /** Snapshots of the newest answer, every few milliseconds, from the first one until it is done or failed. */
    private static List<AnswerView> watchUntilSettled() {
        List<AnswerView> seen = new ArrayList<>();
        browser.await(WAIT).withMessage(() -> "the answer to finish; last seen: "
                + (seen.isEmpty() ? null : seen.getLast())).until(d -> {
            AnswerView a = answer();
            if (a == null) {
                return false;
            }
            if (seen.isEmpty() || !seen.getLast().equals(a)) {
                seen.add(a);
            }
            return !a.streaming();
        });
        return seen;
    }

    /** The newest answer bubble, read in one script so that its state and text belong together. */
    private static AnswerView answer() {
        @SuppressWarnings("unchecked")
        Map<String, Object> a = (Map<String, Object>) browser.js("""
                const all = document.querySelectorAll("#messages .answer");
                const a = all[all.length - 1];
                if (!a) return null;
                return { state: a.dataset.state, turnId: a.dataset.turnId || null, events: Number(a.dataset.events),
                         text: a.querySelector(".answer-text").textContent };
                """);
        return a == null ? null : new AnswerView((String) a.get("state"), (String) a.get("turnId"),
                ((Number) a.get("events")).longValue(), (String) a.get("text"));
    }

    private static String connection() {
        return (String) browser.js("const c = document.getElementById('connection'); return c ? c.dataset.state : null;");
    }

    private static long pageCounter(String name) {
        Object value = browser.js("const v = window.tokenpipe[arguments[0]](); return v == null ? -1 : v;", name);
        return ((Number) value).longValue();
    }

    private static List<String> texts(String css) {
        @SuppressWarnings("unchecked")
        List<String> texts = (List<String>) browser.js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);", css);
        return texts;
    }

    /** The turn in the session's transcript (with its events), once the transcript has it completed. */
    private static JsonNode completedTurn(String session, String turnId) {
        assertNotNull(turnId, "the answer is bound to a turn");
        return new FluentWait<>(api).withTimeout(WAIT).pollingEvery(Duration.ofMillis(100))
                .withMessage("turn " + turnId + " completed in the transcript of " + session)
                .until(client -> {
                    ApiClient.Response response = client.get("/v1/sessions/" + session + "/transcript");
                    if (response.status() != 200 || response.json() == null) {
                        return null;
                    }
                    for (JsonNode turn : response.json().get("turns")) {
                        if (turnId.equals(turn.path("turn_id").asText()) && "completed".equals(turn.path("status").asText())) {
                            return turn;
                        }
                    }
                    return null;
                });
    }

    /** What one answer bubble shows. */
    private record AnswerView(String state, String turnId, long events, String text) {
        boolean streaming() {
            return "streaming".equals(state);
        }
    }
}
