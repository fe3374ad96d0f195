package io.emqx.extension.driver;

import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Runs jobs in per-key lanes: one key's jobs one at a time, in order; any
 * free worker runs any lane, so a slow job holds only its own key.
 *
 * <p>{@code core} workers serve the lanes. A worker busy with one job for
 * longer than {@link #STUCK_MS} counts as stuck (a handler blocked on I/O or
 * a sleep): while jobs wait and fewer than {@code core} workers are free to
 * take them, a monitor starts another worker, up to {@code max}; an extra
 * worker ends after {@link #IDLE_S} seconds without work. So workers are not
 * multiplied by load alone (which on few cores costs more in thread
 * switches than it gains), only by handlers that block.
 *
 * <p>A lane exists in the table exactly while it has work: it is added with
 * its first job and removed by the worker that finds it empty, both inside
 * the table's atomic {@code compute}, so a key never has two lanes running.
 *
 * <p>{@link #run} may run a job on the calling thread, when its lane is
 * idle: no hand-off, which is most of a call's latency when calls come one
 * at a time. Should that thread stay on one job longer than
 * {@link #STUCK_MS}, the monitor reports it ({@code onStuck}), so that its
 * other duty (reading requests) can move to another thread. Such a thread
 * counts towards {@code max} as a worker does: while {@code max} threads
 * are in jobs, {@code run} queues instead, so that a handler that blocks on
 * every call (a database gone silent) holds a bounded number of threads,
 * not one per call.
 *
 * <p>{@code capacity} bounds the jobs waiting to run; a job leaves the count
 * when it starts.
 *
 * <pre>{@code
 * Lanes lanes = new Lanes(4, 64, 1024, 50_000, stuck -> {});
 * lanes.submit("client-1", () -> System.out.println("first"));
 * lanes.submit("client-1", () -> System.out.println("second, after first"));
 * }</pre>
 */
public final class Lanes {

    /** How long a worker may run one job before it no longer counts as free. */
    public static final long STUCK_MS = 5;
    /** How long an extra worker waits for work before it ends. */
    public static final long IDLE_S = 60;

    private final ConcurrentHashMap<Object, Lane> lanes = new ConcurrentHashMap<>();
    private final LinkedBlockingQueue<Lane> ready = new LinkedBlockingQueue<>();
    private final CopyOnWriteArrayList<Worker> workers = new CopyOnWriteArrayList<>();
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicInteger spinning = new AtomicInteger();
    private final AtomicInteger started = new AtomicInteger();
    /** Workers in a job. */
    private final AtomicInteger busy = new AtomicInteger();
    /** Callers of {@link #run} in a job on their own thread. */
    private final AtomicInteger inlineRuns = new AtomicInteger();
    private final int core;
    private final int max;
    private final int capacity;
    private final long spinNs;
    private final Thread monitor;
    private final Consumer<Thread> onStuck;
    /** The job a caller of {@link #run} runs on its own thread, if any. */
    private final AtomicReference<InlineRun> inline = new AtomicReference<>();
    private volatile boolean stopped;
    /** The monitor sleeps long: nothing has run for a while. */
    private volatile boolean dozing;

    /** Where {@link #run} put a job. */
    public enum Placement {
        /** Run, on the calling thread, before {@code run} returned. */
        RAN_HERE,
        /**
         * Run on the calling thread, which was reported stuck meanwhile
         * ({@code onStuck}): it is to give up its other duties, which
         * another thread has taken over.
         */
        RAN_HERE_STUCK,
        /** Queued behind its lane or for a worker. */
        QUEUED,
        /** Refused: the queue is full, or the lanes were shut down. */
        REFUSED
    }

    /**
     * A job run by a caller of {@link #run}. Whichever comes first, the end
     * of the job or the monitor's verdict "stuck", decides (one atomic
     * state), so a thread is reported stuck only while it is in the job,
     * and always learns that it was.
     */
    private static final class InlineRun {
        static final int RUNNING = 0;
        static final int DONE = 1;
        static final int STUCK = 2;
        final Thread thread = Thread.currentThread();
        final long since = System.nanoTime();
        final AtomicInteger state = new AtomicInteger(RUNNING);
    }

    /**
     * Starts the core workers and the monitor.
     *
     * @param core workers always running (at least 1)
     * @param max the most workers at once (at least {@code core})
     * @param capacity the most jobs waiting to run at once
     * @param spinNs how long an idle worker looks for work before it sleeps
     *     (a thread woken costs tens of microseconds)
     * @param onStuck told (once) of a thread that has run a job of
     *     {@link #run} for longer than {@link #STUCK_MS}; that call of
     *     {@code run} returns {@link Placement#RAN_HERE_STUCK}
     */
    public Lanes(int core, int max, int capacity, long spinNs, Consumer<Thread> onStuck) {
        this.onStuck = onStuck;
        this.spinNs = spinNs;
        this.core = Math.max(1, core);
        this.max = Math.max(this.core, max);
        this.capacity = Math.max(1, capacity);
        for (int i = 0; i < this.core; i++) {
            startWorker(false);
        }
        monitor = new Thread(this::watch, "exhook-lanes-monitor");
        monitor.setDaemon(true);
        monitor.start();
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
        return run(key, job, false) != Placement.REFUSED;
    }

    /**
     * Runs {@code job} on this thread if {@code mayRunHere}, its lane is
     * idle and fewer than {@code max} threads are in jobs (with every job
     * of {@code key} that comes meanwhile); else queues it as
     * {@link #submit} does.
     *
     * @param key the lane
     * @param job the job
     * @param mayRunHere whether this thread may run it
     * @return where the job went
     */
    public Placement run(Object key, Runnable job, boolean mayRunHere) {
        if (stopped) {
            return Placement.REFUSED;
        }
        if (pending.incrementAndGet() > capacity) {
            pending.decrementAndGet();
            return Placement.REFUSED;
        }
        Object k = key == null ? Lanes.class : key;
        Lane[] fresh = {null};
        lanes.compute(k, (unused, lane) -> {
            if (lane == null) {
                lane = new Lane(k);
                fresh[0] = lane;
            }
            lane.jobs.add(job);
            return lane;
        });
        if (fresh[0] == null) {
            return Placement.QUEUED;
        }
        if (!mayRunHere || busy.get() + inlineRuns.get() >= max) {
            ready.add(fresh[0]);
            wakeMonitor();
            return Placement.QUEUED;
        }
        InlineRun mine = new InlineRun();
        inlineRuns.incrementAndGet();
        inline.set(mine);
        wakeMonitor();
        try {
            fresh[0].run();
        } finally {
            inline.compareAndSet(mine, null);
            inlineRuns.decrementAndGet();
        }
        return mine.state.compareAndSet(InlineRun.RUNNING, InlineRun.DONE)
                ? Placement.RAN_HERE : Placement.RAN_HERE_STUCK;
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
     * Refuses new jobs, waits for the queued ones to finish, and stops the workers.
     *
     * @param timeoutMs the longest wait
     * @return true if every job finished in time
     */
    public boolean shutdown(long timeoutMs) {
        stopped = true;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!lanes.isEmpty() && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        boolean finished = lanes.isEmpty();
        monitor.interrupt();
        for (Worker w : workers) {
            w.thread.interrupt();
        }
        return finished;
    }

    private void startWorker(boolean extra) {
        Worker w = new Worker(extra);
        workers.add(w);
        w.thread.start();
    }

    /** A read of a volatile per job: the monitor is woken only when it dozes. */
    private void wakeMonitor() {
        if (dozing) {
            dozing = false;
            LockSupport.unpark(monitor);
        }
    }

    /**
     * Reports stuck runs, and starts workers while jobs wait and too few
     * workers are free to take them. Looks every {@code STUCK_MS / 2} while
     * anything runs; dozes (waking at the next job) after a while without.
     */
    private void watch() {
        long stuckNs = TimeUnit.MILLISECONDS.toNanos(STUCK_MS);
        long tickNs = TimeUnit.MILLISECONDS.toNanos(Math.max(1, STUCK_MS / 2));
        int idleTicks = 0;
        while (!stopped) {
            if (idleTicks > 50) {
                dozing = true;
                if (inline.get() == null && ready.isEmpty() && !busyWorkers()) {
                    LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
                }
                dozing = false;
            } else {
                LockSupport.parkNanos(tickNs);
            }
            if (Thread.interrupted()) {
                return;
            }
            idleTicks = inline.get() == null && ready.isEmpty() && !busyWorkers() ? idleTicks + 1 : 0;
            long now = System.nanoTime();
            InlineRun here = inline.get();
            if (here != null && now - here.since > stuckNs
                    && here.state.compareAndSet(InlineRun.RUNNING, InlineRun.STUCK)) {
                onStuck.accept(here.thread);
            }
            if (ready.isEmpty()) {
                continue;
            }
            int stuck = 0;
            for (Worker w : workers) {
                long since = w.busySince;
                stuck += since != 0 && now - since > stuckNs ? 1 : 0;
            }
            if (workers.size() - stuck < core && workers.size() + inlineRuns.get() < max) {
                startWorker(true);
            }
        }
    }

    private boolean busyWorkers() {
        for (Worker w : workers) {
            if (w.busySince != 0) {
                return true;
            }
        }
        return false;
    }

    private final class Worker implements Runnable {
        final boolean extra;
        final Thread thread;
        volatile long busySince;

        Worker(boolean extra) {
            this.extra = extra;
            thread = new Thread(this, "exhook-worker-" + started.incrementAndGet());
            thread.setDaemon(true);
        }

        @Override
        public void run() {
            try {
                boolean justWorked = false;
                while (!stopped || !ready.isEmpty()) {
                    Lane lane = next(justWorked);
                    if (lane == null) {
                        return;
                    }
                    busySince = System.nanoTime();
                    busy.incrementAndGet();
                    try {
                        lane.run();
                    } finally {
                        busy.decrementAndGet();
                        busySince = 0;
                    }
                    justWorked = true;
                }
            } catch (InterruptedException e) {
                // Shut down.
            } finally {
                workers.remove(this);
            }
        }

        /**
         * The next lane to run, or null for an extra worker idle too long.
         * Fresh from work, one idle worker at a time spins briefly before
         * it sleeps (work often comes in bursts).
         */
        private Lane next(boolean justWorked) throws InterruptedException {
            Lane lane = ready.poll();
            if (lane != null) {
                return lane;
            }
            if (justWorked && spinNs > 0 && spinning.compareAndSet(0, 1)) {
                try {
                    long until = System.nanoTime() + spinNs;
                    while (System.nanoTime() - until < 0) {
                        lane = ready.poll();
                        if (lane != null) {
                            return lane;
                        }
                        Thread.onSpinWait();
                    }
                } finally {
                    spinning.set(0);
                }
            }
            return extra ? ready.poll(IDLE_S, TimeUnit.SECONDS) : ready.take();
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
                try {
                    job.run();
                } catch (Throwable e) {
                    // Jobs report their own failures; whatever escapes must not
                    // end the worker with the lane still in the table.
                    e.printStackTrace();
                }
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
}
