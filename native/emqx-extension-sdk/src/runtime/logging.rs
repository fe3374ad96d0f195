//! Handlers log with the `log` crate; this is the logger each handler
//! library installs, which hands the records to the broker's logger (OTP
//! `logger`, `emqx.log` in EMQX).
//!
//! - A record below the broker's level is never formatted: the `log`
//!   macros compare it with `log::max_level()`, which follows the
//!   broker's level (the plugin pushes it at enable and when it changes).
//! - A record is formatted on the calling thread and pushed into a bounded
//!   queue, never blocking (a full queue drops it and counts it). A
//!   thread of the library's own takes the records in batches and sends
//!   them on: as one message to the plugin's log process (NIF transport),
//!   or as `{log, Level, Text, Meta}` frames (Port transport). Dropped
//!   records are reported once per second.
//! - A record made during a hook call carries the driver, the hook and
//!   the clientid as metadata; one from another thread (a thread the
//!   handler started), the driver the library last served.
//! - The handler crate's own records pass at every level; its
//!   dependencies' (a database client logging each statement's parameters
//!   at debug, say) at info and above only.

use crate::hook::Hook;
use crossbeam_channel::{Receiver, Sender};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Records the queue holds before it drops them.
const CAPACITY: usize = 8192;
/// Records sent in one message or burst of frames.
const BATCH: usize = 256;
/// How often dropped records are reported.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// One log record, formatted.
pub(crate) struct Record {
    pub level: log::Level,
    pub text: String,
    pub target: String,
    pub driver: Option<String>,
    pub hook: Option<&'static str>,
    pub client: Option<String>,
    /// For the report of dropped records: how many.
    pub dropped: u64,
}

/// Where the library's records go.
pub(crate) trait Sink: Send + 'static {
    /// Sends a batch of records, in order.
    fn send(&mut self, batch: Vec<Record>);
}

/// The library's logger: one per library copy (each has its own `log`).
/// It lives as long as the library, in a static that is never dropped, so
/// what it allocates (the queue, records) exists only while its thread
/// runs: a library is unloaded and loaded again at each reload.
struct BrokerLog {
    /// The queue, while the forwarding thread runs.
    queue: RwLock<Option<Sender<Record>>>,
    /// Records dropped since the library was loaded.
    dropped: AtomicU64,
    /// The driver the library last served, for records made outside a call.
    driver: Mutex<Option<String>>,
    /// The forwarding thread, and how to stop it.
    forwarder: Mutex<Option<(Sender<()>, std::thread::JoinHandle<()>)>>,
}

static LOGGER: OnceLock<BrokerLog> = OnceLock::new();

/// The handler crate's name, as `export_handler!` gives it.
static OWN_CRATE: OnceLock<&'static str> = OnceLock::new();

/// Records which crate is the handler's own.
pub(crate) fn own_crate(name: &'static str) {
    let _ = OWN_CRATE.set(name);
}

/// Whether a record of `target` at `level` goes to the broker: a module
/// path of another crate than the handler's (`crate::module`) only at info
/// and above; any other target (the handler's own, `stdout`, a driver's
/// name) at every level.
fn admitted(target: &str, level: log::Level) -> bool {
    if level <= log::Level::Info {
        return true;
    }
    match target.split_once("::") {
        Some((krate, _)) => OWN_CRATE.get().is_some_and(|own| *own == krate),
        None => true,
    }
}

/// What a hook call tells the logger about itself, for the records the
/// handler makes during it.
pub(crate) struct Scope<'s> {
    pub driver: &'s str,
    pub hook: Hook,
    /// The clientid, computed only when a record is made.
    pub client: &'s dyn Fn() -> Option<String>,
}

