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

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The audit page (/audit.html) in a real headless Chromium against the whole stack: it lists the
 * sessions the search finds and replays one at its original pace, showing every token with its Kafka
 * offset, the same tokens as the transcript. Skipped without Chromium and ChromeDriver.
 */
class AuditPageBrowserIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dataDir;
    private static Standalone stack;
    private static ApiClient api;
    private static Browser browser;
    private static String session;
    private static String turn;
    private static String customer;

    @RegisterExtension
    static final AfterTestExecutionCallback ARTIFACTS_ON_FAILURE = context -> {
        if (browser != null && context.getExecutionException().isPresent()) {
            browser.saveArtifacts(context.getRequiredTestMethod().getName() + "-failure");
        }
    };

    private static final String MISSING = Browser.missing();

    @BeforeAll
    static void start() throws Exception {
        if (MISSING != null) {
            return;
        }
        stack = BrowserStack.start("audit-page", dataDir, Map.of());
        api = new ApiClient(stack.port()).as(TestAuth.SUBMIT_KEY);
        customer = "page-" + System.nanoTime();
        session = api.post("/v1/sessions", "{\"metadata\":{\"customer\":\"" + customer + "\"}}",
                Map.of("Content-Type", "application/json")).json().get("session_id").asText();
        turn = api.submitPrompt(session, "{\"prompt\":\"audit me\",\"options\":{\"tokens\":8,\"tokens_per_second\":20}}");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!"completed".equals(status()) && System.nanoTime() < deadline) {
            Thread.sleep(100); // poll until the turn has ended
        }
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
            }
        } finally {
            if (stack != null) {
                stack.close();
            }
        }
    }

    @Test
    void thePageListsSessionsAndReplaysOneWithEachTokensOffset() {
        browser.driver().get(api.base() + "/audit.html#key=" + TestAuth.AUDIT_KEY);
        browser.driver().findElement(By.id("metadata")).sendKeys("customer=" + customer);
        By row = By.cssSelector("#sessions tr[data-session-id='" + session + "']");
        browser.await(WAIT).until(d -> {
            if (d.findElements(row).isEmpty()) {
                d.findElement(By.id("find")).click(); // the index may be a moment behind: search again
                return false;
            }
            return true;
        });
        assertEquals(1, browser.driver().findElements(By.cssSelector("#sessions tbody tr")).size(), "only the customer's session");
        String listed = browser.driver().findElement(row).getText();
        assertTrue(listed.contains("completed (synthetic)") && listed.contains("customer=" + customer), listed);

        browser.driver().findElement(row).findElement(By.cssSelector("button.replay-button")).click();
        browser.await(WAIT).until(d -> "done".equals(browser.js("return window.tokenpipeAudit.state();")));

        List<String> expected = new ArrayList<>();
        for (JsonNode event : transcriptTurn().get("events")) {
            if (event.get("type").asText().equals("token")) {
                expected.add(event.get("kafka").get("offset").asLong() + ":" + event.get("text").asText());
            }
        }
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> shown = (List<Map<String, Object>>) browser.js("return window.tokenpipeAudit.tokens(arguments[0]);", turn);
        assertEquals(expected, shown.stream().map(t -> t.get("id") + ":" + t.get("text")).toList(),
                "every token once, in order, with the offset the transcript gives it");
        assertEquals(8, shown.size());

        WebElement answer = browser.driver().findElement(By.cssSelector(".audit-turn[data-turn-id='" + turn + "'] .audit-answer"));
        assertEquals(String.join("", shown.stream().map(t -> (String) t.get("text")).toList()).strip(), answer.getText().strip());
        assertTrue(browser.driver().findElement(By.cssSelector(".audit-prompt")).getText().contains("user: audit me"));
        assertTrue(browser.driver().findElement(By.id("replay-clock")).getText().contains("originally"),
                "the replay shows the original time of what it shows");

        WebElement provenance = browser.driver().findElement(By.cssSelector(".audit-turn .provenance"));
        assertTrue(provenance.getText().startsWith("worker "), provenance.getText());
        provenance.click();
        List<String> offsets = browser.driver().findElements(By.cssSelector(".audit-turn .token-offsets li")).stream()
                .map(WebElement::getText).toList();
        assertEquals(8, offsets.size());
        assertTrue(offsets.getFirst().contains("offset " + expected.getFirst().split(":")[0]), offsets.toString());
        assertEquals(List.of(), browser.consoleProblems());
    }

    private static JsonNode transcriptTurn() {
        ApiClient.Response transcript = new ApiClient(stack.port()).as(TestAuth.AUDIT_KEY).get("/v1/sessions/" + session + "/transcript");
        assertEquals(200, transcript.status(), transcript.body());
        return transcript.json().get("turns").get(0);
    }

    private static String status() {
        ApiClient.Response s = api.get("/v1/sessions/" + session + "/turns/" + turn);
        return s.status() == 200 ? s.json().path("status").asText() : null;
    }
}
