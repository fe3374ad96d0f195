//! What the Rust-level tests share: the process made to look like the
//! broker's VM before the interpreter starts, a logger that keeps every
//! record, drivers made from Python sources in temporary directories,
//! calls made on pool-like threads, and hook data from the SDK's test kit.
#![allow(dead_code)]

use emqx_extension_hook_python::PythonHandler;
use emqx_extension_sdk::testing::TestBroker;
use emqx_extension_sdk::{
    ClientInfo, Config, ConnInfo, Context, Handler, Hook, InitError, Message,
};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// One log record: level, target (the driver's name), text.
pub type Record = (log::Level, String, String);

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

struct Keeper;

impl log::Log for Keeper {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if let Ok(mut records) = RECORDS.lock() {
            records.push((
                record.level(),
                record.target().to_string(),
                record.args().to_string(),
            ));
        }
    }
    fn flush(&self) {}
}

extern "C" fn vm_sigterm(_: libc::c_int) {}

/// The address of the SIGTERM handler the stand-in VM installed: the one
/// `setup` took, since a function's address is not unique (the compiler
/// may give each codegen unit its own copy of `vm_sigterm`).
pub fn vm_sigterm_handler() -> libc::sighandler_t {
    static INSTALLED: OnceLock<libc::sighandler_t> = OnceLock::new();
    *INSTALLED.get_or_init(|| vm_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t)
}

/// The current disposition of `signal`.
pub fn disposition(signal: libc::c_int) -> libc::sighandler_t {
    // SAFETY: a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old);
        old.sa_sigaction
    }
}

/// Makes the process look like the broker's VM before any interpreter
/// starts: SIGCHLD ignored, a SIGTERM handler of its own; keeps log records.
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installs SIG_IGN for SIGCHLD and a handler that does nothing
        // for SIGTERM, as the VM does, before any other thread uses signals.
        unsafe {
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            libc::sigaction(libc::SIGCHLD, &ignore, std::ptr::null_mut());
            let mut term: libc::sigaction = std::mem::zeroed();
            term.sa_sigaction = vm_sigterm_handler();
            libc::sigaction(libc::SIGTERM, &term, std::ptr::null_mut());
        }
        log::set_logger(&Keeper).expect("the only logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Held by the tests that change or depend on state every driver of the
/// interpreter shares (`sys.stdout`, the root logger's level,
/// `log::max_level`): the tests of one binary share one interpreter and
/// run in parallel.
pub fn interpreter_wide_state() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every record logged for `target` so far.
pub fn records(target: &str) -> Vec<Record> {
    RECORDS
        .lock()
        .map(|r| r.iter().filter(|(_, t, _)| t == target).cloned().collect())
        .unwrap_or_default()
}

/// Waits up to 5 s for a record for `target` whose text contains `text`.
pub fn wait_record(target: &str, text: &str) -> Option<Record> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(r) = records(target)
            .into_iter()
            .find(|(_, _, t)| t.contains(text))
        {
            return Some(r);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh directory for one test's Python sources.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emqx-python-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes `source` as `dir/file`.
pub fn write(dir: &Path, file: &str, source: &str) {
    std::fs::write(dir.join(file), source).expect("write source");
}

/// The driver config a python3 driver gets: `path`, `init_module`, and `extra`.
pub fn config(name: &str, path: &str, module: &str, extra: &[(&str, &str)]) -> Config {
    let mut settings = vec![
        ("path".to_string(), path.to_string()),
        ("init_module".to_string(), module.to_string()),
        ("node".to_string(), "emqx@127.0.0.1".to_string()),
    ];
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::new(name, settings)
}

/// A driver `name` whose module `module` is `source`, in a fresh
/// directory, started as enabling it starts it.
pub fn driver(name: &str, module: &str, source: &str) -> TestBroker<PythonHandler> {
    setup();
    let dir = temp_dir(name);
    write(&dir, &format!("{module}.py"), source);
    broker(&config(name, &dir.to_string_lossy(), module, &[]))
}

pub fn init(config: &Config) -> Result<PythonHandler, InitError> {
    setup();
    PythonHandler::init(config)
}

/// The SDK's pool will give its workers 8 MiB stacks: calls run on such a thread.
pub fn on_pool_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn_scoped(s, f)
            .expect("thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Why `call` on `broker` got the failure policy instead of the handler's
/// answer (the handler gave up: its `fail` reason, as the broker's log gets
/// it), or None if the handler answered. Runs on a pool-like thread.
pub fn failed<R>(
    broker: &TestBroker<PythonHandler>,
    call: impl FnOnce(&TestBroker<PythonHandler>) -> R + Send,
) -> Option<String> {
    let before = broker.failures().len();
    on_pool_thread(|| {
        call(broker);
    });
    broker.failures().get(before).cloned()
}

pub fn ctx(hook: Hook) -> Context<'static> {
    Context::new(hook, "test", Instant::now() + Duration::from_secs(5))
}

/// A client as `client.authenticate` gets it (password `s3cret`).
pub fn client(clientid: &str, username: Option<&str>) -> ClientInfo<'static> {
    let built = ClientInfo::builder().clientid(clientid).password(b"s3cret");
    match username {
        Some(u) => built.username(u),
        None => built,
    }
    .build()
}

/// A connection as `client.connect` gets it.
pub fn conn(clientid: &str, username: Option<&str>) -> ConnInfo<'static> {
    let built = ConnInfo::builder().clientid(clientid);
    match username {
        Some(u) => built.username(u),
        None => built,
    }
    .build()
}

/// A QoS 1 message from `pubA` with a short id.
pub fn message(topic: &str, payload: &[u8]) -> Message<'static> {
    Message::builder()
        .id(vec![0, 6, 97, 35])
        .qos(1)
        .from("pubA")
        .topic(topic)
        .payload(payload.to_vec())
        .timestamp(1795654384903)
        .build()
}

/// The driver started as enabling it starts it, called as the broker
/// calls it (calls go through [`on_pool_thread`]).
pub fn broker(config: &Config) -> TestBroker<PythonHandler> {
    setup();
    TestBroker::start(config.clone()).unwrap_or_else(|e| panic!("{}: {e}", config.driver()))
}

/// Evaluates `expr` (Python) with the GIL and returns it as text (`str()`).
pub fn py_eval(expr: &str) -> String {
    use pyo3::prelude::*;
    let code = std::ffi::CString::new(expr).expect("no NUL");
    on_pool_thread(|| {
        Python::attach(|py| {
            py.eval(&code, None, None)
                .and_then(|v| v.str().map(|s| s.to_string()))
                .unwrap_or_else(|e| format!("error: {e}"))
        })
    })
}

/// Writes `source` as module `module` in a fresh directory for driver
/// `name`; the directory.
pub fn write_module(name: &str, module: &str, source: &str) -> String {
    let dir = temp_dir(name);
    write(&dir, &format!("{module}.py"), source);
    dir.to_string_lossy().into_owned()
}
