//! Native worker threads fed by bounded queues, one queue per worker.
//!
//! A job goes to the worker its shard key picks, so jobs with the same key
//! (the same clientid) run one at a time, in the order they were queued.
//! A full queue refuses the job at once: the caller never blocks.
//!
//! An idle worker keeps polling its queue for a short while (yielding the
//! core to anyone who needs it) before it sleeps, so that a burst of calls
//! does not pay for waking it each time; a sleeping worker costs the caller
//! a wake-up.
//!
//! A thread-local destructor registered on a VM scheduler thread pins this
//! library in memory after the VM unloads it (glibc will not unmap a
//! library while a live thread holds such a destructor). Hence: only std
//! locks here (parking_lot keeps per-thread data), and the workers are
//! spawned from a short-lived thread of our own (`std::thread::spawn`
//! leaves per-thread data on the spawning thread).

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why a job was not queued; the job comes back to the caller.
#[derive(Debug)]
pub(crate) enum Rejected<J> {
    /// The worker's queue is at capacity.
    Full(J),
    /// The pool is stopping or stopped.
    Closed(J),
}

/// How a pool's workers treat jobs.
pub(crate) trait Work<J>: Send + Sync + 'static {
    /// Runs one job.
    fn run(&self, job: J);
    /// Disposes of a job left in a queue when the pool stops.
    fn drain(&self, job: J);
}

/// The pool's sizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    /// Worker threads, at least 1.
    pub workers: usize,
    /// Jobs each worker's queue holds, at least 1.
    pub capacity: usize,
    /// How long an idle worker spins before it sleeps.
    pub spin: Duration,
}

struct Shared {
    stopping: AtomicBool,
    /// While stopping: run what is queued (true) or drain it (false).
    finish: AtomicBool,
}

/// What a stopping pool does with the jobs still queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leftovers {
    /// Run them: the pool's owner is being replaced and must finish what it accepted.
    Finish,
    /// Hand them to [`Work::drain`].
    Drain,
}

/// A fixed set of worker threads.
pub(crate) struct Pool<J> {
    senders: RwLock<Vec<Sender<J>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

impl<J: Send + 'static> Pool<J> {
    /// Starts `config.workers` threads named `name-N`, each running `work`.
    pub(crate) fn start<W: Work<J>>(
        name: &str,
        config: PoolConfig,
        work: Arc<W>,
    ) -> std::io::Result<Pool<J>> {
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            finish: AtomicBool::new(false),
        });
        let (senders, workers) = on_own_thread(|| {
            let mut senders = Vec::with_capacity(config.workers);
            let mut workers = Vec::with_capacity(config.workers);
            for i in 0..config.workers.max(1) {
                let (tx, rx) = crossbeam_channel::bounded(config.capacity.max(1));
                let (work, shared, spin) = (Arc::clone(&work), Arc::clone(&shared), config.spin);
                let spawned = std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || worker_loop(&rx, &*work, &shared, spin));
                match spawned {
                    Ok(handle) => {
                        senders.push(tx);
                        workers.push(handle);
                    }
                    Err(e) => {
                        drop(senders);
                        join_all(workers);
                        return Err(e);
                    }
                }
            }
            Ok((senders, workers))
        })??;
        Ok(Pool {
            senders: RwLock::new(senders),
            workers: Mutex::new(workers),
            shared,
        })
    }

    /// Queues `job` on the worker `shard` picks.
    pub(crate) fn submit(&self, shard: u64, job: J) -> Result<(), Rejected<J>> {
        let senders = self.senders.read().unwrap_or_else(PoisonError::into_inner);
        if senders.is_empty() || self.shared.stopping.load(Ordering::Acquire) {
            return Err(Rejected::Closed(job));
        }
        let worker = (shard % senders.len() as u64) as usize;
        senders[worker].try_send(job).map_err(|e| match e {
            TrySendError::Full(job) => Rejected::Full(job),
            TrySendError::Disconnected(job) => Rejected::Closed(job),
        })
    }

    /// Jobs queued and not yet taken by a worker: what the queues hold,
    /// never more than their capacity.
    pub(crate) fn depth(&self) -> usize {
        let senders = self.senders.read().unwrap_or_else(PoisonError::into_inner);
        senders.iter().map(Sender::len).sum()
    }
}

