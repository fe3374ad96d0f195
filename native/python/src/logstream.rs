//! Where Python's output goes: `print()` (info), `sys.stderr` (warning) and
//! `logging` records (their own level) become records of the `log` crate,
//! one per line, whose target is the name of the driver the thread is
//! working for (`python` on threads a handler started itself).
//!
//! Nothing here blocks or grows without bound: a partial line is kept per
//! thread (so lines printed by concurrent calls never interleave) up to
//! [`MAX_LINE`] bytes, and a longer line is cut into records of that size.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The longest record a line makes, in bytes; longer lines are cut.
pub(crate) const MAX_LINE: usize = 8192;

/// The target of records from threads that work for no driver.
const NO_DRIVER: &str = "python";

thread_local! {
    /// The driver this thread is calling into, while it is.
    static DRIVER: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// Text written to stdout and stderr since the last newline.
    static PENDING: RefCell<[String; 2]> = const { RefCell::new([String::new(), String::new()]) };
}

/// Runs `f` with output attributed to `driver`.
pub(crate) fn with_driver<R>(driver: &Arc<str>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<str>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = DRIVER.try_with(|d| *d.borrow_mut() = previous);
        }
    }
    let previous = DRIVER.with(|d| d.borrow_mut().replace(Arc::clone(driver)));
    let _restore = Restore(previous);
    f()
}

fn log_line(level: log::Level, line: &str) {
    let line = cut(line);
    let driver = DRIVER.try_with(|d| d.borrow().clone()).ok().flatten();
    let target = driver.as_deref().unwrap_or(NO_DRIVER);
    log::log!(target: target, level, "{line}");
}

/// `text` cut to at most [`MAX_LINE`] bytes, on a character boundary.
fn cut(text: &str) -> &str {
    if text.len() <= MAX_LINE {
        return text;
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Which of the two streams.
#[derive(Clone, Copy)]
enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn level(self) -> log::Level {
        match self {
            Stream::Stdout => log::Level::Info,
            Stream::Stderr => log::Level::Warn,
        }
    }
}

/// Appends `text` to this thread's pending line of `stream`, logging every
/// line it completes.
fn write_text(stream: Stream, text: &str) {
    let level = stream.level();
    let _ = PENDING.try_with(|p| {
        let mut pending = p.borrow_mut();
        let buf = &mut pending[stream as usize];
        let mut rest = text;
        while let Some(newline) = rest.find('\n') {
            let line = &rest[..newline];
            if buf.is_empty() {
                log_line(level, line);
            } else {
                buf.push_str(line);
                log_line(level, buf);
                buf.clear();
            }
            rest = &rest[newline + 1..];
        }
        if !rest.is_empty() {
            buf.push_str(rest);
            if buf.len() >= MAX_LINE {
                log_line(level, buf);
                buf.clear();
            }
        }
    });
}

fn flush_pending(stream: Stream) {
    let _ = PENDING.try_with(|p| {
        let mut pending = p.borrow_mut();
        let buf = &mut pending[stream as usize];
        if !buf.is_empty() {
            log_line(stream.level(), buf);
            buf.clear();
        }
    });
}

/// `sys.stdout` / `sys.stderr`: a text stream whose lines go to the log.
#[pyclass(module = "_emqx_python_native", frozen)]
pub(crate) struct LogStream {
    stream: Stream,
}

impl LogStream {
    pub(crate) fn stdout() -> LogStream {
        LogStream {
            stream: Stream::Stdout,
        }
    }

    pub(crate) fn stderr() -> LogStream {
        LogStream {
            stream: Stream::Stderr,
        }
    }
}

#[pymethods]
impl LogStream {
    /// Writes `text`; every complete line becomes a log record.
    fn write(&self, text: &Bound<'_, PyString>) -> PyResult<usize> {
        write_text(self.stream, &text.to_cow()?);
        text.len()
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(line?.cast::<PyString>()?)?;
        }
        Ok(())
    }

    /// Logs the pending partial line, if any.
    fn flush(&self) {
        flush_pending(self.stream);
    }

    fn close(&self) {}

    fn isatty(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn readable(&self) -> bool {
        false
    }

    fn seekable(&self) -> bool {
        false
    }

    fn fileno(&self) -> PyResult<i32> {
        Err(PyOSError::new_err(
            "the broker's log stream has no file descriptor",
        ))
    }

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "strict"
    }

    #[getter]
    fn line_buffering(&self) -> bool {
        true
    }

    #[getter]
    fn name(&self) -> &'static str {
        match self.stream {
            Stream::Stdout => "<stdout>",
            Stream::Stderr => "<stderr>",
        }
    }
}

/// The `logging` handler's way out: one record at Python's `levelno`.
#[pyfunction]
pub(crate) fn emit_record(levelno: i32, text: &str) {
    let level = match levelno {
        40.. => log::Level::Error,
        30..=39 => log::Level::Warn,
        20..=29 => log::Level::Info,
        10..=19 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    log_line(level, text);
}

/// The `log` level the root logger's level was last made to follow
/// (`usize::MAX`: none yet).
static FOLLOWED: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The root logger's level as this library last set it (the support
/// code's `install` sets INFO).
static SET_TO: AtomicI64 = AtomicI64::new(20);

/// Python's level for a `log` level filter: records below it are never made.
fn python_level(filter: log::LevelFilter) -> i64 {
    match filter {
        log::LevelFilter::Off => 100,
        log::LevelFilter::Error => 40,
        log::LevelFilter::Warn => 30,
        log::LevelFilter::Info => 20,
        log::LevelFilter::Debug => 10,
        log::LevelFilter::Trace => 1,
    }
}

/// Makes the root logger's level follow the broker's (`log::max_level`,
/// which the SDK keeps at the broker's), so that a `logging` record below
/// it is never made; unless user code set the root level itself. One
/// atomic load when the level has not changed.
pub(crate) fn follow_broker_level(py: Python<'_>) {
    let filter = log::max_level();
    if FOLLOWED.load(Ordering::Relaxed) == filter as usize {
        return;
    }
    FOLLOWED.store(filter as usize, Ordering::Relaxed);
    let Ok(root) = py
        .import("logging")
        .and_then(|logging| logging.call_method0("getLogger"))
    else {
        return;
    };
    let current: Option<i64> = root.getattr("level").and_then(|l| l.extract()).ok();
    if current != Some(SET_TO.load(Ordering::Relaxed)) {
        return;
    }
    let level = python_level(filter);
    if root.call_method1("setLevel", (level,)).is_ok() {
        SET_TO.store(level, Ordering::Relaxed);
    }
}
