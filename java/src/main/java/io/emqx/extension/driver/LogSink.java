package io.emqx.extension.driver;

import io.emqx.extension.etf.Term;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The handler's log, sent to the broker as {@code {log, Level, Text}} or
 * {@code {log, Level, Text, #{hook => ..., clientid => ...}}} frames through a
 * bounded queue: a handler that logs faster than the broker reads never
 * blocks; what does not fit is dropped and counted in the next entry.
 *
 * <p>{@link #stream} makes the {@code PrintStream}s that replace
 * {@code System.out} and {@code System.err}: one log entry per line, lines
 * of concurrent threads kept apart.
 */
public final class LogSink {

    private static final Term LOG = Term.atom("log");
    private static final Term HOOK = Term.atom("hook");
    private static final Term CLIENTID = Term.atom("clientid");
    /** Longest line kept in one entry; a longer one is split. */
    private static final int MAX_LINE = 64 * 1024;
    private static final int QUEUE = 10_000;
    /** Exception reports logged in full per second; the rest are counted. */
    private static final int REPORTS_PER_SECOND = 10;

    /** The hook and client of the call the current thread runs, for the entries' metadata. */
    private static final ThreadLocal<String[]> SCOPE = new ThreadLocal<>();

    private final FrameOutput out;
    private final BlockingQueue<Term> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong dropped = new AtomicLong();
    /** Entries queued or being written. */
    private final AtomicInteger unsent = new AtomicInteger();
    private final Thread writer;
    private long windowStart;
    private int reportsInWindow;
    private long suppressed;

    /**
     * Starts the writer thread.
     *
     * @param out where frames go
     */
    public LogSink(FrameOutput out) {
        this.out = out;
        writer = new Thread(this::drain, "exhook-log");
        writer.setDaemon(true);
        writer.start();
    }

    /**
     * Runs {@code body} with log entries tagged with {@code hook} and {@code clientid}.
     *
     * @param hook the hook's broker name
     * @param clientid the client, or null
     * @param body what to run
     */
    public static void inScope(String hook, String clientid, Runnable body) {
        SCOPE.set(new String[] {hook, clientid});
        try {
            body.run();
        } finally {
            SCOPE.remove();
        }
    }

    /**
     * Queues one entry; never blocks.
     *
     * @param level debug, info, notice, warning or error
     * @param text the text
     */
    public void log(String level, String text) {
        Term entry;
        String[] scope = SCOPE.get();
        if (scope == null) {
            entry = Term.tuple(LOG, Term.atom(level), Term.binary(text));
        } else {
            Map<Term, Term> meta = new LinkedHashMap<>();
            meta.put(HOOK, Term.binary(scope[0]));
            if (scope[1] != null) {
                meta.put(CLIENTID, Term.binary(scope[1]));
            }
            entry = Term.tuple(LOG, Term.atom(level), Term.binary(text), Term.map(meta));
        }
        unsent.incrementAndGet();
        if (!queue.offer(entry)) {
            unsent.decrementAndGet();
            dropped.incrementAndGet();
        }
    }

    /**
     * Logs {@code error} with its stack trace at error level, at most a few
     * times a second (the others are counted and the count is reported).
     *
     * @param what what failed
     * @param error the exception
     */
    public void report(String what, Throwable error) {
        long skippedBefore;
        synchronized (this) {
            long now = System.nanoTime();
            if (now - windowStart > TimeUnit.SECONDS.toNanos(1)) {
                windowStart = now;
                reportsInWindow = 0;
            }
            if (++reportsInWindow > REPORTS_PER_SECOND) {
                suppressed++;
                return;
            }
            skippedBefore = suppressed;
            suppressed = 0;
        }
        StringWriter trace = new StringWriter();
        error.printStackTrace(new PrintWriter(trace));
        String note = skippedBefore == 0 ? "" : " (" + skippedBefore + " earlier reports suppressed)";
        log("error", what + note + ": " + trace.toString().stripTrailing());
    }

    /**
     * A stream whose every line becomes one entry at {@code level}.
     *
     * @param level the level
     * @return the stream
     */
    public PrintStream stream(String level) {
        return new PrintStream(new Lines(level), true, StandardCharsets.UTF_8);
    }

    /**
     * Waits until what was logged so far is written, at most {@code timeoutMs}.
     *
     * @param timeoutMs the longest wait
     */
    public void flush(long timeoutMs) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (unsent.get() > 0 && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void drain() {
        while (true) {
            try {
                Term entry = queue.take();
                long lost = dropped.getAndSet(0);
                if (lost > 0) {
                    out.send(Term.tuple(LOG, Term.atom("warning"),
                            Term.binary(lost + " log lines dropped: the handler logged faster than the broker read")));
                }
                out.send(entry);
                unsent.decrementAndGet();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Collects bytes per thread and logs each complete line. */
    private final class Lines extends OutputStream {
        private final String level;
        private final ThreadLocal<ByteArrayOutputStream> line =
                ThreadLocal.withInitial(() -> new ByteArrayOutputStream(128));

        Lines(String level) {
            this.level = level;
        }

        @Override
        public void write(int b) {
            ByteArrayOutputStream buf = line.get();
            if (b == '\n') {
                emit(buf);
            } else {
                buf.write(b);
                if (buf.size() >= MAX_LINE) {
                    emit(buf);
                }
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            for (int i = off; i < off + len; i++) {
                write(b[i]);
            }
        }

        private void emit(ByteArrayOutputStream buf) {
            String text = buf.toString(StandardCharsets.UTF_8);
            buf.reset();
            if (text.endsWith("\r")) {
                text = text.substring(0, text.length() - 1);
            }
            log(level, text);
        }
    }
}
