package io.tokenpipe.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.time.Instant;
import java.util.Iterator;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One selector thread driving many {@link SseConnection}s: connects, writes the requests, reads and
 * parses the responses, and calls the listeners, all without blocking. A handful of these hold ten
 * thousand streams on two cores. Everything a connection does happens on its loop's thread; other
 * threads hand work over with {@link #execute}.
 */
final class ClientLoop implements AutoCloseable {

    private final Selector selector;
    private final Thread thread;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocateDirect(64 * 1024);
    private final byte[] scratch = new byte[64 * 1024];
    private volatile boolean running = true;
    /** Bytes read by this loop, for the report (only the loop thread writes it). */
    private volatile long bytesRead;

    ClientLoop(String name) {
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        this.thread = Thread.ofPlatform().name(name).daemon().start(this::run);
    }

    /** Runs the task on this loop's thread, soon. */
    void execute(Runnable task) {
        tasks.add(task);
        selector.wakeup();
    }

    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    Selector selector() {
        return selector;
    }

    long bytesRead() {
        return bytesRead;
    }

    /** Wall-clock time in microseconds since the epoch: the clock the servers' produced_at uses. */
    static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }

    private void run() {
        try {
            while (running) {
                selector.select(100);
                Runnable task;
                while ((task = tasks.poll()) != null) {
                    try {
                        task.run();
                    } catch (RuntimeException e) {
                        System.err.println("bench: client task failed: " + e);
                    }
                }
                Iterator<SelectionKey> keys = selector.selectedKeys().iterator();
                while (keys.hasNext()) {
                    SelectionKey key = keys.next();
                    keys.remove();
                    SseConnection connection = (SseConnection) key.attachment();
                    if (!key.isValid()) {
                        continue;
                    }
                    try {
                        if (key.isConnectable()) {
                            connection.onConnectable();
                        } else if (key.isWritable()) {
                            connection.onWritable();
                        } else if (key.isReadable()) {
                            read(connection);
                        }
                    } catch (IOException | RuntimeException e) {
                        connection.fail(e);
                    }
                }
            }
        } catch (IOException | ClosedSelectorException e) {
            if (running) {
                System.err.println("bench: client loop failed: " + e);
            }
        }
    }

    private void read(SseConnection connection) throws IOException {
        long total = 0;
        while (true) {
            readBuffer.clear();
            int n = connection.channel().read(readBuffer);
            if (n < 0) {
                connection.onEndOfInput();
                break;
            }
            if (n == 0) {
                break;
            }
            total += n;
            // One timestamp per read: every event in these bytes arrived now.
            long receivedMicros = nowMicros();
            readBuffer.flip();
            readBuffer.get(scratch, 0, n);
            connection.onBytes(scratch, n, receivedMicros);
            if (!connection.isOpen()) {
                break;
            }
        }
        bytesRead += total;
    }

    @Override
    public void close() {
        running = false;
        selector.wakeup();
        try {
            thread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (SelectionKey key : selector.keys()) {
            try {
                key.channel().close();
            } catch (IOException e) {
                // closing anyway
            }
        }
        try {
            selector.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
