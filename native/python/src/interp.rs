//! The process's one CPython interpreter: started once, by a thread of its
//! own, and never finalised (the library is linked `-z nodelete`).
//!
//! Python runs only on threads that can take it: the driver's pool workers
//! (each keeps its Python thread state for its whole life, and releases the
//! GIL between calls so that threads a handler started can run), and short
//! threads of this library with 8 MiB stacks for a driver's `init` and
//! `deinit`. Never on the VM's schedulers, whose small stacks a deep Python
//! recursion would overflow, and which a GIL wait would stall.

use crate::hookargs::Terms;
use crate::logstream::{self, LogStream};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::sync::{mpsc, Arc, OnceLock};

/// The interpreter's prefix and executable, those of the Python this
/// library was built against (see build.rs).
const HOME: &str = env!("EMQX_PYTHON_HOME");
const EXECUTABLE: &str = env!("EMQX_PYTHON_EXECUTABLE");

/// Stack of the threads this library starts to run Python.
pub(crate) const STACK_SIZE: usize = 8 << 20;

/// The smallest stack Python may run on. The VM's schedulers have 1 MiB
/// (normal) or 320 KiB (dirty); a worker of the SDK's pool has at least
/// 2 MiB.
const MIN_STACK: usize = 2 << 20;

/// The Python support code, compiled into the library.
const SUPPORT: &[(&str, &str, bool)] = &[
    (
        "erlport",
        include_str!("../python/erlport/__init__.py"),
        true,
    ),
    (
        "erlport.erlterms",
        include_str!("../python/erlport/erlterms.py"),
        false,
    ),
    ("exhook", include_str!("../python/exhook.py"), false),
    (
        "_emqx_python_driver",
        include_str!("../python/_emqx_python_driver.py"),
        false,
    ),
];

/// The module of [`SUPPORT`] that drives the drivers.
pub(crate) const DRIVER_MODULE: &str = "_emqx_python_driver";

static STARTED: OnceLock<Result<(), String>> = OnceLock::new();

/// Starts the interpreter unless it runs already; `Err` says why it cannot.
pub(crate) fn ensure_started() -> Result<(), String> {
    STARTED.get_or_init(start).clone()
}

fn start() -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("python-main".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let started = initialise();
            let _ = tx.send(started);
            // Python's main thread stays: signal.signal() works on it alone,
            // and no user code ever runs here, so no handler can replace
            // the VM's signal handlers.
            loop {
                std::thread::park();
            }
        })
        .map_err(|e| format!("cannot start the python-main thread: {e}"))?;
    rx.recv()
        .map_err(|_| "the python-main thread died starting the interpreter".to_string())?
}

fn initialise() -> Result<(), String> {
    make_libpython_global()?;
    restore_sigchld();
    let vm_signals = SignalDispositions::save();
    // SAFETY: Py_IsInitialized may be called at any time.
    let ours = unsafe { ffi::Py_IsInitialized() } == 0;
    if ours {
        initialize_isolated()?;
    }
    // This thread holds the GIL after Py_InitializeFromConfig; pyo3's
    // attach finds that thread state and takes it over for the bootstrap.
    let booted = Python::attach(bootstrap).map_err(|e| format!("cannot start Python: {e}"));
    // Importing `signal` (which the bootstrap does, so that it happens
    // here) installs Python's SIGINT handler when SIGINT has its default
    // disposition, whatever the config says (CPython 3.11): the VM's
    // signals are put back as they were.
    vm_signals.restore();
    if ours {
        // SAFETY: this thread holds the GIL with the main thread state that
        // Py_InitializeFromConfig made; releasing it leaves that state to
        // this (parked) thread and lets the workers take the GIL.
        unsafe { ffi::PyEval_SaveThread() };
    }
    booted
}

/// Loads libpython's symbols into the global namespace, so that C extension
/// modules (`_sqlite3`, `_ssl`, `_json`, ...), which expect to find them
/// there, import; the VM loaded this library, and with it libpython, with
/// RTLD_LOCAL.
fn make_libpython_global() -> Result<(), String> {
    // SAFETY: dladdr only reads the loader's tables; `info` is written by it
    // on success. dlopen with RTLD_NOLOAD takes no new library, only another
    // reference (never closed) with RTLD_GLOBAL to one already mapped.
    unsafe {
        let mut info = MaybeUninit::<libc::Dl_info>::zeroed();
        let symbol = ffi::Py_IsInitialized as *const libc::c_void;
        if libc::dladdr(symbol, info.as_mut_ptr()) == 0 || info.assume_init().dli_fname.is_null() {
            return Err("cannot find libpython in the process".into());
        }
        let path = info.assume_init().dli_fname;
        let handle = libc::dlopen(path, libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD);
        if handle.is_null() {
            let lib = CStr::from_ptr(path).to_string_lossy();
            return Err(format!("cannot make {lib}'s symbols global"));
        }
    }
    Ok(())
}

