//! Online status, history and messages are written by a thread of the
//! handler's own, in batches, off the broker's path: a hook only queues a
//! record (a lock and a push, no I/O).
//!
//! The queue is bounded by records and by bytes, counting the batch being
//! written: while the database is down records wait, in order, until the
//! bound, and the ones that find it full are dropped and counted. When the
//! database answers again the writer catches up by itself. Stopping writes
//! what is queued, trying for at most `flush_timeout`.

use crate::pool::Pool;
use crate::store::{DbError, Record};
use crate::throttle::Throttle;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The writer's counters.
///
/// ```
/// let stats = emqx_example_database::WriteStats::default();
/// assert_eq!(stats.dropped(), 0);
/// assert_eq!(stats.pairs()[0], ("waiting", 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Records queued or being written now.
    pub waiting: u64,
    /// Records written since the handler started.
    pub written: u64,
    /// Records dropped because the queue was full (the database was down
    /// or slower than the broker for too long).
    pub dropped_queue_full: u64,
    /// Records the database refused (a constraint, a value it cannot store).
    pub dropped_refused: u64,
    /// Records still queued when the handler stopped and the database did
    /// not take them within `flush_timeout`, or queued after it stopped.
    pub dropped_at_stop: u64,
    /// Batch writes that failed and were tried again.
    pub failed_writes: u64,
}

impl WriteStats {
    /// Every dropped record, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_refused + self.dropped_at_stop
    }

    /// Name and value of each counter, for a stats report.
    pub fn pairs(&self) -> [(&'static str, u64); 6] {
        [
            ("waiting", self.waiting),
            ("written", self.written),
            ("dropped_queue_full", self.dropped_queue_full),
            ("dropped_refused", self.dropped_refused),
            ("dropped_at_stop", self.dropped_at_stop),
            ("failed_writes", self.failed_writes),
        ]
    }
}

/// Sizes of the queue and its batches.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub batch_size: usize,
    pub batch_interval: Duration,
    pub flush_timeout: Duration,
}

pub struct WriteQueue {
    limits: Limits,
    state: Mutex<State>,
    wake: Condvar,
    waiting: AtomicUsize,
    waiting_bytes: AtomicUsize,
    written: AtomicU64,
    dropped_full: AtomicU64,
    dropped_refused: AtomicU64,
    dropped_at_stop: AtomicU64,
    failed_writes: AtomicU64,
    refused_log: Throttle,
}

struct State {
    items: VecDeque<(Record, usize)>,
    writer_asleep: bool,
    /// Set by `close`: write what is left, until this instant.
    flush_until: Option<Instant>,
}

/// How a batch ended.
enum Outcome {
    Written,
    Refused(DbError),
    GaveUp,
}