impl<J> Pool<J> {
    /// Refuses new jobs, lets the workers empty their queues (each job left
    /// is run or goes to [`Work::drain`], as `leftovers` says) and joins
    /// them. Waits for a job that is running to finish. Idempotent.
    pub(crate) fn stop(&self, leftovers: Leftovers) {
        self.shared
            .finish
            .store(leftovers == Leftovers::Finish, Ordering::Release);
        self.shared.stopping.store(true, Ordering::Release);
        self.senders
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        join_all(std::mem::take(
            &mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner),
        ));
    }
}

impl<J> Drop for Pool<J> {
    fn drop(&mut self) {
        // The workers run this library's code: they must be gone before
        // the VM may unload it.
        self.stop(Leftovers::Drain);
    }
}

/// Runs `f` on a new plain OS thread (not one of the VM's, and not started
/// by `std::thread`, which would leave per-thread data on this one) and
/// returns its result.
pub(crate) fn on_own_thread<R: Send, F: FnOnce() -> R + Send>(f: F) -> std::io::Result<R> {
    struct Call<F, R> {
        f: Option<F>,
        out: Option<R>,
    }
    extern "C" fn trampoline<F: FnOnce() -> R, R>(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the `Call` on the stack of `on_own_thread`, which
        // waits in pthread_join until this thread is done with it.
        let call = unsafe { &mut *arg.cast::<Call<F, R>>() };
        if let Some(f) = call.f.take() {
            // A panic must not unwind out of an extern "C" function.
            call.out = catch_unwind(AssertUnwindSafe(f)).ok();
        }
        std::ptr::null_mut()
    }
    let mut call = Call {
        f: Some(f),
        out: None,
    };
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `trampoline::<F, R>` matches pthread's start routine type and
    // gets a pointer to `call`, which outlives the thread: it is joined
    // below before `call` goes out of scope.
    let rc = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            trampoline::<F, R>,
            (&mut call as *mut Call<F, R>).cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `thread` was created above, joinable, and is joined once.
    let rc = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    call.out
        .ok_or_else(|| std::io::Error::other("worker start-up panicked"))
}

fn join_all(workers: Vec<JoinHandle<()>>) {
    for worker in workers {
        let _ = worker.join();
    }
}

fn worker_loop<J, W: Work<J> + ?Sized>(
    rx: &Receiver<J>,
    work: &W,
    shared: &Shared,
    spin: Duration,
) {
    while let Some(job) = next_job(rx, spin) {
        let drain =
            shared.stopping.load(Ordering::Acquire) && !shared.finish.load(Ordering::Acquire);
        // `work` catches handler panics itself; this only keeps the worker
        // alive should the runtime's own code panic.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if drain {
                work.drain(job)
            } else {
                work.run(job)
            }
        }));
    }
}