/// The VM ignores SIGCHLD, which makes the kernel reap children at once:
/// `subprocess.run(...).returncode` would then be 0 whatever the child
/// did, and `os.waitpid` fail. Its default is restored (a handler, if one
/// is installed, is left alone). The VM's port programs are children of
/// its `erl_child_setup` process, not of the VM, so this changes nothing
/// for them.
fn restore_sigchld() {
    // SAFETY: sigaction with a null new action only reads the current one;
    // `old` is written by it. Setting SIG_DFL installs no code of ours.
    unsafe {
        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), old.as_mut_ptr()) != 0 {
            return;
        }
        if old.assume_init().sa_sigaction == libc::SIG_IGN {
            let mut dfl = MaybeUninit::<libc::sigaction>::zeroed().assume_init();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut dfl.sa_mask);
            libc::sigaction(libc::SIGCHLD, &dfl, std::ptr::null_mut());
        }
    }
}

/// Every signal's action, as the process had them before Python started.
struct SignalDispositions(Vec<(libc::c_int, libc::sigaction)>);

impl SignalDispositions {
    fn save() -> SignalDispositions {
        let signals = (1..libc::SIGRTMIN()).filter(|s| ![libc::SIGKILL, libc::SIGSTOP].contains(s));
        SignalDispositions(
            signals
                .filter_map(|signal| {
                    // SAFETY: a null new action only reads the current one into `old`.
                    unsafe {
                        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
                        (libc::sigaction(signal, std::ptr::null(), old.as_mut_ptr()) == 0)
                            .then(|| (signal, old.assume_init()))
                    }
                })
                .collect(),
        )
    }

    /// Puts back each action that changed since [`SignalDispositions::save`].
    fn restore(&self) {
        for (signal, saved) in &self.0 {
            // SAFETY: reads the current action, and reinstalls one the process
            // itself had installed before (no code of ours).
            unsafe {
                let mut now = MaybeUninit::<libc::sigaction>::zeroed();
                if libc::sigaction(*signal, std::ptr::null(), now.as_mut_ptr()) == 0
                    && now.assume_init().sa_sigaction != saved.sa_sigaction
                {
                    libc::sigaction(*signal, saved, std::ptr::null_mut());
                }
            }
        }
    }
}

/// Py_InitializeFromConfig with the isolated config: no environment
/// variables, no user site directory, no signal handlers (the VM's stay
/// the VM's), the C stdio left alone; home and executable those of the
/// Python this library was built against, not whatever is first on PATH.
fn initialize_isolated() -> Result<(), String> {
    let home = CString::new(HOME).map_err(|e| e.to_string())?;
    let executable = CString::new(EXECUTABLE).map_err(|e| e.to_string())?;
    // SAFETY: the config is initialised by PyConfig_InitIsolatedConfig before
    // any field is touched, its strings are set through PyConfig_SetBytesString
    // (which copies them), and it is cleared once Python has read it. No other
    // thread uses Python yet: this runs once, under STARTED.
    unsafe {
        let mut config = Box::new(MaybeUninit::<ffi::PyConfig>::uninit());
        let config = config.as_mut_ptr();
        ffi::PyConfig_InitIsolatedConfig(config);
        (*config).install_signal_handlers = 0;
        (*config).configure_c_stdio = 0;
        (*config).parse_argv = 0;
        let mut status = ffi::PyConfig_SetBytesString(
            config,
            std::ptr::addr_of_mut!((*config).home),
            home.as_ptr(),
        );
        if ffi::PyStatus_Exception(status) == 0 {
            status = ffi::PyConfig_SetBytesString(
                config,
                std::ptr::addr_of_mut!((*config).executable),
                executable.as_ptr(),
            );
        }
        if ffi::PyStatus_Exception(status) == 0 {
            status = ffi::Py_InitializeFromConfig(config);
        }
        ffi::PyConfig_Clear(config);
        if ffi::PyStatus_Exception(status) != 0 {
            let message = if status.err_msg.is_null() {
                "unknown error".into()
            } else {
                CStr::from_ptr(status.err_msg)
                    .to_string_lossy()
                    .into_owned()
            };
            return Err(format!("Python did not start: {message}"));
        }
    }
    Ok(())
}

