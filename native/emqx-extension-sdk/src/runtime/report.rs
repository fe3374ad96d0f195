//! Reports of calls that went wrong (panics, timeouts, overruns, full
//! queues, bad input), sent to the plugin's reporter process, which logs
//! them. At most [`BURST`] reports a second per driver reach the log; the
//! rest are counted and the count goes with the next report.

use rustler::env::OwnedEnv;
use rustler::{Encoder, Env, LocalPid, Term};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const BURST: u32 = 10;
const WINDOW: Duration = Duration::from_secs(1);

mod atoms {
    rustler::atoms! { exhook_report }
}

/// What went wrong.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Panic,
    /// The handler gave up on a call (`emqx_extension_sdk::fail`).
    Failed,
    BadInput,
    Timeout,
    Overran,
    QueueFull,
    Saturated,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Panic => "panic",
            Kind::Failed => "failed",
            Kind::BadInput => "bad_input",
            Kind::Timeout => "timeout",
            Kind::Overran => "overran",
            Kind::QueueFull => "queue_full",
            Kind::Saturated => "saturated",
        }
    }
}

/// One report: never carries a password or a payload.
pub(crate) struct Report<'r> {
    pub kind: Kind,
    pub hook: &'static str,
    pub client: &'r str,
    pub detail: &'r str,
}

pub(crate) struct Reporter {
    driver: String,
    pid: Option<LocalPid>,
    window: Mutex<(Instant, u32)>,
    suppressed: AtomicU64,
}

impl Reporter {
    pub(crate) fn new(driver: String, pid: Option<LocalPid>) -> Reporter {
        Reporter {
            driver,
            pid,
            window: Mutex::new((Instant::now(), 0)),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a report may go out now; counts it as suppressed if not.
    fn admit(&self) -> Option<u64> {
        self.pid?;
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(window.0) >= WINDOW {
            *window = (now, 0);
        }
        if window.1 < BURST {
            window.1 += 1;
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    fn message<'a>(&self, env: Env<'a>, r: &Report, suppressed: u64) -> Term<'a> {
        (
            atoms::exhook_report(),
            self.driver.as_str(),
            r.kind.name(),
            r.hook,
            r.client,
            r.detail,
            suppressed,
        )
            .encode(env)
    }

    /// Reports from inside a NIF call (a scheduler thread).
    pub(crate) fn send_from_nif(&self, env: Env, r: Report) {
        if let (Some(suppressed), Some(pid)) = (self.admit(), &self.pid) {
            let _ = env.send(pid, self.message(env, &r, suppressed));
        }
    }

    /// Reports from a thread of our own.
    pub(crate) fn send_from_thread(&self, r: Report) {
        if let (Some(suppressed), Some(pid)) = (self.admit(), &self.pid) {
            let mut env = OwnedEnv::new();
            let _ = env.send_and_clear(pid, |env| self.message(env, &r, suppressed));
        }
    }
}
