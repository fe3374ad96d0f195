//! The driver's worker pool: per-client lanes served by an elastic set of
//! worker threads.
//!
//! **Lanes.** Every job belongs to a lane, keyed by a 64-bit hash of its
//! clientid ([`Pool::lane`]). A lane's jobs run one at a time, in the order
//! they were queued; a lane with a job queued and none running is on one
//! ready queue that every worker takes from. So a slow job holds up only
//! the jobs of its own lane, and any free worker runs any other lane. A
//! lane exists while it has a job queued or running. A worker takes up to
//! [`BATCH`] jobs of a lane at once and runs them one after the other
//! (a client's burst costs one look at the shared state, not one per
//! event); each is still a job of its own to the stall detection, and
//! counts against the capacity until it starts.
//!
//! **Workers.** [`PoolConfig::workers`] threads are started with the pool
//! and kept: at most that many run jobs at once while jobs are short. A
//! job that runs longer than [`PoolConfig::stall`] with its thread blocked
//! (asleep, waiting for I/O or a lock; not computing, nor waiting for a
//! CPU) stalls its worker: it no longer counts, and while lanes are
//! waiting the pool wakes or starts another worker in its place, up to
//! [`PoolConfig::max_workers`]. Past
//! that, with every worker stalled, a [`JobKind::Call`] is refused at once
//! ([`Rejected::Saturated`]): someone waits for it, and its answer would
//! only come at its deadline. A worker beyond the warm ones that has been
//! idle for [`PoolConfig::keep_alive`] exits. The jobs queued in all lanes
//! together are bounded by [`PoolConfig::capacity`]; past it a job is
//! refused at once ([`Rejected::Full`]): the caller never blocks.
//!
//! **Wake-ups.** A worker with nothing to do spins for [`PoolConfig::spin`]
//! (yielding the core now and then) before it parks, if no other worker
//! is spinning: the spinner takes the next job without a wake-up, which
//! is what calls back to back need. A lane that becomes ready wakes the
//! most recently parked worker (the caller pays one futex wake) only if
//! more lanes are ready than the spinner and the workers already woken
//! will take, and fewer than `workers` unstalled workers are at work; a
//! worker that takes a job while more lanes wait wakes the next one the
//! same way. A manager thread starts and retires workers and tells
//! stalled workers (its look at /proc tells a blocked thread from one
//! that computes or waits for a CPU); while lanes wait it looks every
//! `10 * stall`, and at once when a job queued behind busy workers finds
//! one running past `stall`. Otherwise it sleeps: an idle pool uses no
//! CPU.
//!
//! **Threads and the VM.** A thread-local destructor registered on a VM
//! scheduler thread pins this library in memory after the VM unloads it
//! (glibc will not unmap a library while a live thread holds such a
//! destructor). Hence: only std locks here (parking_lot keeps per-thread
//! data), nothing that calls `std::thread::current()` on a caller's thread,
//! and threads are never started on the caller's path: the manager is a
//! plain pthread of our own, and it starts the workers (`std::thread`
//! leaves per-thread data on the spawning thread, which is then the
//! manager's, gone before the library may be unloaded).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::own_thread::OwnThread;

#[cfg(test)]
mod handoff_bench;

/// Why a job was not queued; the job comes back to the caller.
#[derive(Debug)]
pub(crate) enum Rejected<J> {
    /// The pool holds [`PoolConfig::capacity`] queued jobs already.
    Full(J),
    /// A call, while every worker is stalled and no more may be started.
    Saturated(J),
    /// The pool is stopping or stopped.
    Closed(J),
}

/// What a job is, for the pool's refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// Someone waits for its result until a deadline: refused at once
    /// when the pool is saturated.
    Call,
    /// Nobody waits: queued while there is room.
    Notify,
}

/// How [`Pool::stop`] treats the jobs still queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Runs them ([`Work::run`] skips calls whose deadline has passed).
    Finish,
    /// Hands them to [`Work::drain`].
    Drain,
}

/// How a pool's workers treat jobs.
pub(crate) trait Work<J>: Send + Sync + 'static {
    /// Runs one job.
    fn run(&self, job: J);
    /// Disposes of a job left queued when the pool stops with [`Stop::Drain`].
    fn drain(&self, job: J);
}

/// The pool's sizes and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    /// Workers started with the pool and kept: how many run jobs at once
    /// while no job stalls. At least 1.
    pub workers: usize,
    /// The most workers, stalled ones included. At least `workers`.
    pub max_workers: usize,
    /// The most jobs queued (not yet running) in all lanes together. At least 1.
    pub capacity: usize,
    /// How long an idle worker spins before it parks (one at a time).
    pub spin: Duration,
    /// A job running longer than this stalls its worker, which then no
    /// longer counts among the workers at work.
    pub stall: Duration,
    /// How long a worker beyond `workers` stays idle before it exits.
    pub keep_alive: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: 8,
            max_workers: 64,
            capacity: 1024,
            spin: Duration::from_micros(50),
            stall: Duration::from_millis(1),
            keep_alive: Duration::from_secs(10),
        }
    }
}

/// The driver options that size a pool, by the names both transports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolOption {
    /// `pool_size`: [`PoolConfig::workers`].
    Size,
    /// `pool_max`: [`PoolConfig::max_workers`].
    Max,
    /// `queue_capacity`: [`PoolConfig::capacity`].
    Capacity,
    /// `spin_us`: [`PoolConfig::spin`], in microseconds.
    SpinUs,
}

impl PoolOption {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PoolOption::Size => "pool_size",
            PoolOption::Max => "pool_max",
            PoolOption::Capacity => "queue_capacity",
            PoolOption::SpinUs => "spin_us",
        }
    }
}

impl PoolConfig {
    /// The config from a driver's options; `get` gives an option's value,
    /// `None` for the default. Sizes are raised to their minimum.
    pub(crate) fn from_options<E>(
        mut get: impl FnMut(PoolOption) -> Result<Option<u64>, E>,
    ) -> Result<PoolConfig, E> {
        let d = PoolConfig::default();
        let mut value = |o, default: usize| -> Result<usize, E> {
            Ok(get(o)?.map_or(default, |v| usize::try_from(v).unwrap_or(usize::MAX)))
        };
        let workers = value(PoolOption::Size, d.workers)?.max(1);
        let max_workers = value(PoolOption::Max, d.max_workers)?.max(workers);
        let capacity = value(PoolOption::Capacity, d.capacity)?.max(1);
        let spin = get(PoolOption::SpinUs)?.map_or(d.spin, Duration::from_micros);
        Ok(PoolConfig {
            workers,
            max_workers,
            capacity,
            spin,
            ..d
        })
    }
}

