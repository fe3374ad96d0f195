//! Reports at most once per interval: a database that is down fails every
//! login and every write, and one line per interval says so as well as a
//! thousand would.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::DbError;

pub struct Throttle {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttle {
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Runs `report` with the number of events held back since the last
    /// report, unless one ran less than the interval ago (then counts this one).
    pub fn hit(&self, report: impl FnOnce(u64)) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| now.duration_since(at) < self.interval) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        drop(last);
        report(self.suppressed.swap(0, Ordering::Relaxed));
    }
}

/// Whether the database answers, shared by logins, the ACL refresh and
/// the writer, so that an outage is logged once per interval in all, and
/// so is its end (with SQLite a write lock fails writes while reads go
/// on, and the state flips at every login).
pub struct Health {
    what: String,
    down: AtomicBool,
    failures: Throttle,
    recoveries: Throttle,
}

impl Health {
    pub fn new(what: String, interval: Duration) -> Health {
        Health {
            what,
            down: AtomicBool::new(false),
            failures: Throttle::new(interval),
            recoveries: Throttle::new(interval),
        }
    }

    /// The database failed to answer (`e` is transient).
    pub fn failed(&self, e: &DbError) {
        self.down.store(true, Ordering::Release);
        self.failures.hit(|held_back| {
            if held_back == 0 {
                log::error!("{} unavailable: {e}", self.what);
            } else {
                log::error!(
                    "{} still unavailable: {e} ({held_back} more failures since the last report)",
                    self.what
                );
            }
        });
    }

    /// The database answered.
    pub fn ok(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::AcqRel) {
            self.recoveries
                .hit(|_| log::warn!("{} available again", self.what));
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_per_interval_and_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_millis(50));
        let mut reports = Vec::new();
        for _ in 0..100 {
            throttle.hit(|n| reports.push(n));
        }
        assert_eq!(reports, vec![0], "one report in the first interval");
        std::thread::sleep(Duration::from_millis(60));
        throttle.hit(|n| reports.push(n));
        assert_eq!(
            reports,
            vec![0, 99],
            "the next one tells how many were held back"
        );
    }
}