/// The next job: spins for `spin` first, then sleeps until one arrives;
/// `None` once the queue is closed and empty.
fn next_job<J>(rx: &Receiver<J>, spin: Duration) -> Option<J> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            // Yield rather than spin hard: on a machine with few cores the
            // thread the reply must wake may be waiting for this very core.
            Err(TryRecvError::Empty) if start.elapsed() < spin => std::thread::yield_now(),
            Err(TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Records (shard key, sequence) of each job it runs or drains.
    struct Recorder {
        ran: Mutex<Vec<(u64, u64)>>,
        drained: Mutex<Vec<(u64, u64)>>,
        gate: Mutex<Option<mpsc::Receiver<()>>>,
    }

    impl Work<(u64, u64)> for Recorder {
        fn run(&self, job: (u64, u64)) {
            if let Some(gate) = &*self.gate.lock().unwrap() {
                let _ = gate.recv();
            }
            if job.1 == u64::MAX {
                panic!("job asked to panic");
            }
            self.ran.lock().unwrap().push(job);
        }
        fn drain(&self, job: (u64, u64)) {
            self.drained.lock().unwrap().push(job);
        }
    }

    fn recorder(gate: Option<mpsc::Receiver<()>>) -> Arc<Recorder> {
        Arc::new(Recorder {
            ran: Mutex::new(Vec::new()),
            drained: Mutex::new(Vec::new()),
            gate: Mutex::new(gate),
        })
    }

    /// Waits (up to 10 s) until `n` jobs have run.
    fn wait_ran(work: &Recorder, n: usize) {
        let until = Instant::now() + Duration::from_secs(10);
        while work.ran.lock().unwrap().len() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn config(workers: usize, capacity: usize) -> PoolConfig {
        PoolConfig {
            workers,
            capacity,
            spin: Duration::from_micros(20),
        }
    }

    #[test]
    fn jobs_of_one_shard_run_in_queue_order() {
        let work = recorder(None);
        let pool = Pool::start("t", config(4, 100_000), Arc::clone(&work)).unwrap();
        std::thread::scope(|s| {
            for producer in 0..8u64 {
                let pool = &pool;
                s.spawn(move || {
                    for seq in 0..2_000u64 {
                        let key = producer * 1000 + seq % 7;
                        while pool.submit(key, (key, seq)).is_err() {
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
        wait_ran(&work, 16_000);
        pool.stop(Leftovers::Drain);
        let ran = work.ran.lock().unwrap();
        assert_eq!(ran.len(), 16_000);
        let mut last: std::collections::HashMap<u64, u64> = Default::default();
        for (key, seq) in ran.iter() {
            if let Some(prev) = last.insert(*key, *seq) {
                assert!(prev < *seq, "key {key}: {seq} ran after {prev}");
            }
        }
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_memory_stays_bounded() {
        let (open, gate) = mpsc::channel();
        let work = recorder(Some(gate));
        let pool = Pool::start("t", config(1, 3), Arc::clone(&work)).unwrap();
        // The worker takes the first job and waits at the gate; 3 more fill the queue.
        let mut accepted = 0;
        let mut refused = 0;
        for seq in 0..100 {
            match pool.submit(0, (0, seq)) {
                Ok(()) => accepted += 1,
                Err(Rejected::Full(_)) => refused += 1,
                Err(Rejected::Closed(_)) => panic!("pool closed"),
            }
            if seq == 0 {
                while pool.depth() > 0 {
                    std::thread::yield_now();
                }
            }
        }
        assert_eq!((accepted, refused), (4, 96));
        assert!(pool.depth() <= 3);
        for _ in 0..accepted {
            open.send(()).unwrap();
        }
        pool.stop(Leftovers::Drain);
        assert_eq!(
            work.ran.lock().unwrap().len() + work.drained.lock().unwrap().len(),
            4
        );
    }

    #[test]
    fn stop_drains_what_is_queued_and_joins_the_workers() {
        let (open, gate) = mpsc::channel();
        let work = recorder(Some(gate));
        let pool = Pool::start("t", config(2, 10), Arc::clone(&work)).unwrap();
        for seq in 0..10 {
            pool.submit(seq, (seq, seq)).unwrap();
        }
        let stopper = std::thread::spawn({
            let open = open.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                for _ in 0..10 {
                    let _ = open.send(());
                }
            }
        });
        pool.stop(Leftovers::Drain);
        stopper.join().unwrap();
        let handled = work.ran.lock().unwrap().len() + work.drained.lock().unwrap().len();
        assert_eq!(handled, 10, "every queued job is run or drained");
        assert!(
            !work.drained.lock().unwrap().is_empty(),
            "jobs queued at stop are drained, not run"
        );
        assert!(matches!(pool.submit(0, (0, 0)), Err(Rejected::Closed(_))));
        pool.stop(Leftovers::Drain);
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_worker() {
        let work = recorder(None);
        let pool = Pool::start("t", config(1, 10), Arc::clone(&work)).unwrap();
        pool.submit(0, (0, u64::MAX)).unwrap();
        pool.submit(0, (0, 1)).unwrap();
        wait_ran(&work, 1);
        pool.stop(Leftovers::Drain);
        assert_eq!(*work.ran.lock().unwrap(), vec![(0, 1)]);
    }
}
