//! What a hand-off to the pool costs, printed (never asserted: machines
//! are shared and noisy). Run with
//!
//! ```text
//! cargo test --release -p emqx-extension-sdk handoff -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - sparse: one job per millisecond from one thread, which waits for the
//!   job's end either spinning for up to 50 µs (yielding now and then)
//!   before it sleeps, as a VM scheduler that busy-waits, or asleep on a
//!   condition variable at once, as one with `+sbwt none`;
//! - back to back: the same, the next job submitted as soon as one ends;
//! - bursts: two threads (two schedulers), each submitting 32 jobs of 32
//!   keys every millisecond and waiting for them: 64 sparse callers;
//! - idle: the CPU time of a pool of 8 workers over 10 s without jobs;
//! - notifications (nobody waits; 2 workers, as the benchmark's driver):
//!   one producer queueing 200 000 jobs of one lane (one client's
//!   events) as fast as it can, two producers queueing 100 000 each over
//!   64 lanes, and one producer queueing one job per millisecond. Submit
//!   is the producer's time in `submit` (one call in 8 timed back to
//!   back, every call sparse); through: jobs run per second from the
//!   first submit to the last job's end; CPU: the process's CPU time per
//!   job over the same time.
//!
//! Submit-to-start is the time from before `submit` to the worker's first
//! look at the job; submit-to-finish until the waiting thread saw it done.

use super::*;
use std::sync::atomic::AtomicU64;
use std::sync::Condvar;

/// A finished job's signal: a count, and a condition variable for a
/// waiter that sleeps.
#[derive(Default)]
struct Done {
    count: AtomicU64,
    lock: Mutex<()>,
    cond: Condvar,
}

struct Probe {
    submitted: Instant,
    done: Arc<Done>,
}

#[derive(Default)]
struct Starts {
    ns: Mutex<Vec<u64>>,
}

impl Work<Probe> for Starts {
    fn run(&self, job: Probe) {
        let started = job.submitted.elapsed().as_nanos() as u64;
        self.ns.lock().unwrap().push(started);
        job.done.count.fetch_add(1, Ordering::Release);
        let _guard = job.done.lock.lock().unwrap();
        job.done.cond.notify_all();
    }
    fn drain(&self, _job: Probe) {}
}

/// How long a waiter that spins does so before it sleeps: about what a
/// VM scheduler that busy-waits spends before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

#[derive(Clone, Copy)]
enum Wait {
    Spin,
    Sleep,
}

fn wait_for(done: &Done, target: u64, wait: Wait) {
    match wait {
        Wait::Spin => {
            let until = Instant::now() + SPIN;
            let mut spins = 0u32;
            while done.count.load(Ordering::Acquire) < target {
                if Instant::now() > until {
                    return wait_for(done, target, Wait::Sleep);
                }
                spins += 1;
                if spins.is_multiple_of(64) {
                    // As a VM scheduler that busy-waits gives way now and then.
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        Wait::Sleep => {
            let mut guard = done.lock.lock().unwrap();
            while done.count.load(Ordering::Acquire) < target {
                guard = done.cond.wait(guard).unwrap();
            }
        }
    }
}

fn submit(pool: &Pool<Probe>, key: u64, job: Probe) {
    let mut job = job;
    loop {
        match pool.submit(key, job, JobKind::Call) {
            Ok(()) => return,
            Err(Rejected::Full(j) | Rejected::Saturated(j)) => {
                job = j;
                std::thread::yield_now();
            }
            Err(Rejected::Closed(_)) => panic!("pool closed"),
        }
    }
}

fn pool(workers: usize) -> (Pool<Probe>, Arc<Starts>) {
    let work = Arc::new(Starts::default());
    let config = PoolConfig {
        workers,
        ..PoolConfig::default()
    };
    let pool = Pool::start("handoff", config, Arc::clone(&work)).unwrap();
    (pool, work)
}

fn quantiles(mut ns: Vec<u64>) -> String {
    ns.sort_unstable();
    let q = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    format!(
        "p50 {:7.2} µs  p99 {:7.2} µs  (n={})",
        q(0.5),
        q(0.99),
        ns.len()
    )
}

/// `n` jobs from one thread; `gap` between a job's end and the next submit.
fn one_caller(label: &str, workers: usize, n: usize, gap: Option<Duration>, wait: Wait) {
    let (pool, work) = pool(workers);
    let done = Arc::new(Done::default());
    let mut finish = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(gap) = gap {
            std::thread::sleep(gap);
        }
        let t0 = Instant::now();
        let job = Probe {
            submitted: t0,
            done: Arc::clone(&done),
        };
        submit(&pool, 7, job);
        wait_for(&done, i as u64 + 1, wait);
        finish.push(t0.elapsed().as_nanos() as u64);
    }
    pool.stop(Stop::Drain);
    let starts = std::mem::take(&mut *work.ns.lock().unwrap());
    println!("{label:<38} submit-to-start  {}", quantiles(starts));
    println!("{label:<38} submit-to-finish {}", quantiles(finish));
}

/// Two threads, each submitting `burst` jobs of distinct keys every
/// millisecond and waiting for them.
fn bursts(label: &str, workers: usize, rounds: usize, burst: u64, wait: Wait) {
    let (pool, work) = pool(workers);
    let finish = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for producer in 0..2u64 {
            let (pool, finish) = (&pool, &finish);
            s.spawn(move || {
                let done = Arc::new(Done::default());
                let mut mine = Vec::new();
                for round in 0..rounds as u64 {
                    std::thread::sleep(Duration::from_millis(1));
                    let t0 = Instant::now();
                    for k in 0..burst {
                        let job = Probe {
                            submitted: Instant::now(),
                            done: Arc::clone(&done),
                        };
                        submit(pool, producer * 1000 + k, job);
                    }
                    wait_for(&done, (round + 1) * burst, wait);
                    mine.push(t0.elapsed().as_nanos() as u64);
                }
                finish.lock().unwrap().extend(mine);
            });
        }
    });
    pool.stop(Stop::Drain);
    let starts = std::mem::take(&mut *work.ns.lock().unwrap());
    println!("{label:<38} submit-to-start  {}", quantiles(starts));
    println!(
        "{label:<38} burst-to-last    {}",
        quantiles(finish.into_inner().unwrap())
    );
}