/// Registers the support modules, routes output to the log and caches the
/// objects every call needs.
fn bootstrap(py: Python<'_>) -> PyResult<()> {
    // The threading module records this thread as Python's main thread;
    // `signal` is imported while the VM's signals are watched (see initialise).
    py.import("threading")?;
    py.import("signal")?;
    let sys = py.import("sys")?;
    let modules = sys.getattr("modules")?;
    let builtins = py.import("builtins")?;
    let module_type = py.import("types")?.getattr("ModuleType")?;
    for (name, source, package) in SUPPORT {
        let module = module_type.call1((*name,))?;
        let file = format!("<emqx-python>/{}", name.replace('.', "/"));
        let file = if *package {
            module.setattr("__path__", Vec::<String>::new())?;
            format!("{file}/__init__.py")
        } else {
            format!("{file}.py")
        };
        module.setattr("__file__", &file)?;
        if let Some((parent, _)) = name.rsplit_once('.') {
            module.setattr("__package__", parent)?;
        } else if *package {
            module.setattr("__package__", *name)?;
        }
        modules.set_item(*name, &module)?;
        let code = builtins.call_method1("compile", (*source, &file, "exec"))?;
        let globals = module.getattr("__dict__")?.cast_into::<PyDict>()?;
        builtins.call_method1("exec", (code, &globals))?;
        if let Some((parent, child)) = name.rsplit_once('.') {
            modules.get_item(parent)?.setattr(child, &module)?;
        }
    }
    let driver = py.import(DRIVER_MODULE)?;
    let stdout = Py::new(py, LogStream::stdout())?;
    let stderr = Py::new(py, LogStream::stderr())?;
    let emit = wrap_pyfunction!(logstream::emit_record, py)?;
    driver.call_method1("install", (stdout, stderr, emit))?;
    Terms::init(py)?;
    Ok(())
}

thread_local! {
    /// Whether this thread keeps a Python thread state between calls.
    static KEPT: KeptState = const { KeptState(Cell::new(false)) };
    /// This thread's stack size is large enough for Python: unknown (0), yes (1), no (2).
    static STACK_OK: Cell<u8> = const { Cell::new(0) };
}

/// A worker's Python thread state, made at its first call and kept for the
/// thread's life: making one per call cost ~23 µs.
struct KeptState(Cell<bool>);

impl KeptState {
    fn keep(&self) {
        if self.0.get() {
            return;
        }
        // SAFETY: the interpreter runs (ensure_started succeeded before any
        // handler exists). PyGILState_Ensure makes this thread's state and
        // takes the GIL; PyEval_SaveThread gives the GIL back and leaves the
        // state bound to the thread with a count of one, so later
        // Ensure/Release pairs (pyo3's attach) reuse it.
        unsafe {
            ffi::PyGILState_Ensure();
            ffi::PyEval_SaveThread();
        }
        self.0.set(true);
    }
}

impl Drop for KeptState {
    fn drop(&mut self) {
        if !self.0.get() {
            return;
        }
        // SAFETY: the thread kept a state with a count of one (see `keep`) and
        // does not hold the GIL. Ensure takes the GIL (count two); releasing
        // it as LOCKED keeps the GIL (count one); the last release clears and
        // deletes the state and gives the GIL back.
        unsafe {
            ffi::PyGILState_Ensure();
            ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_LOCKED);
            ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_UNLOCKED);
        }
    }
}

/// The size of the calling thread's stack, if the system tells it.
fn stack_size() -> Option<usize> {
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread
    // on success; it is read, then destroyed.
    unsafe {
        let mut attr = MaybeUninit::<libc::pthread_attr_t>::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut size = 0usize;
        let ok = libc::pthread_attr_getstacksize(attr.as_ptr(), &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        ok.then_some(size)
    }
}

fn stack_is_large_enough() -> bool {
    STACK_OK.with(|ok| {
        if ok.get() == 0 {
            let large = stack_size().is_some_and(|s| s >= MIN_STACK);
            ok.set(if large { 1 } else { 2 });
        }
        ok.get() == 1
    })
}

/// Runs `f` with the GIL on a worker thread, for `driver`. `Err` when this
/// thread must not run Python (a VM scheduler: the hook's mode was set to
/// something other than `pool`).
pub(crate) fn on_worker<R>(
    driver: &Arc<str>,
    f: impl for<'py> FnOnce(Python<'py>) -> R,
) -> Result<R, String> {
    if !stack_is_large_enough() {
        return Err(format!(
            "Python runs on the driver's pool threads only; this thread's stack ({} KiB) is too small: set the hook's mode to pool",
            stack_size().unwrap_or(0) / 1024
        ));
    }
    KEPT.with(KeptState::keep);
    Ok(logstream::with_driver(driver, || {
        Python::attach(|py| {
            logstream::follow_broker_level(py);
            f(py)
        })
    }))
}

/// Runs `f` with the GIL on a new thread with an 8 MiB stack, for
/// `driver`, and waits for it: a driver's init and deinit run user code
/// (imports, init(), deinit()) that must not run on the VM's scheduler.
pub(crate) fn on_own_thread<R: Send>(
    driver: &Arc<str>,
    f: impl for<'py> FnOnce(Python<'py>) -> R + Send,
) -> Result<R, String> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(format!("python-{driver}"))
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, || {
                logstream::with_driver(driver, || {
                    Python::attach(|py| {
                        logstream::follow_broker_level(py);
                        f(py)
                    })
                })
            });
        match spawned {
            Ok(handle) => handle
                .join()
                .map_err(|_| "the driver's Python thread panicked".to_string()),
            Err(e) => Err(format!("cannot start a thread for Python: {e}")),
        }
    })
}
