//! Per-hook counters and latency histograms of one driver, updated
//! lock-free from every thread that runs the driver's calls.

use crate::hook::Hook;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: a percentile is off by at most 1/8.
const SUB: u64 = 8;
/// Powers of two covered above the linear range: up to 2^40 ns (about 18 minutes).
const MAX_EXP: u64 = 40;
const BUCKETS: usize = (SUB + (MAX_EXP - 2) * SUB) as usize;

/// A log-linear histogram of durations in nanoseconds.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let exp = 63 - u64::from(ns.leading_zeros());
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (ns >> (exp - 3)) & (SUB - 1);
    (SUB + (exp - 3) * SUB + sub) as usize
}

/// The middle of bucket `index`, in nanoseconds.
fn bucket_mid(index: usize) -> f64 {
    let index = index as u64;
    if index < SUB {
        return index as f64;
    }
    let exp = (index - SUB) / SUB + 3;
    let sub = (index - SUB) % SUB;
    let low = (SUB + sub) << (exp - 3);
    let width = 1u64 << (exp - 3);
    low as f64 + width as f64 / 2.0
}

impl Histogram {
    pub(crate) fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile (0..=1) in microseconds; 0 when nothing was recorded.
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_mid(i) / 1000.0;
            }
        }
        bucket_mid(BUCKETS - 1) / 1000.0
    }
}

/// One hook's counters. Fold calls end in exactly one of succeeded,
/// failed, timed_out or dropped; notifications in succeeded, failed or
/// dropped. Dropped counts what the pool refused at once: a full queue,
/// or (fold calls) a saturated pool, which `saturated` counts again.
#[derive(Default)]
pub(crate) struct HookStats {
    pub calls: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    pub dropped: AtomicU64,
    /// Fold calls refused because every worker was stalled in a long call
    /// and the pool had as many as it may (also counted in `dropped`).
    pub saturated: AtomicU64,
    /// Inline and dirty calls that took longer than call_timeout (they
    /// cannot be interrupted, so they also count as succeeded or failed).
    pub overran: AtomicU64,
    /// Queued and not yet taken by a worker.
    pub queued: AtomicI64,
    pub latency: Histogram,
}

impl HookStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The counters of all 19 hooks of a driver.
pub(crate) struct DriverStats {
    hooks: Vec<HookStats>,
}

impl Default for DriverStats {
    fn default() -> Self {
        DriverStats {
            hooks: Hook::ALL.iter().map(|_| HookStats::default()).collect(),
        }
    }
}

impl DriverStats {
    pub(crate) fn hook(&self, hook: Hook) -> &HookStats {
        &self.hooks[usize::from(hook.index())]
    }
}

/// A copy of one hook's counters, for reporting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub calls: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub dropped: u64,
    pub saturated: u64,
    pub overran: u64,
    pub queued: i64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl HookStats {
    pub(crate) fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            calls: get(&self.calls),
            succeeded: get(&self.succeeded),
            failed: get(&self.failed),
            timed_out: get(&self.timed_out),
            dropped: get(&self.dropped),
            saturated: get(&self.saturated),
            overran: get(&self.overran),
            queued: self.queued.load(Ordering::Relaxed),
            p50_us: self.latency.quantile_us(0.5),
            p99_us: self.latency.quantile_us(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut last = 0;
        for ns in (0..100_000u64).chain([1 << 20, 1 << 30, (1 << 40) - 1]) {
            let b = bucket_of(ns);
            assert!(b >= last, "bucket of {ns} went down");
            last = b;
            let mid = bucket_mid(b);
            assert!(
                (mid - ns as f64).abs() <= ns as f64 / 8.0 + 1.0,
                "{ns} -> {mid}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_recorded_distribution() {
        let h = Histogram::default();
        assert_eq!(h.quantile_us(0.5), 0.0);
        for _ in 0..98 {
            h.record(Duration::from_micros(2));
        }
        h.record(Duration::from_millis(10));
        h.record(Duration::from_millis(10));
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((1.75..=2.25).contains(&p50), "p50 {p50}");
        assert!((8_750.0..=11_250.0).contains(&p99), "p99 {p99}");
    }
}