thread_local! {
    /// The scope of the call this thread runs, if any. A raw pointer, not
    /// a value with a destructor: a thread-local destructor registered on
    /// a VM scheduler thread would pin this library in memory forever.
    static SCOPE: Cell<*const Scope<'static>> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with `scope` as this thread's call scope.
pub(crate) fn with_scope<R>(scope: &Scope<'_>, f: impl FnOnce() -> R) -> R {
    struct Restore(*const Scope<'static>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPE.with(|s| s.set(self.0));
        }
    }
    // The pointer is read only by `log` below, on this thread, while `f`
    // runs: `scope` outlives that, and `Restore` puts the previous one back
    // even if `f` unwinds.
    let erased = (scope as *const Scope<'_>).cast::<Scope<'static>>();
    let _restore = Restore(SCOPE.with(|s| s.replace(erased)));
    f()
}

fn current_scope<R>(f: impl FnOnce(Option<&Scope<'_>>) -> R) -> R {
    let ptr = SCOPE.with(Cell::get);
    // SAFETY: a non-null pointer was set by `with_scope` on this thread,
    // which is still running `f` (this function is reached from inside
    // it), so the scope it points at is alive and not mutated.
    f(unsafe { ptr.as_ref() })
}

/// Installs the library's logger (once) and starts its forwarding thread
/// towards `sink` (again after [`stop`]); `level` is the broker's.
pub(crate) fn start(sink: Box<dyn Sink>, level: log::LevelFilter, driver: &str) {
    let logger = LOGGER.get_or_init(|| BrokerLog {
        queue: RwLock::new(None),
        dropped: AtomicU64::new(0),
        driver: Mutex::new(None),
        forwarder: Mutex::new(None),
    });
    let _ = log::set_logger(logger);
    log::set_max_level(level);
    *logger.driver.lock().unwrap_or_else(PoisonError::into_inner) = Some(driver.to_string());
    let mut forwarder = logger
        .forwarder
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if forwarder.is_some() {
        return;
    }
    let (queue, receiver) = crossbeam_channel::bounded(CAPACITY);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    let spawned = super::own_thread::on_own_thread(move || {
        std::thread::Builder::new()
            .name("exhook-log".into())
            .spawn(move || forward(&receiver, &stop_rx, sink))
    });
    if let Ok(Ok(handle)) = spawned {
        *forwarder = Some((stop_tx, handle));
        *logger.queue.write().unwrap_or_else(PoisonError::into_inner) = Some(queue);
    }
}

/// Sends what is queued, stops the forwarding thread and frees the queue
/// (the library may be unloaded after); records made until the next
/// [`start`] are dropped and counted.
pub(crate) fn stop() {
    let Some(logger) = LOGGER.get() else {
        return;
    };
    // Closing the queue ends the thread once it has sent what it holds.
    logger
        .queue
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let running = logger
        .forwarder
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some((stop, handle)) = running {
        let _ = stop.send(());
        let _ = handle.join();
    }
}

/// Whether the library's logger runs (has a forwarding thread).
pub(crate) fn installed() -> bool {
    LOGGER.get().is_some_and(|l| {
        l.queue
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    })
}

/// Follows the broker's level.
pub(crate) fn set_level(level: log::LevelFilter) {
    log::set_max_level(level);
}

/// Records dropped since the library was loaded.
pub(crate) fn dropped() -> u64 {
    LOGGER
        .get()
        .map_or(0, |l| l.dropped.load(Ordering::Relaxed))
}

/// The `log` level filter of an OTP logger level.
pub(crate) fn level_filter(otp: &str) -> log::LevelFilter {
    match otp {
        "all" | "debug" => log::LevelFilter::Trace,
        "info" => log::LevelFilter::Info,
        "notice" | "warning" => log::LevelFilter::Warn,
        "error" => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    }
}

/// The OTP logger level a record is logged at (`trace` is `debug`).
pub(crate) fn otp_level(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error",
        log::Level::Warn => "warning",
        log::Level::Info => "info",
        log::Level::Debug | log::Level::Trace => "debug",
    }
}

fn forward(receiver: &Receiver<Record>, stop: &Receiver<()>, mut sink: Box<dyn Sink>) {
    let mut reported = 0;
    let mut last_report = Instant::now();
    let mut stopping = false;
    loop {
        let first = if stopping {
            receiver.try_recv().ok()
        } else {
            crossbeam_channel::select! {
                recv(receiver) -> record => match record {
                    Ok(record) => Some(record),
                    // Closed by `stop`: what is left is sent, then the thread ends.
                    Err(_) => { stopping = true; None }
                },
                recv(stop) -> _ => { stopping = true; receiver.try_recv().ok() }
                default(REPORT_EVERY) => None,
            }
        };
        let mut batch: Vec<Record> = first.into_iter().collect();
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        if last_report.elapsed() >= REPORT_EVERY {
            let dropped = dropped();
            if dropped > reported {
                batch.push(dropped_report(dropped - reported));
                reported = dropped;
            }
            last_report = Instant::now();
        }
        if !batch.is_empty() {
            sink.send(batch);
        } else if stopping {
            return;
        }
    }
}

fn dropped_report(count: u64) -> Record {
    Record {
        level: log::Level::Warn,
        text: format!("{count} log records of the handler were dropped: its log queue was full"),
        target: "emqx_extension_hook".into(),
        driver: LOGGER.get().and_then(|l| {
            l.driver
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }),
        hook: None,
        client: None,
        dropped: count,
    }
}

impl log::Log for BrokerLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level() && admitted(metadata.target(), metadata.level())
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let (driver, hook, client) = current_scope(|scope| match scope {
            Some(s) => (
                Some(s.driver.to_string()),
                Some(s.hook.name()),
                (s.client)(),
            ),
            None => (
                self.driver
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
                None,
                None,
            ),
        });
        let entry = Record {
            level: record.level(),
            text: record.args().to_string(),
            target: record.target().to_string(),
            driver,
            hook,
            client,
            dropped: 0,
        };
        let queued = match &*self.queue.read().unwrap_or_else(PoisonError::into_inner) {
            Some(queue) => queue.try_send(entry).is_ok(),
            None => false,
        };
        if !queued {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

/// `print!` for handlers: the text goes to the broker's logger at info,
/// one record per line (what `#[handler]` turns `print!` and `println!`
/// inside a handler's methods into).
#[doc(hidden)]
pub fn print_line(text: std::fmt::Arguments<'_>, stderr: bool) {
    let text = text.to_string();
    let level = if stderr {
        log::Level::Warn
    } else {
        log::Level::Info
    };
    for line in text.lines().filter(|l| !l.is_empty()) {
        log::log!(target: "stdout", level, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_debug_records_are_kept_out() {
        own_crate("my_handler");
        assert!(admitted("my_handler::db", log::Level::Debug));
        assert!(admitted("my_handler", log::Level::Trace));
        assert!(admitted("stdout", log::Level::Debug));
        assert!(!admitted("tokio_postgres::query", log::Level::Debug));
        assert!(admitted("tokio_postgres::query", log::Level::Info));
        assert!(admitted("tokio_postgres::query", log::Level::Error));
    }

    #[test]
    fn otp_levels_map_to_log_filters_and_back() {
        assert_eq!(level_filter("warning"), log::LevelFilter::Warn);
        assert_eq!(level_filter("notice"), log::LevelFilter::Warn);
        assert_eq!(level_filter("debug"), log::LevelFilter::Trace);
        assert_eq!(level_filter("none"), log::LevelFilter::Off);
        assert_eq!(level_filter("critical"), log::LevelFilter::Off);
        assert_eq!(otp_level(log::Level::Trace), "debug");
        assert_eq!(otp_level(log::Level::Warn), "warning");
    }
}
