package io.tokenpipe.standalone.browser;

import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The system's headless Chromium, driven through the system's ChromeDriver: no driver or browser
 * download (Selenium Manager is never asked, since both paths are given), a fresh profile per
 * instance, and a recorder injected into every page before its own scripts run, which keeps the
 * page's console warnings and errors and every change of the connection pill.
 */
final class Browser implements AutoCloseable {

    static final Path CHROMIUM = Path.of(System.getProperty("tokenpipe.chromium", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(System.getProperty("tokenpipe.chromedriver", "/usr/bin/chromedriver"));
    /** Screenshots, page sources and logs for humans to look at. */
    static final Path ARTIFACTS = Path.of("target", "browser");

    /**
     * Runs in every document before the page's scripts. It keeps console.warn/error and uncaught errors
     * in {@code __tp.console}, and each value {@code #connection[data-state]} takes in {@code __tp.conn}
     * (from the mutation records' old values, so even changes within one task are all seen).
     */
    private static final String RECORDER = """
            (() => {
              if (window.__tp) return;
              const rec = window.__tp = { console: [], conn: [] };
              const show = (a) => { try { return typeof a === "string" ? a : JSON.stringify(a); } catch { return String(a); } };
              for (const level of ["error", "warn"]) {
                const original = console[level].bind(console);
                console[level] = (...args) => { rec.console.push(level + ": " + args.map(show).join(" ")); original(...args); };
              }
              addEventListener("error", (e) => rec.console.push("uncaught: " + e.message));
              addEventListener("unhandledrejection", (e) => rec.console.push("unhandled rejection: " + show(e.reason && e.reason.message || e.reason)));
              const push = (v) => { if (rec.conn[rec.conn.length - 1] !== v) rec.conn.push(v); };
              new MutationObserver((records) => {
                const mine = records.filter((m) => m.target.id === "connection");
                mine.forEach((m, i) => push(i + 1 < mine.length ? mine[i + 1].oldValue : m.target.getAttribute("data-state")));
              }).observe(document, { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-state"] });
            })();
            """;

    /**
     * Selenium warns that it has no CDP binding for this Chromium; none is needed (the one CDP command
     * used goes through ChromeDriver). Held here so that the level sticks.
     */
    private static final java.util.logging.Logger CDP_VERSION_FINDER =
            java.util.logging.Logger.getLogger("org.openqa.selenium.devtools.CdpVersionFinder");

    private final ChromeDriverService service;
    private final ChromeDriver driver;
    private final Path profile;

    private Browser(ChromeDriverService service, ChromeDriver driver, Path profile) {
        this.service = service;
        this.driver = driver;
        this.profile = profile;
    }

    /** Null when both programs are there; otherwise why the browser tests cannot run here. */
    static String missing() {
        List<String> absent = new ArrayList<>();
        for (Path p : List.of(CHROMIUM, CHROMEDRIVER)) {
            if (!Files.isExecutable(p)) {
                absent.add(p.toString());
            }
        }
        return absent.isEmpty() ? null : "browser tests skipped: no executable " + String.join(" or ", absent)
                + " (install Debian's chromium and chromium-driver, as .ci/run does)";
    }

    static Browser start() {
        CDP_VERSION_FINDER.setLevel(java.util.logging.Level.SEVERE);
        Path profile;
        try {
            Files.createDirectories(ARTIFACTS);
            profile = Files.createTempDirectory("tokenpipe-chromium-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // Both paths are explicit, so Selenium Manager (which would try the network) is never run.
        System.setProperty(ChromeDriverService.CHROME_DRIVER_EXE_PROPERTY, CHROMEDRIVER.toString());
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .withLogFile(ARTIFACTS.resolve("chromedriver.log").toFile())
                .build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toString());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--no-default-browser-check", "--user-data-dir=" + profile, "--window-size=1280,900");
        ChromeDriver driver;
        try {
            driver = new ChromeDriver(service, options);
        } catch (RuntimeException e) {
            service.stop();
            deleteQuietly(profile);
            throw e;
        }
        driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(30)).scriptTimeout(Duration.ofSeconds(30));
        driver.executeCdpCommand("Page.addScriptToEvaluateOnNewDocument", Map.of("source", RECORDER));
        return new Browser(service, driver, profile);
    }

    ChromeDriver driver() {
        return driver;
    }

    /** An explicit wait that polls often enough to see a token-by-token stream. */
    WebDriverWait await(Duration timeout) {
        return new WebDriverWait(driver, timeout, Duration.ofMillis(20));
    }

    Object js(String script, Object... args) {
        return ((JavascriptExecutor) driver).executeScript(script, args);
    }

    /** The values the connection pill took since the page loaded. */
    @SuppressWarnings("unchecked")
    List<String> connectionStates() {
        Object states = js("return window.__tp ? window.__tp.conn.slice() : [];");
        return states == null ? List.of() : (List<String>) states;
    }

    /** The page's console warnings, errors and uncaught errors since it loaded. */
    @SuppressWarnings("unchecked")
    List<String> consoleProblems() {
        Object lines = js("return window.__tp ? window.__tp.console.slice() : [];");
        return lines == null ? List.of() : (List<String>) lines;
    }

    /** Saves a screenshot, the page's DOM and what the recorder kept, as target/browser/NAME.*. */
    void saveArtifacts(String name) {
        try {
            Files.createDirectories(ARTIFACTS);
            Files.write(ARTIFACTS.resolve(name + ".png"), driver.getScreenshotAs(OutputType.BYTES));
            Files.writeString(ARTIFACTS.resolve(name + ".html"), String.valueOf(
                    js("return document.documentElement.outerHTML;")));
            Files.writeString(ARTIFACTS.resolve(name + ".txt"), "url: " + driver.getCurrentUrl()
                    + "\nconnection states: " + connectionStates()
                    + "\nwindow.tokenpipe: " + js("const t = window.tokenpipe; return t ? JSON.stringify({lastEventId: t.lastEventId(),"
                    + " sessionId: t.sessionId(), eventCount: t.eventCount(), duplicatesIgnored: t.duplicatesIgnored(),"
                    + " connection: t.connection()}) : null;")
                    + "\nconsole:\n" + String.join("\n", consoleProblems()) + "\n");
        } catch (IOException | RuntimeException e) {
            System.err.println("could not save browser artifacts " + name + ": " + e);
        }
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            service.stop();
            deleteQuietly(profile);
        }
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // a leftover temp profile is harmless
        }
    }
}
