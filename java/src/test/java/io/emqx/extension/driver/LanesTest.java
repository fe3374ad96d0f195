package io.emqx.extension.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LanesTest {

    @Test
    void oneKeysJobsRunInOrder() throws Exception {
        Lanes lanes = new Lanes(4, 16, 100_000, 50_000, stuck -> {});
        List<Integer> seen = Collections.synchronizedList(new ArrayList<>());
        List<Integer> other = Collections.synchronizedList(new ArrayList<>());
        int n = 20_000;
        CountDownLatch done = new CountDownLatch(2 * n);
        for (int i = 0; i < n; i++) {
            int v = i;
            assertTrue(lanes.submit("a", () -> {
                seen.add(v);
                done.countDown();
            }));
            assertTrue(lanes.submit("b", () -> {
                other.add(v);
                done.countDown();
            }));
        }
        assertTrue(done.await(30, TimeUnit.SECONDS));
        for (int i = 0; i < n; i++) {
            assertEquals(i, seen.get(i));
            assertEquals(i, other.get(i));
        }
        assertTrue(lanes.shutdown(5000));
    }

    @Test
    void aSlowKeyDoesNotHoldAnotherEvenWithOneCoreWorker() throws Exception {
        Lanes lanes = new Lanes(1, 8, 100, 50_000, stuck -> {});
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch fast = new CountDownLatch(1);
        lanes.submit("slow", () -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        lanes.submit("fast", fast::countDown);
        assertTrue(fast.await(5, TimeUnit.SECONDS), "the fast client waited for the slow one");
        release.countDown();
        assertTrue(lanes.shutdown(5000));
    }

    @Test
    void aFullQueueRefusesAndShutdownFinishesQueuedWork() throws Exception {
        Lanes lanes = new Lanes(1, 1, 2, 50_000, stuck -> {});
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<String> ran = Collections.synchronizedList(new ArrayList<>());
        assertTrue(lanes.submit("k", () -> {
            started.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ran.add("first");
        }));
        assertTrue(started.await(5, TimeUnit.SECONDS));
        // The one worker is busy: these wait, and the capacity is 2.
        assertTrue(lanes.submit("k", () -> ran.add("second")));
        assertTrue(lanes.submit(null, () -> ran.add("third")));
        assertEquals(2, lanes.pending());
        assertFalse(lanes.submit("other", () -> ran.add("refused")));
        release.countDown();
        assertTrue(lanes.shutdown(5000));
        assertFalse(lanes.submit("k", () -> ran.add("after shutdown")));
        assertEquals(List.of("first", "second"), filtered(ran));
        assertTrue(ran.contains("third"));
        assertEquals(0, lanes.pending());
    }

    @Test
    void anIdleLaneRunsOnTheCallersThreadAndABusyOneQueues() throws Exception {
        Lanes lanes = new Lanes(1, 4, 100, 50_000, stuck -> {});
        Thread me = Thread.currentThread();
        Thread[] ranOn = {null};
        assertEquals(Lanes.Placement.RAN_HERE, lanes.run("k", () -> ranOn[0] = Thread.currentThread(), true));
        assertEquals(me, ranOn[0]);
        CountDownLatch queued = new CountDownLatch(1);
        assertEquals(Lanes.Placement.QUEUED, lanes.run("k", () -> {
            ranOn[0] = Thread.currentThread();
            queued.countDown();
        }, false));
        assertTrue(queued.await(5, TimeUnit.SECONDS));
        assertFalse(me == ranOn[0]);
        assertTrue(lanes.shutdown(5000));
    }

    @Test
    void threadsBlockedInJobsOfTheirOwnCountTowardsMax() throws Exception {
        // A handler that blocks every call: each reader that ran one stays
        // in it, and reading moves to a new thread. Without a bound, one
        // thread per call.
        Lanes lanes = new Lanes(1, 2, 100, 50_000, stuck -> {});
        CountDownLatch inJobs = new CountDownLatch(2);
        CountDownLatch release = new CountDownLatch(1);
        List<Thread> readers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            String key = "blocked-" + i;
            Thread t = new Thread(() -> lanes.run(key, () -> {
                inJobs.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, true));
            t.start();
            readers.add(t);
        }
        assertTrue(inJobs.await(5, TimeUnit.SECONDS));
        // max threads are in jobs: the next one goes to the (idle) worker.
        Thread me = Thread.currentThread();
        Thread[] ranOn = {null};
        CountDownLatch ran = new CountDownLatch(1);
        assertEquals(Lanes.Placement.QUEUED, lanes.run("other", () -> {
            ranOn[0] = Thread.currentThread();
            ran.countDown();
        }, true));
        assertTrue(ran.await(5, TimeUnit.SECONDS));
        assertFalse(me == ranOn[0]);
        release.countDown();
        for (Thread t : readers) {
            t.join(5000);
        }
        // Room again: an idle lane runs here.
        assertEquals(Lanes.Placement.RAN_HERE, lanes.run("other", () -> { }, true));
        assertTrue(lanes.shutdown(5000));
    }

    @Test
    void aThreadStuckInAJobOfItsOwnIsReportedOnceAndItsLaneGetsLaterJobs() throws Exception {
        List<Thread> reported = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch stuck = new CountDownLatch(1);
        Lanes lanes = new Lanes(1, 4, 100, 50_000, t -> {
            reported.add(t);
            stuck.countDown();
        });
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch release = new CountDownLatch(1);
        Thread caller = new Thread(() -> lanes.run("slow", () -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            order.add("first");
        }, true));
        caller.start();
        assertTrue(stuck.await(5, TimeUnit.SECONDS));
        assertEquals(List.of(caller), reported);
        // Another thread takes over: the stuck lane's next job waits for the
        // first, and other keys run meanwhile.
        CountDownLatch other = new CountDownLatch(1);
        assertEquals(Lanes.Placement.QUEUED, lanes.run("slow", () -> order.add("second"), true));
        assertEquals(Lanes.Placement.RAN_HERE, lanes.run("other", other::countDown, true));
        assertEquals(0, other.getCount());
        release.countDown();
        caller.join(5000);
        assertEquals(List.of("first", "second"), order);
        assertEquals(1, reported.size());
        assertTrue(lanes.shutdown(5000));
    }

    @Test
    void aThreadIsReportedStuckExactlyWhenItsRunSaysSo() throws Exception {
        // Jobs that end right around the stuck threshold: the report and the
        // placement must agree every time (a report after the job ended
        // would have two threads reading requests at once).
        java.util.concurrent.atomic.AtomicInteger reports = new java.util.concurrent.atomic.AtomicInteger();
        Lanes lanes = new Lanes(1, 4, 100, 0, stuck -> reports.incrementAndGet());
        int stuckPlacements = 0;
        for (int i = 0; i < 200; i++) {
            long sleepNs = TimeUnit.MILLISECONDS.toNanos(Lanes.STUCK_MS) + (i % 7 - 3) * 700_000L;
            Lanes.Placement p = lanes.run("k", () -> java.util.concurrent.locks.LockSupport.parkNanos(sleepNs), true);
            stuckPlacements += p == Lanes.Placement.RAN_HERE_STUCK ? 1 : 0;
        }
        Thread.sleep(3 * Lanes.STUCK_MS);
        assertEquals(stuckPlacements, reports.get());
        assertTrue(stuckPlacements > 0 && stuckPlacements < 200, "both outcomes seen: " + stuckPlacements);
        assertTrue(lanes.shutdown(5000));
    }

    @Test
    void aStuckRunIsReportedAfterALongIdleSpellToo() throws Exception {
        Lanes lanes = new Lanes(1, 4, 100, 0, stuck -> {});
        // Long enough for the monitor to doze off.
        Thread.sleep(400);
        Lanes.Placement p = lanes.run("k", () -> java.util.concurrent.locks.LockSupport.parkNanos(
                TimeUnit.MILLISECONDS.toNanos(10 * Lanes.STUCK_MS)), true);
        assertEquals(Lanes.Placement.RAN_HERE_STUCK, p);
        assertTrue(lanes.shutdown(5000));
    }

    private static List<String> filtered(List<String> ran) {
        List<String> out = new ArrayList<>(ran);
        out.remove("third");
        return out;
    }
}