/// Workers get this much stack: handlers may run interpreters (Python)
/// that need more than std's 2 MiB default.
const STACK_SIZE: usize = 8 << 20;

/// The high bit marks a lane of its own (an event without a clientid).
const UNORDERED: u64 = 1 << 63;

/// How often the manager looks at the workers while lanes wait. A job that
/// runs past `stall` while lanes wait is mostly seen sooner: the next job
/// queued that finds no worker free looks at the running jobs' ages and
/// calls the manager (see `State::suspect`). A look costs the manager two
/// context switches, and under a steady backlog (every worker busy with
/// short jobs, lanes waiting) the manager keeps looking: at a look every
/// `stall / 2` it had 8 % of a busy Port handler process's CPU samples.
fn tick(config: &PoolConfig) -> Duration {
    (config.stall * 10).max(Duration::from_millis(1))
}

/// How soon the manager looks again at a worker it found blocked.
const RELOOK: Duration = Duration::from_micros(500);

/// Ticks without a waiting lane before the manager stops watching.
const LINGER_TICKS: u32 = 3;

/// The most jobs of one lane a worker takes at once. A lane's jobs run
/// one after the other anyway; taking several per look at the shared
/// state saves the worker a lock round trip per job (and the callers the
/// contention on it) while a client's events queue up.
const BATCH: usize = 16;

/// Spare lane queues kept for reuse, so that a lane that comes and goes
/// with each job does not allocate each time; a queue that grew longer
/// than `SPARE_LEN` is freed instead.
const SPARE_LANES: usize = 64;
const SPARE_LEN: usize = 16;

/// What a worker was woken for.
const WOKEN_NOT: u8 = 0;
const WOKEN_WORK: u8 = 1;
const WOKEN_CHECK: u8 = 2;
const WOKEN_RETIRE: u8 = 3;

/// One worker, as the others see it.
struct Slot {
    thread: OnceLock<Thread>,
    /// `WOKEN_*`: set by whoever takes the worker off the idle stack.
    woken: AtomicU8,
    /// The number of the job it runs, 0 when none (written under the lock).
    job: AtomicU64,
    /// When that job started, in ns since the pool's epoch.
    started: AtomicU64,
    /// The job the manager has looked at past `stall`, found computing
    /// (not blocked) or found blocked once and looks at again: nobody
    /// needs to call the manager about it.
    looked_at: AtomicU64,
    /// The job the manager found blocked at its last look.
    blocked: AtomicU64,
    /// Counted in `State::stalled` (written under the lock).
    stalled: AtomicBool,
    /// When it last parked, in ns since the pool's epoch (under the lock).
    parked_at: AtomicU64,
    /// The worker has left its loop (under the lock); it can be joined.
    exited: AtomicBool,
    /// Its kernel thread id, to see whether it is blocked.
    tid: AtomicI32,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            thread: OnceLock::new(),
            woken: AtomicU8::new(WOKEN_NOT),
            job: AtomicU64::new(0),
            started: AtomicU64::new(0),
            looked_at: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            parked_at: AtomicU64::new(0),
            exited: AtomicBool::new(false),
            tid: AtomicI32::new(0),
        }
    }

    fn wake(&self, why: u8) {
        self.woken.store(why, Ordering::Release);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    /// On the worker's own thread: parks until woken; why.
    fn park(&self) -> u8 {
        loop {
            match self.woken.load(Ordering::Acquire) {
                WOKEN_NOT => std::thread::park(),
                why => return why,
            }
        }
    }
}

struct Lane<J> {
    jobs: VecDeque<J>,
    running: bool,
}

/// Lane keys are keyed hashes already: spread them, no more.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// What to do, once the lock is released, about a lane that waits.
enum Nudge {
    None,
    Wake(Arc<Slot>),
    Manager,
}

struct State<J> {
    lanes: HashMap<u64, Lane<J>, BuildHasherDefault<KeyHasher>>,
    ready: VecDeque<u64>,
    spare: Vec<VecDeque<J>>,
    /// Jobs queued in all lanes, not running.
    queued: usize,
    /// Workers alive or being started.
    workers: usize,
    /// Workers running a job; of those, the ones the manager found stalled.
    running: usize,
    stalled: usize,
    /// Workers woken or started for a waiting lane that have not looked yet.
    waking: usize,
    spinning: bool,
    /// Parked workers, the most recently parked last.
    idle: Vec<Arc<Slot>>,
    /// Every worker started and not yet joined.
    slots: Vec<Arc<Slot>>,
    /// The manager ticks (it was told lanes wait for a worker).
    watching: bool,
    stop: Option<Stop>,
    jobs_started: u64,
}

impl<J> State<J> {
    /// Workers at work that count: running and not stalled, spinning, or
    /// on their way.
    fn at_work(&self) -> usize {
        self.running - self.stalled + self.coming()
    }

    /// Workers that will take a ready lane without being woken: the
    /// spinner, and those woken or started already.
    fn coming(&self) -> usize {
        usize::from(self.spinning) + self.waking
    }

    /// Every worker the pool may have is stalled.
    fn saturated(&self, config: &PoolConfig) -> bool {
        self.workers >= config.max_workers && self.stalled >= self.workers
    }

    /// Someone to take the waiting lanes: the spinner and the workers
    /// woken already take one each; for more, a parked worker, if not
    /// enough are at work; else the manager, which watches while lanes
    /// wait, and is called again when a running job looks stalled.
    fn nudge(&mut self, config: &PoolConfig, now_ns: impl FnOnce() -> u64) -> Nudge {
        if self.ready.len() <= self.coming() {
            return Nudge::None;
        }
        if self.at_work() < config.workers {
            if let Some(slot) = self.idle.pop() {
                self.waking += 1;
                return Nudge::Wake(slot);
            }
        }
        if !self.watching {
            self.watching = true;
            return Nudge::Manager;
        }
        if self.suspect(now_ns(), config) {
            return Nudge::Manager;
        }
        Nudge::None
    }

    /// Whether a running job has run past `stall` and the manager has not
    /// looked at it yet (it may be blocked: another worker would help).
    fn suspect(&self, now_ns: u64, config: &PoolConfig) -> bool {
        let stall = u64::try_from(config.stall.as_nanos()).unwrap_or(u64::MAX);
        self.slots.iter().any(|slot| {
            let job = slot.job.load(Ordering::Relaxed);
            job != 0
                && !slot.stalled.load(Ordering::Relaxed)
                && slot.looked_at.load(Ordering::Relaxed) != job
                && now_ns.saturating_sub(slot.started.load(Ordering::Relaxed)) >= stall
        })
    }

