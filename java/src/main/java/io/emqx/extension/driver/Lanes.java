package io.emqx.extension.driver;

import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs jobs in per-key lanes: one key's jobs one at a time, in order; any
 * free worker runs any lane, so a slow job holds only its own key. Workers
 * are elastic: {@code core} always there, more started (up to {@code max})
 * while all are busy, the extra ones ending after a minute idle.
 *
 * <p>A lane exists in the table exactly while it has work: it is added with
 * its first job and removed by the worker that finds it empty, both inside
 * the table's atomic {@code compute}, so a key never has two lanes running.
 *
 * <p>{@code capacity} bounds the jobs waiting to run (behind a busy lane,
 * or for a worker when {@code max} are busy); running jobs are bounded by
 * {@code max}.
 *
 * <pre>{@code
 * Lanes lanes = new Lanes(4, 64, 1024);
 * lanes.submit("client-1", () -> System.out.println("first"));
 * lanes.submit("client-1", () -> System.out.println("second, after first"));
 * }</pre>
 */
public final class Lanes {

    private final ConcurrentHashMap<Object, Lane> lanes = new ConcurrentHashMap<>();
    private final ThreadPoolExecutor workers;
    private final AtomicInteger pending = new AtomicInteger();
    private final int capacity;

    /**
     * Starts the core workers.
     *
     * @param core workers always running (at least 1)
     * @param max the most workers at once (at least {@code core})
     * @param capacity the most jobs waiting to run at once
     */
    public Lanes(int core, int max, int capacity) {
        core = Math.max(1, core);
        this.capacity = Math.max(1, capacity);
        Handoff queue = new Handoff();
        workers = new ThreadPoolExecutor(core, Math.max(core, max), 60, TimeUnit.SECONDS, queue,
                new Named(), (job, pool) -> queue.put(job));
        workers.prestartAllCoreThreads();
    }

    /**
     * Queues {@code job} behind the jobs of {@code key} (null is a key too).
     *
     * @param key the lane
     * @param job the job
     * @return false, and nothing queued, when {@code capacity} jobs are
     *     already waiting, or the lanes were shut down
     */
    public boolean submit(Object key, Runnable job) {
        if (workers.isShutdown()) {
            return false;
        }
        if (pending.incrementAndGet() > capacity) {
            pending.decrementAndGet();
            return false;
        }
        Object k = key == null ? Lanes.class : key;
        Lane[] started = {null};
        lanes.compute(k, (unused, lane) -> {
            if (lane == null) {
                lane = new Lane(k);
                started[0] = lane;
            }
            lane.jobs.add(job);
            return lane;
        });
        if (started[0] != null) {
            workers.execute(started[0]);
        }
        return true;
    }

    /**
     * Jobs waiting to run.
     *
     * @return the count
     */
    public int pending() {
        return pending.get();
    }

    /**
     * Refuses new jobs and waits for the queued ones to finish.
     *
     * @param timeoutMs the longest wait
     * @return true if every job finished in time
     */
    public boolean shutdown(long timeoutMs) {
        workers.shutdown();
        try {
            return workers.awaitTermination(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private final class Lane implements Runnable {
        final Object key;
        final ArrayDeque<Runnable> jobs = new ArrayDeque<>(4);

        Lane(Object key) {
            this.key = key;
        }

        @Override
        public void run() {
            for (Runnable job = next(); job != null; job = next()) {
                pending.decrementAndGet();
                job.run();
            }
        }

        /** The lane's next job; an empty lane leaves the table. */
        private Runnable next() {
            Runnable[] job = {null};
            lanes.compute(key, (unused, lane) -> {
                job[0] = jobs.poll();
                return job[0] == null ? null : lane;
            });
            return job[0];
        }
    }

    /**
     * A queue that accepts a job only when a worker is waiting for one, so
     * that the pool starts another worker instead of queueing behind busy
     * ones; at {@code max} workers, jobs are queued (see the constructor).
     */
    private static final class Handoff extends LinkedTransferQueue<Runnable> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean offer(Runnable job) {
            return tryTransfer(job);
        }
    }

    private static final class Named implements ThreadFactory {
        private final AtomicInteger n = new AtomicInteger();

        @Override
        public Thread newThread(Runnable r) {
            Thread t = new Thread(r, "exhook-worker-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        }
    }
}