impl WriteQueue {
    pub fn new(limits: Limits, log_interval: Duration) -> WriteQueue {
        WriteQueue {
            limits,
            state: Mutex::new(State {
                items: VecDeque::new(),
                writer_asleep: false,
                flush_until: None,
            }),
            wake: Condvar::new(),
            waiting: AtomicUsize::new(0),
            waiting_bytes: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_refused: AtomicU64::new(0),
            dropped_at_stop: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
            refused_log: Throttle::new(log_interval),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `record`; false (and counted) when the queue is full or closed.
    /// Never blocks beyond the queue's lock, never does I/O.
    pub fn push(&self, record: Record) -> bool {
        let size = record.size();
        let count = self.waiting.fetch_add(1, Ordering::AcqRel);
        let bytes = self.waiting_bytes.fetch_add(size, Ordering::AcqRel);
        if count >= self.limits.max_records || bytes + size > self.limits.max_bytes {
            self.release(1, size);
            self.dropped_full.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut state = self.lock();
        if state.flush_until.is_some() {
            drop(state);
            self.release(1, size);
            self.dropped_at_stop.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        state.items.push_back((record, size));
        let wake = state.writer_asleep && state.items.len() >= self.limits.batch_size;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        true
    }

    fn release(&self, records: usize, bytes: usize) {
        self.waiting.fetch_sub(records, Ordering::AcqRel);
        self.waiting_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Stops taking records; the writer writes what is queued (for at most
    /// `flush_timeout`) and returns.
    pub fn close(&self) {
        let mut state = self.lock();
        if state.flush_until.is_none() {
            state.flush_until = Some(Instant::now() + self.limits.flush_timeout);
        }
        drop(state);
        self.wake.notify_all();
    }

    /// The next batch: waits until `batch_size` records are queued or
    /// `batch_interval` passed; `None` once closed and empty.
    fn next_batch(&self) -> Option<(Vec<Record>, usize)> {
        let mut state = self.lock();
        let until = Instant::now() + self.limits.batch_interval;
        while state.items.len() < self.limits.batch_size && state.flush_until.is_none() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state.writer_asleep = true;
            state = self
                .wake
                .wait_timeout(state, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.writer_asleep = false;
        }
        if state.items.is_empty() && state.flush_until.is_some() {
            return None;
        }
        let n = state.items.len().min(self.limits.batch_size);
        let mut bytes = 0;
        let batch = state
            .items
            .drain(..n)
            .map(|(record, size)| {
                bytes += size;
                record
            })
            .collect();
        Some((batch, bytes))
    }

    /// The writer thread's body: batches until closed and flushed.
    pub fn run_writer(&self, pool: &Pool, op_timeout: Duration) {
        while let Some((batch, bytes)) = self.next_batch() {
            if !batch.is_empty() {
                // A bug in a database library must not end the writer:
                // nothing would be written again, silently.
                let wrote = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.write_batch(pool, op_timeout, &batch)
                }));
                if wrote.is_err() {
                    self.count(&self.dropped_refused, batch.len());
                    log::error!(
                        "writing a batch panicked; its {} records are dropped",
                        batch.len()
                    );
                }
            }
            self.release(batch.len(), bytes);
        }
    }

    fn write_batch(&self, pool: &Pool, op_timeout: Duration, batch: &[Record]) {
        match self.write_with_retry(pool, op_timeout, batch) {
            Outcome::Written => self.count(&self.written, batch.len()),
            Outcome::GaveUp => self.count(&self.dropped_at_stop, batch.len()),
            // One record spoils the transaction: write them one by one to
            // keep the others.
            Outcome::Refused(_) => {
                for record in batch {
                    match self.write_with_retry(pool, op_timeout, std::slice::from_ref(record)) {
                        Outcome::Written => self.count(&self.written, 1),
                        Outcome::GaveUp => self.count(&self.dropped_at_stop, 1),
                        Outcome::Refused(e) => {
                            self.count(&self.dropped_refused, 1);
                            self.refused_log.hit(|held_back| {
                                log::error!(
                                    "the database refused a record, dropped: {e} \
                                     ({held_back} more since the last report)"
                                )
                            });
                        }
                    }
                }
            }
        }
    }

    fn count(&self, counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Tries until written, refused, or (when closing) past `flush_timeout`.
    fn write_with_retry(&self, pool: &Pool, op_timeout: Duration, records: &[Record]) -> Outcome {
        let mut pause = Duration::from_millis(50);
        loop {
            let deadline = Instant::now() + op_timeout;
            match pool.run(deadline, |conn| conn.write(records)) {
                Ok(()) => return Outcome::Written,
                Err(e) if !e.transient => return Outcome::Refused(e),
                Err(_) => {
                    self.failed_writes.fetch_add(1, Ordering::Relaxed);
                    if !self.pause(pause) {
                        return Outcome::GaveUp;
                    }
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Waits `pause` before trying again; false once closing and past the
    /// flush deadline.
    fn pause(&self, pause: Duration) -> bool {
        let state = self.lock();
        match state.flush_until {
            None => {
                let _ = self
                    .wake
                    .wait_timeout(state, pause)
                    .unwrap_or_else(PoisonError::into_inner);
                true
            }
            Some(until) => {
                drop(state);
                let now = Instant::now();
                if now >= until {
                    return false;
                }
                std::thread::sleep(pause.min(until - now));
                true
            }
        }
    }

    pub fn stats(&self) -> WriteStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WriteStats {
            waiting: self.waiting.load(Ordering::Relaxed) as u64,
            written: get(&self.written),
            dropped_queue_full: get(&self.dropped_full),
            dropped_refused: get(&self.dropped_refused),
            dropped_at_stop: get(&self.dropped_at_stop),
            failed_writes: get(&self.failed_writes),
        }
    }
}