    /// Up to [`BATCH`] jobs of the first ready lane, moved into `batch`
    /// (empty), the first now running on `slot` since `now_ns`; the
    /// lane's key and the number of the first job (the others are
    /// numbered on from it).
    fn take(
        &mut self,
        slot: &Slot,
        batch: &mut VecDeque<J>,
        now_ns: impl FnOnce() -> u64,
    ) -> Option<(u64, u64)> {
        while let Some(key) = self.ready.pop_front() {
            let Some(lane) = self.lanes.get_mut(&key) else {
                continue;
            };
            let n = lane.jobs.len().min(BATCH);
            if n == 0 {
                continue;
            }
            batch.extend(lane.jobs.drain(..n));
            lane.running = true;
            self.queued -= n;
            self.running += 1;
            let first = self.jobs_started + 1;
            self.jobs_started += n as u64;
            slot.started.store(now_ns(), Ordering::Relaxed);
            slot.job.store(first, Ordering::Relaxed);
            return Some((key, first));
        }
        None
    }

    /// `slot`'s job of lane `key` is done: the lane's next job is ready,
    /// or the lane is gone.
    fn finish(&mut self, key: u64, slot: &Slot) {
        self.running -= 1;
        slot.job.store(0, Ordering::Relaxed);
        if slot.stalled.swap(false, Ordering::Relaxed) {
            self.stalled -= 1;
        }
        if let Some(lane) = self.lanes.get_mut(&key) {
            lane.running = false;
            if lane.jobs.is_empty() {
                if let Some(lane) = self.lanes.remove(&key) {
                    if self.spare.len() < SPARE_LANES && lane.jobs.capacity() <= SPARE_LEN {
                        self.spare.push(lane.jobs);
                    }
                }
            } else {
                self.ready.push_back(key);
            }
        }
    }
}

struct Shared<J> {
    state: Mutex<State<J>>,
    /// The manager waits on it (with `state`).
    manager: Condvar,
    /// The start-up result, for `Pool::start`.
    started: Mutex<Option<std::io::Result<()>>>,
    started_cv: Condvar,
    /// How many lanes are ready, for the spinner to watch without the lock.
    ready_lanes: AtomicUsize,
    /// The pool stops with [`Stop::Drain`]: the rest of a batch is drained.
    draining: AtomicBool,
    /// Jobs workers have taken with the one they run and not started yet:
    /// still queued as far as [`PoolConfig::capacity`] is concerned.
    /// Raised under the lock, lowered without it as each job starts.
    ahead: AtomicUsize,
    keys: RandomState,
    unordered: AtomicU64,
    config: PoolConfig,
    epoch: Instant,
    name: String,
}

impl<J> Shared<J> {
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn publish_ready(&self, state: &State<J>) {
        self.ready_lanes.store(state.ready.len(), Ordering::Release);
    }

    fn act(&self, nudge: Nudge) {
        match nudge {
            Nudge::None => {}
            Nudge::Wake(slot) => slot.wake(WOKEN_WORK),
            Nudge::Manager => self.manager.notify_one(),
        }
    }
}

/// Lanes of jobs served by an elastic set of worker threads.
pub(crate) struct Pool<J> {
    shared: Arc<Shared<J>>,
    manager: Mutex<Option<OwnThread>>,
}

impl<J: Send + 'static> Pool<J> {
    /// Starts the manager thread and `config.workers` workers named
    /// `name-N`, each running `work`; returns once they are up.
    pub(crate) fn start<W: Work<J>>(
        name: &str,
        config: PoolConfig,
        work: Arc<W>,
    ) -> std::io::Result<Pool<J>> {
        let config = PoolConfig {
            workers: config.workers.max(1),
            max_workers: config.max_workers.max(config.workers.max(1)),
            capacity: config.capacity.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                lanes: HashMap::default(),
                ready: VecDeque::new(),
                spare: Vec::new(),
                queued: 0,
                workers: 0,
                running: 0,
                stalled: 0,
                waking: 0,
                spinning: false,
                idle: Vec::new(),
                slots: Vec::new(),
                watching: false,
                stop: None,
                jobs_started: 0,
            }),
            manager: Condvar::new(),
            started: Mutex::new(None),
            started_cv: Condvar::new(),
            ready_lanes: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            ahead: AtomicUsize::new(0),
            keys: RandomState::new(),
            unordered: AtomicU64::new(0),
            config,
            epoch: Instant::now(),
            name: name.to_string(),
        });
        let manager = {
            let shared = Arc::clone(&shared);
            OwnThread::spawn(&format!("{name}-mgr"), move || {
                let ran = catch_unwind(AssertUnwindSafe(|| {
                    Manager::new(Arc::clone(&shared), work).run()
                }));
                let mut started = shared
                    .started
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if ran.is_err() && started.is_none() {
                    *started = Some(Err(std::io::Error::other("pool manager panicked")));
                    shared.started_cv.notify_all();
                }
            })?
        };
        let mut started = shared
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while started.is_none() {
            started = shared
                .started_cv
                .wait(started)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let result = started.take().unwrap_or(Ok(()));
        drop(started);
        let pool = Pool {
            shared,
            manager: Mutex::new(Some(manager)),
        };
        result.map(|()| pool)
    }

    /// The lane of an event of `clientid`: the same for the same clientid;
    /// a lane of its own when there is none (or it is empty: no order is
    /// owed between events nobody can tell apart).
    pub(crate) fn lane(&self, clientid: Option<&[u8]>) -> u64 {
        match clientid {
            Some(id) if !id.is_empty() => {
                let mut h = self.shared.keys.build_hasher();
                h.write(id);
                h.finish() & !UNORDERED
            }
            _ => UNORDERED | self.shared.unordered.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Queues `job` at the end of lane `lane`; never blocks.
    pub(crate) fn submit(&self, lane: u64, job: J, kind: JobKind) -> Result<(), Rejected<J>> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.stop.is_some() {
            return Err(Rejected::Closed(job));
        }
        if state.queued + shared.ahead.load(Ordering::Relaxed) >= shared.config.capacity {
            return Err(Rejected::Full(job));
        }
        if kind == JobKind::Call && state.saturated(&shared.config) {
            return Err(Rejected::Saturated(job));
        }
        state.queued += 1;
        let st = &mut *state;
        let entry = match st.lanes.entry(lane) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Lane {
                jobs: st.spare.pop().unwrap_or_default(),
                running: false,
            }),
        };
        entry.jobs.push_back(job);
        if entry.running || entry.jobs.len() > 1 {
            // Already ready, or its worker takes the job next.
            return Ok(());
        }
        state.ready.push_back(lane);
        let ready = state.ready.len();
        let nudge = state.nudge(&shared.config, || shared.now_ns());
        drop(state);
        // After the unlock: a spinner that sees it takes the lock at once,
        // and would otherwise sleep on it until this caller lets go.
        shared.ready_lanes.store(ready, Ordering::Release);
        shared.act(nudge);
        Ok(())
    }

    /// Jobs queued and not yet started: never more than the capacity.
    pub(crate) fn depth(&self) -> usize {
        let state = self.shared.lock();
        state.queued + self.shared.ahead.load(Ordering::Relaxed)
    }
}

