package io.tokenpipe.common.log;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * No thread dies silently: a thread ended by an exception nobody caught is logged as an error, with
 * its name. The long-lived threads catch their own failures and report them through health; this is
 * for the rest.
 */
public final class ThreadDeaths {

    private static final Logger log = LoggerFactory.getLogger(ThreadDeaths.class);

    private ThreadDeaths() {
    }

    /** Installs the process's default handler; each service's {@code main} calls it first. */
    public static void logUncaught() {
        Thread.setDefaultUncaughtExceptionHandler((thread, e) ->
                log.error("thread {} died of an exception nobody caught", thread.getName(), e));
    }
}