/// utime + stime of this process's threads whose name starts with `prefix`, in clock ticks.
fn threads_cpu_ticks(prefix: &str) -> (u64, usize) {
    let mut ticks = 0;
    let mut threads = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !comm.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis start at field 3.
        let after = stat.rsplit_once(") ").map_or("", |(_, a)| a);
        let fields: Vec<&str> = after.split(' ').collect();
        let get = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += get(11) + get(12);
        threads += 1;
    }
    (ticks, threads)
}

fn idle_cpu(secs: u64) {
    let (pool, _work) = pool(8);
    // Every worker has run and gone idle.
    let done = Arc::new(Done::default());
    for i in 0..64 {
        let job = Probe {
            submitted: Instant::now(),
            done: Arc::clone(&done),
        };
        submit(&pool, i, job);
    }
    wait_for(&done, 64, Wait::Sleep);
    std::thread::sleep(Duration::from_millis(200));
    let (t0, threads) = threads_cpu_ticks("handoff");
    std::thread::sleep(Duration::from_secs(secs));
    let (t1, _) = threads_cpu_ticks("handoff");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let pct = (t1 - t0) as f64 / hz / secs as f64 * 100.0;
    println!(
        "idle pool, {threads} threads, {secs} s                 CPU {pct:.3} % of a core ({} ticks)",
        t1 - t0
    );
    pool.stop(Stop::Drain);
}

#[test]
#[ignore = "a benchmark: prints numbers"]
fn handoff_latency_and_idle_cpu() {
    let ms = Some(Duration::from_millis(1));
    one_caller("sparse, 1 caller, waiter spins", 8, 2000, ms, Wait::Spin);
    one_caller("sparse, 1 caller, waiter sleeps", 8, 2000, ms, Wait::Sleep);
    one_caller(
        "back to back, 1 caller, waiter spins",
        8,
        200_000,
        None,
        Wait::Spin,
    );
    one_caller(
        "back to back, 1 caller, waiter sleeps",
        8,
        100_000,
        None,
        Wait::Sleep,
    );
    bursts("64 sparse callers, waiters spin", 8, 2000, 32, Wait::Spin);
    bursts("64 sparse callers, waiters sleep", 8, 2000, 32, Wait::Sleep);
    idle_cpu(10);
}

/// Counts the jobs it runs.
#[derive(Default)]
struct Count {
    done: AtomicU64,
}

impl Work<u64> for Count {
    fn run(&self, _job: u64) {
        self.done.fetch_add(1, Ordering::Release);
    }
    fn drain(&self, _job: u64) {}
}

/// This process's CPU time (all threads).
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// `producers` threads each queue `per_producer` notifications over
/// `lanes` lanes (one after the other: lane `i % lanes`) as fast as they
/// can, or with `gap` between two; a full queue is retried.
fn notifications(
    label: &str,
    producers: u64,
    per_producer: u64,
    lanes: u64,
    gap: Option<Duration>,
) {
    let work = Arc::new(Count::default());
    let config = PoolConfig {
        workers: 2,
        capacity: 131_072,
        ..PoolConfig::default()
    };
    let pool = Pool::start("handoff", config, Arc::clone(&work)).unwrap();
    let stride = if gap.is_some() { 1 } else { 8 };
    let submit_ns = Mutex::new(Vec::new());
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for producer in 0..producers {
            let (pool, submit_ns) = (&pool, &submit_ns);
            s.spawn(move || {
                let mut mine = Vec::new();
                for i in 0..per_producer {
                    if let Some(gap) = gap {
                        std::thread::sleep(gap);
                    }
                    let lane = producer * 1000 + i % lanes;
                    let mut job = lane;
                    let timed = i % stride == 0;
                    let started = Instant::now();
                    loop {
                        match pool.submit(lane, job, JobKind::Notify) {
                            Ok(()) => break,
                            Err(Rejected::Full(j) | Rejected::Saturated(j)) => job = j,
                            Err(Rejected::Closed(_)) => panic!("pool closed"),
                        }
                        std::thread::yield_now();
                    }
                    if timed {
                        mine.push(started.elapsed().as_nanos() as u64);
                    }
                }
                submit_ns.lock().unwrap().extend(mine);
            });
        }
    });
    let total = producers * per_producer;
    while work.done.load(Ordering::Acquire) < total {
        std::thread::yield_now();
    }
    let elapsed = t0.elapsed();
    let cpu = process_cpu() - cpu0;
    pool.stop(Stop::Drain);
    println!(
        "{label:<38} submit {}  through {:8.0} k/s  CPU {:5.2} µs/job",
        quantiles(submit_ns.into_inner().unwrap()),
        total as f64 / elapsed.as_secs_f64() / 1000.0,
        cpu.as_secs_f64() * 1e6 / total as f64
    );
}

#[test]
#[ignore = "a benchmark: prints numbers"]
fn handoff_notifications() {
    for _ in 0..3 {
        notifications("notify b2b, 1 producer, 1 lane", 1, 200_000, 1, None);
        notifications("notify b2b, 2 producers, 64 lanes", 2, 100_000, 32, None);
        notifications(
            "notify sparse, 1 producer",
            1,
            2000,
            1,
            Some(Duration::from_millis(1)),
        );
    }
}