impl<J> Pool<J> {
    /// Refuses new jobs; the jobs queued are run ([`Stop::Finish`]) or
    /// drained ([`Stop::Drain`]) by the workers, which then exit. Returns
    /// once every thread is gone, which waits for running jobs. A call
    /// while another is under way returns when that one does; `Drain`
    /// then drains what `Finish` has not run yet.
    pub(crate) fn stop(&self, how: Stop) {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.stop != Some(Stop::Drain) {
            state.stop = Some(how);
        }
        if how == Stop::Drain {
            shared.draining.store(true, Ordering::Relaxed);
        }
        let idle = std::mem::take(&mut state.idle);
        drop(state);
        for slot in idle {
            slot.wake(WOKEN_CHECK);
        }
        shared.manager.notify_one();
        // Held while joining, so that a concurrent call waits too.
        let mut manager = self.manager.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(manager) = manager.take() {
            manager.join();
        }
    }

    /// Workers alive (for tests and reports).
    #[cfg(test)]
    fn workers(&self) -> usize {
        self.shared.lock().workers
    }

    #[cfg(test)]
    fn debug_state(&self) -> String {
        let s = self.shared.lock();
        format!(
            "workers {} idle {} running {} stalled {} waking {} spinning {} watching {} queued {} ready {}",
            s.workers, s.idle.len(), s.running, s.stalled, s.waking, s.spinning, s.watching, s.queued, s.ready.len()
        )
    }
}

impl<J> Drop for Pool<J> {
    fn drop(&mut self) {
        // The threads run this library's code: they must be gone before
        // the VM may unload it.
        self.stop(Stop::Drain);
    }
}

fn worker_loop<J, W: Work<J> + ?Sized>(shared: &Shared<J>, slot: &Arc<Slot>, work: &W) {
    let _ = slot.thread.set(std::thread::current());
    // SAFETY: gettid has no preconditions.
    slot.tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    let config = &shared.config;
    let mut batch = VecDeque::with_capacity(BATCH);
    let mut state = shared.lock();
    // It was counted as on its way when it was started.
    state.waking -= 1;
    // Whether this worker has spun since it last had a job.
    let mut spun = false;
    loop {
        if let Some((lane, first)) = state.take(slot, &mut batch, || shared.now_ns()) {
            shared.ahead.fetch_add(batch.len() - 1, Ordering::Relaxed);
            shared.publish_ready(&state);
            let nudge = state.nudge(config, || shared.now_ns());
            drop(state);
            shared.act(nudge);
            run_batch(shared, slot, work, &mut batch, first);
            // Done: waiting for the lock next is not a stall.
            slot.job.store(0, Ordering::Relaxed);
            state = shared.lock();
            state.finish(lane, slot);
            shared.publish_ready(&state);
            spun = false;
            continue;
        }
        if state.stop.is_some() && state.queued == 0 {
            // The last one out wakes the parked ones to go too.
            let idle = std::mem::take(&mut state.idle);
            exit(shared, state, slot);
            for other in idle {
                other.wake(WOKEN_CHECK);
            }
            return;
        }
        if !spun && !state.spinning && !config.spin.is_zero() && state.stop.is_none() {
            state.spinning = true;
            drop(state);
            spin_for_work(shared);
            state = shared.lock();
            state.spinning = false;
            spun = true;
            continue;
        }
        spun = false;
        slot.woken.store(WOKEN_NOT, Ordering::Relaxed);
        slot.parked_at.store(shared.now_ns(), Ordering::Relaxed);
        state.idle.push(Arc::clone(slot));
        drop(state);
        let why = slot.park();
        state = shared.lock();
        match why {
            WOKEN_RETIRE => {
                slot.exited.store(true, Ordering::Relaxed);
                drop(state);
                shared.manager.notify_one();
                return;
            }
            WOKEN_WORK => state.waking -= 1,
            _ => {}
        }
    }
}

/// Runs (or, once the pool drains, drains) the jobs of one lane a worker
/// took, in order. Each job gets its own number and start time, so that
/// the manager tells a stalled job as it would alone; a worker found
/// stalled is counted back in as soon as the job that stalled it ends.
///
/// The next job's number is published before the worker looks at its
/// stalled mark, and the manager looks at the number again after it
/// marks (both `SeqCst`): one of them sees the other, so a mark meant
/// for the job that ended is taken back by one side, never left on the
/// next job (nor taken back twice: both do it under the lock).
fn run_batch<J, W: Work<J> + ?Sized>(
    shared: &Shared<J>,
    slot: &Slot,
    work: &W,
    batch: &mut VecDeque<J>,
    first: u64,
) {
    let mut number = first;
    while let Some(job) = batch.pop_front() {
        if number != first {
            shared.ahead.fetch_sub(1, Ordering::Relaxed);
            slot.started.store(shared.now_ns(), Ordering::Relaxed);
            slot.job.store(number, Ordering::SeqCst);
            if slot.stalled.load(Ordering::SeqCst) {
                let mut state = shared.lock();
                if slot.stalled.swap(false, Ordering::Relaxed) {
                    state.stalled -= 1;
                }
            }
        }
        number += 1;
        let drain = shared.draining.load(Ordering::Relaxed);
        // `work` catches handler panics itself; this only keeps the
        // worker alive should the runtime's own code panic.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if drain {
                work.drain(job)
            } else {
                work.run(job)
            }
        }));
    }
}

/// Counts the worker out and lets the manager join it.
fn exit<J>(shared: &Shared<J>, mut state: MutexGuard<'_, State<J>>, slot: &Slot) {
    state.workers -= 1;
    slot.exited.store(true, Ordering::Relaxed);
    drop(state);
    shared.manager.notify_one();
}

/// Polls of the ready count between yields while spinning.
const SPINS_PER_YIELD: u32 = 4;

/// Spins until a lane is ready or `spin` has passed. On a machine with
/// few cores the thread this worker's caller waits for may need this very
/// core: the spinner yields between short bursts.
fn spin_for_work<J>(shared: &Shared<J>) {
    let until = Instant::now() + shared.config.spin;
    loop {
        for _ in 0..SPINS_PER_YIELD {
            if shared.ready_lanes.load(Ordering::Acquire) > 0 {
                return;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return;
        }
        std::thread::yield_now();
    }
}

/// The manager thread's state: every worker's handle and what it has
/// seen of their jobs.
struct Manager<J, W> {
    shared: Arc<Shared<J>>,
    work: Arc<W>,
    workers: Vec<Worker>,
    next_index: usize,
    linger: u32,
}

struct Worker {
    slot: Arc<Slot>,
    handle: Option<JoinHandle<()>>,
}

impl<J: Send + 'static, W: Work<J>> Manager<J, W> {
    fn new(shared: Arc<Shared<J>>, work: Arc<W>) -> Self {
        Manager {
            shared,
            work,
            workers: Vec::new(),
            next_index: 0,
            linger: 0,
        }
    }

    fn run(mut self) {
        let warm = self.shared.config.workers;
        {
            // Workers being started count as on their way to work, or the
            // manager would start more for a job queued meanwhile.
            let mut state = self.shared.lock();
            state.workers = warm;
            state.waking = warm;
        }
        let mut result = Ok(());
        for _ in 0..warm {
            if let Err(e) = self.spawn() {
                let mut state = self.shared.lock();
                state.workers -= 1;
                state.waking -= 1;
                state.stop = Some(Stop::Drain);
                self.shared.draining.store(true, Ordering::Relaxed);
                result = Err(e);
            }
        }
        let failed = result.is_err();
        *self
            .shared
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.shared.started_cv.notify_all();
        if failed {
            self.wake_all_idle();
        }
        self.manage();
        for worker in self.workers.drain(..) {
            if let Some(handle) = worker.handle {
                let _ = handle.join();
            }
        }
    }

    /// Starts a worker, counted in `workers` and `waking` already.
    fn spawn(&mut self) -> std::io::Result<()> {
        let index = self.next_index;
        self.next_index += 1;
        let slot = Arc::new(Slot::new());
        let (shared, work, mine) = (
            Arc::clone(&self.shared),
            Arc::clone(&self.work),
            Arc::clone(&slot),
        );
        let handle = std::thread::Builder::new()
            .name(format!("{}-{index}", self.shared.name))
            .stack_size(STACK_SIZE)
            .spawn(move || {
                worker_loop(&shared, &mine, &*work);
            })?;
        self.shared.lock().slots.push(Arc::clone(&slot));
        self.workers.push(Worker {
            slot,
            handle: Some(handle),
        });
        Ok(())
    }

    fn wake_all_idle(&self) {
        let idle = std::mem::take(&mut self.shared.lock().idle);
        for slot in idle {
            slot.wake(WOKEN_CHECK);
        }
    }

    /// Until every worker is gone after a stop.
    fn manage(&mut self) {
        let shared = Arc::clone(&self.shared);
        let config = shared.config;
        let mut state = shared.lock();
        loop {
            if state.stop.is_some() && state.workers == 0 {
                return;
            }
            let mut wake = Vec::new();
            let mut start = 0;
            let mut retire = None;
            let mut relook = false;
            if state.watching {
                let (looked, again) = self.mark_stalls(&shared, state);
                state = looked;
                relook = again;
                // Workers in place of the stalled ones, for the waiting lanes.
                while state.coming() < state.ready.len() && state.at_work() < config.workers {
                    if let Some(slot) = state.idle.pop() {
                        wake.push(slot);
                    } else if state.workers < config.max_workers && state.stop != Some(Stop::Drain)
                    {
                        state.workers += 1;
                        start += 1;
                    } else {
                        break;
                    }
                    state.waking += 1;
                }
                self.linger = if state.ready.is_empty() {
                    self.linger + 1
                } else {
                    0
                };
                if self.linger >= LINGER_TICKS {
                    state.watching = false;
                    self.linger = 0;
                }
            } else if state.stop.is_none() && state.workers > config.workers {
                retire = self.retiree(&mut state, &config);
            }
            drop(state);
            for slot in wake {
                slot.wake(WOKEN_WORK);
            }
            if let Some(slot) = retire {
                slot.wake(WOKEN_RETIRE);
            }
            for _ in 0..start {
                if self.spawn().is_err() {
                    let mut state = shared.lock();
                    state.workers -= 1;
                    state.waking -= 1;
                }
            }
            self.reap();
            state = shared.lock();
            if state.stop.is_some() && state.workers == 0 {
                return;
            }
            state = if relook {
                wait(&shared.manager, state, Some(RELOOK))
            } else if state.watching {
                wait(&shared.manager, state, Some(tick(&config)))
            } else if state.stop.is_none() && state.workers > config.workers {
                let wait_for = self.next_retirement(&state, &config);
                wait(&shared.manager, state, Some(wait_for))
            } else {
                wait(&shared.manager, state, None)
            };
        }
    }

    /// Counts the workers whose job has run for `stall` or more and that
    /// are blocked (asleep, waiting for I/O or a lock) rather than
    /// computing: another worker helps against the former only. A worker
    /// that waits for a CPU would look stalled on a busy machine, and more
    /// workers would only make it wait longer. A worker must be found
    /// blocked at two looks, `RELOOK` apart, so that a short wait (for a
    /// VM lock, say) after a long time on the run queue is not a stall.
    /// /proc is read without the lock: a worker that waited for it would
    /// look blocked. Also: whether to look again after `RELOOK`.
    fn mark_stalls<'a>(
        &self,
        shared: &'a Shared<J>,
        state: MutexGuard<'a, State<J>>,
    ) -> (MutexGuard<'a, State<J>>, bool) {
        let now = shared.now_ns();
        let config = &shared.config;
        let stall = u64::try_from(config.stall.as_nanos()).unwrap_or(u64::MAX);
        let old: Vec<(&Slot, u64)> = self
            .workers
            .iter()
            .map(|w| (&*w.slot, w.slot.job.load(Ordering::Relaxed)))
            .filter(|(slot, job)| {
                *job != 0
                    && !slot.stalled.load(Ordering::Relaxed)
                    && now.saturating_sub(slot.started.load(Ordering::Relaxed)) >= stall
            })
            .collect();
        if old.is_empty() {
            return (state, false);
        }
        drop(state);
        let looked: Vec<(&Slot, u64, bool)> = old
            .into_iter()
            .map(|(slot, job)| (slot, job, !runnable(slot.tid.load(Ordering::Relaxed))))
            .collect();
        let mut state = shared.lock();
        let mut relook = false;
        for (slot, job, blocked) in looked {
            // Only if it still runs the job looked at.
            if slot.job.load(Ordering::Relaxed) != job {
                continue;
            }
            slot.looked_at.store(job, Ordering::Relaxed);
            if !blocked {
                slot.blocked.store(0, Ordering::Relaxed);
            } else if slot.blocked.swap(job, Ordering::Relaxed) != job {
                relook = true;
            } else if !slot.stalled.swap(true, Ordering::SeqCst) {
                state.stalled += 1;
                // A worker that ran a batch may have moved on to its next
                // job meanwhile (see `run_batch`): the mark is not for it.
                if slot.job.load(Ordering::SeqCst) != job
                    && slot.stalled.swap(false, Ordering::Relaxed)
                {
                    state.stalled -= 1;
                }
            }
        }
        (state, relook)
    }

    /// The worker parked longest, if it has been idle for `keep_alive`.
    fn retiree(&self, state: &mut State<J>, config: &PoolConfig) -> Option<Arc<Slot>> {
        let oldest = state.idle.first()?;
        let idle_ns = self
            .shared
            .now_ns()
            .saturating_sub(oldest.parked_at.load(Ordering::Relaxed));
        if Duration::from_nanos(idle_ns) < config.keep_alive {
            return None;
        }
        // Counted out now, before it has exited, so the next look does
        // not retire one too many.
        state.workers -= 1;
        Some(state.idle.remove(0))
    }

    fn next_retirement(&self, state: &State<J>, config: &PoolConfig) -> Duration {
        let Some(oldest) = state.idle.first() else {
            return config.keep_alive;
        };
        let idle_ns = self
            .shared
            .now_ns()
            .saturating_sub(oldest.parked_at.load(Ordering::Relaxed));
        config
            .keep_alive
            .saturating_sub(Duration::from_nanos(idle_ns))
            .max(Duration::from_millis(1))
    }

    /// Joins the workers that have exited.
    fn reap(&mut self) {
        let mut gone = Vec::new();
        for worker in &mut self.workers {
            if worker.slot.exited.load(Ordering::Relaxed) {
                if let Some(handle) = worker.handle.take() {
                    let _ = handle.join();
                    gone.push(Arc::as_ptr(&worker.slot));
                }
            }
        }
        if !gone.is_empty() {
            self.workers.retain(|w| w.handle.is_some());
            self.shared
                .lock()
                .slots
                .retain(|s| !gone.contains(&Arc::as_ptr(s)));
        }
    }
}

/// Whether thread `tid` of this process is running or waiting for a CPU
/// (state `R` in /proc); false when it cannot be told.
fn runnable(tid: i32) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and
    // may itself contain ") ".
    let after = stat
        .windows(2)
        .rposition(|w| w == b") ")
        .and_then(|i| stat.get(i + 2));
    after == Some(&b'R')
}

fn wait<'a, J>(
    cv: &Condvar,
    guard: MutexGuard<'a, State<J>>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State<J>> {
    match timeout {
        Some(t) => {
            cv.wait_timeout(guard, t)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        }
        None => cv.wait(guard).unwrap_or_else(PoisonError::into_inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A gate jobs wait at until it is opened.
    #[derive(Debug, Default)]
    struct Gate {
        open: Mutex<bool>,
        cv: Condvar,
    }

    /// Opens the gate when dropped: a failed assertion must not leave the
    /// pool's drop waiting for a gate nobody will open.
    struct OpenOnDrop(Arc<Gate>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    fn new_gate() -> (Arc<Gate>, OpenOnDrop) {
        let gate = Arc::new(Gate::default());
        (Arc::clone(&gate), OpenOnDrop(gate))
    }

    impl Gate {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.cv.notify_all();
        }
        fn pass(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.cv.wait(open).unwrap();
            }
        }
    }

    #[derive(Debug)]
    enum Action {
        Record,
        Panic,
        Wait(Arc<Gate>),
    }

    #[derive(Debug)]
    struct Job {
        lane: u64,
        seq: u64,
        action: Action,
    }

    fn job(lane: u64, seq: u64) -> Job {
        Job {
            lane,
            seq,
            action: Action::Record,
        }
    }

    fn gated(lane: u64, gate: &Arc<Gate>) -> Job {
        Job {
            lane,
            seq: 0,
            action: Action::Wait(Arc::clone(gate)),
        }
    }

    /// Blocks lanes 1..=`lanes` at `gate`, one call each, waiting for each
    /// to be running: each blocked job stalls its worker and the next one
    /// is started.
    fn block_lanes(pool: &Pool<Job>, work: &Recorder, gate: &Arc<Gate>, lanes: u64) {
        for lane in 1..=lanes {
            pool.submit(lane, gated(lane, gate), JobKind::Call).unwrap();
            assert!(eventually(
                || work.waiting.load(Ordering::SeqCst) == lane as usize
            ));
        }
    }

    /// Records (lane, seq) of each job it runs or drains; counts the jobs
    /// waiting at a gate.
    #[derive(Default)]
    struct Recorder {
        ran: Mutex<Vec<(u64, u64)>>,
        drained: Mutex<Vec<(u64, u64)>>,
        waiting: AtomicUsize,
    }

    impl Work<Job> for Recorder {
        fn run(&self, job: Job) {
            match &job.action {
                Action::Record => {}
                Action::Panic => panic!("job asked to panic"),
                Action::Wait(gate) => {
                    self.waiting.fetch_add(1, Ordering::SeqCst);
                    gate.pass();
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                }
            }
            self.ran.lock().unwrap().push((job.lane, job.seq));
        }
        fn drain(&self, job: Job) {
            self.drained.lock().unwrap().push((job.lane, job.seq));
        }
    }

    impl Recorder {
        fn ran(&self) -> Vec<(u64, u64)> {
            self.ran.lock().unwrap().clone()
        }
        fn ran_in(&self, lane: u64) -> usize {
            self.ran().iter().filter(|(l, _)| *l == lane).count()
        }
    }

    /// Waits (up to 10 s) until `ok` holds; whether it did.
    fn eventually(ok: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while !ok() {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn config(workers: usize, max_workers: usize, capacity: usize) -> PoolConfig {
        PoolConfig {
            workers,
            max_workers,
            capacity,
            ..PoolConfig::default()
        }
    }

    fn start(config: PoolConfig) -> (Pool<Job>, Arc<Recorder>) {
        let work = Arc::new(Recorder::default());
        let pool = Pool::start("pool-test", config, Arc::clone(&work)).unwrap();
        (pool, work)
    }

    #[test]
    fn jobs_of_one_lane_run_in_queue_order_under_many_producers() {
        let (pool, work) = start(config(4, 4, 100_000));
        std::thread::scope(|s| {
            for producer in 0..8u64 {
                let pool = &pool;
                s.spawn(move || {
                    for seq in 0..2_000u64 {
                        let lane = producer * 1000 + seq % 7;
                        let kind = if seq % 5 == 0 {
                            JobKind::Call
                        } else {
                            JobKind::Notify
                        };
                        let mut next = job(lane, seq);
                        loop {
                            match pool.submit(lane, next, kind) {
                                Ok(()) => break,
                                Err(Rejected::Full(j) | Rejected::Saturated(j)) => next = j,
                                Err(Rejected::Closed(_)) => panic!("pool closed"),
                            }
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
        pool.stop(Stop::Finish);
        let ran = work.ran();
        assert_eq!(ran.len(), 16_000);
        let mut last: HashMap<u64, u64> = HashMap::new();
        for (lane, seq) in ran {
            if let Some(prev) = last.insert(lane, seq) {
                assert!(prev < seq, "lane {lane}: {seq} ran after {prev}");
            }
        }
        assert_eq!(last.len(), 56);
    }

    #[test]
    fn a_blocked_lane_holds_up_only_its_own_jobs() {
        let (pool, work) = start(config(2, 2, 1000));
        let (gate, _open) = new_gate();
        pool.submit(1, gated(1, &gate), JobKind::Call).unwrap();
        pool.submit(1, job(1, 1), JobKind::Notify).unwrap();
        assert!(eventually(|| work.waiting.load(Ordering::SeqCst) == 1));
        for seq in 0..100 {
            pool.submit(2 + seq % 10, job(2 + seq % 10, seq), JobKind::Call)
                .unwrap();
        }
        // Every job of the other lanes runs while lane 1's first job is
        // still blocked, and its second waits behind it.
        assert!(eventually(|| work.ran().len() == 100));
        assert_eq!(work.ran_in(1), 0);
        gate.open();
        assert!(eventually(|| work.ran_in(1) == 2));
        assert_eq!(
            work.ran()
                .iter()
                .filter(|(l, _)| *l == 1)
                .collect::<Vec<_>>(),
            vec![&(1, 0), &(1, 1)]
        );
        pool.stop(Stop::Drain);
    }

    #[test]
    fn a_worker_is_added_when_every_warm_worker_is_blocked() {
        let (pool, work) = start(config(2, 8, 1000));
        let (gate, _open) = new_gate();
        pool.submit(1, gated(1, &gate), JobKind::Call).unwrap();
        pool.submit(2, gated(2, &gate), JobKind::Call).unwrap();
        assert!(eventually(|| work.waiting.load(Ordering::SeqCst) == 2));
        assert_eq!(pool.workers(), 2);
        for seq in 0..20 {
            pool.submit(3, job(3, seq), JobKind::Call).unwrap();
        }
        assert!(eventually(|| work.ran_in(3) == 20), "lane 3 never ran");
        assert_eq!(pool.workers(), 3, "one worker in place of the two stalled");
        gate.open();
        pool.stop(Stop::Drain);
    }

    /// Counts the jobs running at once.
    #[derive(Default)]
    struct Overlap {
        now: AtomicUsize,
        most: AtomicUsize,
        done: AtomicUsize,
    }

    impl Work<u64> for Overlap {
        fn run(&self, _lane: u64) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            // Computing, never blocked: no stall.
            let until = Instant::now() + Duration::from_micros(50);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.done.fetch_add(1, Ordering::SeqCst);
        }
        fn drain(&self, _lane: u64) {}
    }

    #[test]
    fn no_more_jobs_run_at_once_than_warm_workers_while_none_stalls() {
        let work = Arc::new(Overlap::default());
        let pool = Pool::start("pool-test", config(2, 8, 10_000), Arc::clone(&work)).unwrap();
        for round in 0..20 {
            for lane in 0..50 {
                pool.submit(lane, lane, JobKind::Call).unwrap();
            }
            if round % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(eventually(|| work.done.load(Ordering::SeqCst) == 1000));
        assert!(
            work.most.load(Ordering::SeqCst) <= 2,
            "{} at once",
            work.most.load(Ordering::SeqCst)
        );
        assert_eq!(pool.workers(), 2);
        pool.stop(Stop::Drain);
    }

    #[test]
    fn calls_are_refused_past_the_maximum_and_notifications_queue() {
        let (pool, work) = start(config(1, 3, 1000));
        let (gate, _open) = new_gate();
        block_lanes(&pool, &work, &gate, 3);
        assert_eq!(pool.workers(), 3);
        // Once the manager has seen all three stalled, calls are refused at
        // once; until then they queue.
        let queued_calls = AtomicUsize::new(0);
        assert!(eventually(|| {
            match pool.submit(9, job(9, 0), JobKind::Call) {
                Ok(()) => {
                    queued_calls.fetch_add(1, Ordering::SeqCst);
                    false
                }
                Err(Rejected::Saturated(_)) => true,
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }));
        pool.submit(10, job(10, 0), JobKind::Notify).unwrap();
        assert_eq!(pool.workers(), 3, "never more than the maximum");
        gate.open();
        assert!(eventually(|| work.ran_in(10) == 1));
        let queued_calls = queued_calls.load(Ordering::SeqCst);
        assert!(eventually(|| work.ran_in(9) == queued_calls));
        pool.submit(9, job(9, 1), JobKind::Call).unwrap();
        assert!(eventually(|| work.ran_in(9) == queued_calls + 1));
        pool.stop(Stop::Drain);
    }

    #[test]
    fn extra_workers_exit_after_keep_alive_idle() {
        let config = PoolConfig {
            keep_alive: Duration::from_millis(50),
            ..config(1, 4, 1000)
        };
        let (pool, work) = start(config);
        let (gate, _open) = new_gate();
        block_lanes(&pool, &work, &gate, 3);
        assert_eq!(pool.workers(), 3);
        gate.open();
        assert!(
            eventually(|| pool.workers() == 1),
            "extra workers stayed: {}",
            pool.debug_state()
        );
        // The warm worker is still there.
        pool.submit(5, job(5, 0), JobKind::Call).unwrap();
        assert!(eventually(|| work.ran_in(5) == 1));
        pool.stop(Stop::Drain);
    }

    #[test]
    fn the_queued_jobs_of_all_lanes_are_bounded_and_a_full_pool_refuses_at_once() {
        let (pool, work) = start(config(1, 1, 3));
        let (gate, _open) = new_gate();
        pool.submit(0, gated(0, &gate), JobKind::Notify).unwrap();
        assert!(eventually(|| work.waiting.load(Ordering::SeqCst) == 1));
        let (mut accepted, mut refused) = (0, 0);
        for seq in 1..100 {
            match pool.submit(seq, job(seq, seq), JobKind::Notify) {
                Ok(()) => accepted += 1,
                Err(Rejected::Full(_)) => refused += 1,
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }
        assert_eq!((accepted, refused), (3, 96));
        assert_eq!(pool.depth(), 3);
        gate.open();
        pool.stop(Stop::Finish);
        assert_eq!(work.ran().len(), 4);
    }

    #[test]
    fn jobs_a_worker_took_with_the_one_it_runs_count_against_the_capacity() {
        let (pool, work) = start(config(1, 1, 5));
        let (first, _open_first) = new_gate();
        let (second, _open_second) = new_gate();
        pool.submit(9, gated(9, &first), JobKind::Notify).unwrap();
        assert!(eventually(|| work.waiting.load(Ordering::SeqCst) == 1));
        // Lane 0 fills while the only worker is busy: it takes them all
        // at once, the gated one first.
        pool.submit(0, gated(0, &second), JobKind::Notify).unwrap();
        for seq in 1..=3 {
            pool.submit(0, job(0, seq), JobKind::Notify).unwrap();
        }
        first.open();
        assert!(eventually(
            || work.ran_in(9) == 1 && work.waiting.load(Ordering::SeqCst) == 1
        ));
        assert_eq!(pool.depth(), 3, "taken, not started: still queued");
        let accepted = (10..20)
            .filter(|&seq| pool.submit(seq, job(seq, seq), JobKind::Notify).is_ok())
            .count();
        assert_eq!(accepted, 2);
        assert_eq!(pool.depth(), 5);
        second.open();
        pool.stop(Stop::Finish);
        let lane0: Vec<u64> = work
            .ran()
            .iter()
            .filter(|(l, _)| *l == 0)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(lane0, vec![0, 1, 2, 3]);
        assert_eq!(work.ran().len(), 7);
        assert_eq!(pool.depth(), 0);
    }

    #[test]
    fn stop_finish_runs_every_queued_job() {
        let (pool, work) = start(config(1, 1, 100));
        let (gate, _open) = new_gate();
        pool.submit(0, gated(0, &gate), JobKind::Call).unwrap();
        assert!(eventually(|| work.waiting.load(Ordering::SeqCst) == 1));
        for seq in 1..=10 {
            pool.submit(seq % 3, job(seq % 3, seq), JobKind::Notify)
                .unwrap();
        }
        let opener = std::thread::spawn({
            let gate = Arc::clone(&gate);
            move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            }
        });
        pool.stop(Stop::Finish);
        opener.join().unwrap();
        assert_eq!(work.ran().len(), 11);
        assert!(work.drained.lock().unwrap().is_empty());
        assert!(matches!(
            pool.submit(0, job(0, 0), JobKind::Notify),
            Err(Rejected::Closed(_))
        ));
        pool.stop(Stop::Finish);
    }

    #[test]
    fn stop_drain_drains_what_is_queued_and_waits_for_what_runs() {
        let (pool, work) = start(config(2, 2, 100));
        let (gate, _open) = new_gate();
        pool.submit(0, gated(0, &gate), JobKind::Call).unwrap();
        assert!(eventually(|| work.waiting.load(Ordering::SeqCst) == 1));
        for seq in 1..=10 {
            pool.submit(0, job(0, seq), JobKind::Notify).unwrap();
        }
        let opener = std::thread::spawn({
            let gate = Arc::clone(&gate);
            move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            }
        });
        pool.stop(Stop::Drain);
        opener.join().unwrap();
        assert_eq!(work.ran(), vec![(0, 0)]);
        assert_eq!(work.drained.lock().unwrap().len(), 10);
        assert!(matches!(
            pool.submit(0, job(0, 0), JobKind::Call),
            Err(Rejected::Closed(_))
        ));
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_worker() {
        let (pool, work) = start(config(1, 1, 10));
        let panicking = Job {
            lane: 0,
            seq: 0,
            action: Action::Panic,
        };
        pool.submit(0, panicking, JobKind::Call).unwrap();
        pool.submit(0, job(0, 1), JobKind::Call).unwrap();
        assert!(eventually(|| work.ran().len() == 1));
        assert_eq!(pool.workers(), 1);
        pool.stop(Stop::Finish);
        assert_eq!(work.ran(), vec![(0, 1)]);
    }

    #[test]
    fn a_clientid_always_has_the_same_lane_and_no_clientid_a_lane_of_its_own() {
        let (pool, _work) = start(config(1, 1, 10));
        let a = pool.lane(Some(b"client-a"));
        assert_eq!(a, pool.lane(Some(b"client-a")));
        assert_ne!(a, pool.lane(Some(b"client-b")));
        let alone: HashSet<u64> = (0..100)
            .map(|i| pool.lane(if i % 2 == 0 { None } else { Some(b"") }))
            .collect();
        assert_eq!(alone.len(), 100);
        assert!(!alone.contains(&a));
    }

    #[test]
    fn options_fill_in_defaults_and_keep_the_maximum_at_least_the_size() {
        let none = PoolConfig::from_options(|_| Ok::<_, ()>(None)).unwrap();
        assert_eq!(none, PoolConfig::default());
        let set = PoolConfig::from_options(|o| {
            Ok::<_, ()>(match o {
                PoolOption::Size => Some(16),
                PoolOption::Max => Some(4),
                PoolOption::Capacity => Some(0),
                PoolOption::SpinUs => Some(0),
            })
        })
        .unwrap();
        assert_eq!(
            (set.workers, set.max_workers, set.capacity, set.spin),
            (16, 16, 1, Duration::ZERO)
        );
    }
}
