//! The NIF side of a driver: the library entry point that
//! [`export_handler!`](crate::export_handler) expands to, the driver
//! resource, and the ways a hook event reaches the handler.
//!
//! NIFs (all bound to the module named in `export_handler!`):
//!
//! | NIF | scheduler | returns |
//! |---|---|---|
//! | `hook_names/0` | normal | the 19 hook names, by index |
//! | `driver_init/3` (Name, [{Key, Value}], Opts) | dirty I/O | `{ok, Driver, [{HookName, Mode}]}` or `{error, Reason}` |
//! | `driver_deinit/2` (Driver, finish \| drain) | dirty I/O | `ok`, or `already_stopped` |
//! | `driver_call/4` (Driver, HookIndex, ArgsTuple, TimeoutMs) | normal | the broker's return value, or `{error, Reason}` |
//! | `driver_call_dirty_cpu/4`, `driver_call_dirty_io/4` | dirty | the same |
//! | `driver_submit/5` (Driver, HookIndex, ArgsTuple, TimeoutMs, Tag) | normal | `{ok, Request}` then a message `{Tag, Result}`; or `{error, Reason}` |
//! | `driver_abandon/2` (Request, ArgsTuple) | normal | `abandoned`, or `replied` if the result is on its way |
//! | `driver_cast/4` (Driver, HookIndex, ArgsTuple, TimeoutMs) | normal | `ok` or `{error, Reason}` |
//! | `driver_stats/1` | normal | `[{HookName, #{calls, succeeded, ...}}]` |
//! | `log_level/1` (the broker's OTP logger level) | normal | `ok`: the library's `log` records follow it |
//! | `driver_counters/1` | normal | `[{Name, Value}]`: the handler's own counters |
//!
//! This module is public only for the macro; it is not a stable API.

pub(crate) mod dispatch;
#[doc(hidden)]
pub mod logging;
mod own_thread;
mod pool;
pub(crate) use own_thread::on_own_thread as spawn_off_vm;
pub mod port;
mod report;
mod stats;

use crate::decode::{self, DecodeError};
use crate::hook::{Context, Hook, HookSet, HookSpec};
use crate::value::{Build, Key, NifBuild};
use crate::{Config, Handler, InitError};
use dispatch::{client_bytes, client_term, dispatch};
use pool::{JobKind, Pool, PoolConfig, PoolOption, Rejected, Stop, Work};
use report::{Kind, Report, Reporter};
use rustler::env::{OwnedEnv, SavedTerm};
use rustler::sys::{c_char, c_int, c_uint, c_void, ErlNifEnv, ErlNifFunc, ErlNifTerm};
use rustler::{Encoder, Env, LocalPid, Resource, ResourceArc, SchedulerFlags, Term};
use stats::{DriverStats, HookStats};
use std::any::Any;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

pub use rustler::codegen_runtime::ErlNifEntry;

/// Builds the library's handler from the driver's config.
pub type Factory = fn(&Config) -> Result<Box<dyn Handler>, InitError>;

static FACTORY: OnceLock<Factory> = OnceLock::new();

mod atoms {
    rustler::atoms! {
        init_failed, already_stopped, ok, abandoned, replied, finish,
        pool_size, pool_max, queue_capacity, spin_us, reporter, logger, log_level, exhook_log,
        debug, info, warning, error, undefined,
        calls, succeeded, failed, timed_out, dropped, saturated, overran, queued, p50_us, p99_us,
    }
}

/// What the driver's handler and its workers share.
pub(crate) struct Core {
    name: String,
    handler: Box<dyn Handler>,
    spec: HookSpec,
    hooks: HookSet,
    stats: DriverStats,
    reporter: Reporter,
}

/// One enabled driver, as the Erlang side holds it.
pub struct Driver {
    core: Arc<Core>,
    pool: Pool<Job>,
    live: AtomicBool,
}

impl Resource for Driver {}

const WAITING: u8 = 0;
const REPLIED: u8 = 1;
const ABANDONED: u8 = 2;

/// A fold call queued to the pool; the caller holds it to give up on it
/// at its timeout, so that no late reply ever reaches its mailbox.
pub struct Request {
    state: AtomicU8,
    core: Arc<Core>,
    hook: Hook,
}

impl Resource for Request {}

/// A hook event on its way to a worker: its arguments copied into an
/// environment of its own (large binaries are shared, not copied).
pub(crate) struct Job {
    hook: Hook,
    env: OwnedEnv,
    args: SavedTerm,
    reply: Option<ReplyTo>,
    enqueued: Instant,
    deadline: Instant,
}

struct ReplyTo {
    pid: LocalPid,
    tag: SavedTerm,
    request: ResourceArc<Request>,
}

/// Why a call did not produce the handler's decision; the Erlang side
/// answers the broker with the driver's failure policy instead.
pub(crate) enum CallError {
    Panic(String),
    /// The handler gave up with [`crate::fail`].
    Failed(String),
    BadArg(String),
    NotLoaded,
}

impl From<DecodeError> for CallError {
    fn from(e: DecodeError) -> Self {
        CallError::BadArg(e.0)
    }
}

impl From<crate::encode::EncodeError> for CallError {
    fn from(e: crate::encode::EncodeError) -> Self {
        CallError::BadArg(e.0.to_string())
    }
}

impl From<rustler::Error> for CallError {
    fn from(e: rustler::Error) -> Self {
        CallError::BadArg(format!("{e:?}"))
    }
}

impl CallError {
    fn report<'r>(&'r self, hook: Hook, client: &'r str) -> Option<Report<'r>> {
        let (kind, detail) = match self {
            CallError::Panic(m) => (Kind::Panic, m.as_str()),
            CallError::Failed(m) => (Kind::Failed, m.as_str()),
            CallError::BadArg(m) => (Kind::BadInput, m.as_str()),
            CallError::NotLoaded => return None,
        };
        Some(Report {
            kind,
            hook: hook.name(),
            client,
            detail,
        })
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

thread_local! {
    /// While this thread runs code behind the boundary: where the panic
    /// hook leaves the panic's message and location. A raw pointer, not a
    /// value with a destructor: a thread-local destructor registered on a
    /// VM scheduler thread would pin this library in memory forever.
    static PANIC_SLOT: Cell<*mut Option<String>> = const { Cell::new(std::ptr::null_mut()) };
}

/// Panics behind the boundary are answered with the failure policy and
/// reported to the plugin's log, so the default hook's stderr report
/// (which the broker's log never sees) is replaced by a note of the
/// message and location. Panics elsewhere (threads a handler starts)
/// keep the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let slot = PANIC_SLOT.with(Cell::get);
            if slot.is_null() {
                previous(info);
                return;
            }
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            // SAFETY: a non-null slot points at the `Option` on the stack of
            // `guarded` on this same thread, which is still running (the hook
            // runs before the unwind leaves it) and is not otherwise borrowed.
            unsafe { *slot = Some(format!("{}{at}", payload_text(info.payload()))) };
        }));
    });
}

/// Runs `f` behind the boundary: a panic becomes `Err` with its message
/// and location, a [`crate::fail`] `Err` with its reason.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, CallError> {
    let mut slot: Option<String> = None;
    let outer = PANIC_SLOT.with(|s| s.replace(&mut slot));
    let result = catch_unwind(AssertUnwindSafe(f));
    PANIC_SLOT.with(|s| s.set(outer));
    result.map_err(
        |payload| match payload.downcast::<crate::HandlerFailure>() {
            Ok(failure) => CallError::Failed(failure.0),
            Err(payload) => {
                CallError::Panic(slot.take().unwrap_or_else(|| payload_text(&*payload)))
            }
        },
    )
}

/// Asks the handler (behind the boundary: a panic is an error) about the
/// hook of `ctx` with `args`; what it logs meanwhile carries the driver,
/// the hook and the clientid.
pub(crate) fn call_handler<'a, B: Build<'a>>(
    b: &B,
    driver: &str,
    handler: &dyn Handler,
    spec: &HookSpec,
    args: B::In,
    ctx: &Context,
) -> Result<B::Out, CallError> {
    let hook = ctx.hook();
    let client = || {
        client_term(hook, args)
            .and_then(decode::text)
            .map(|t| t.into_owned())
    };
    let scope = logging::Scope {
        driver,
        hook,
        client: &client,
    };
    logging::with_scope(&scope, || {
        guarded(|| dispatch(b, handler, spec, hook, args, ctx)).unwrap_or_else(Err)
    })
}

/// `{error, Tag}`, or `{error, {Tag, Text}}`: how both transports answer
/// a call that has no decision.
pub(crate) fn error_reply<'a, B: Build<'a>>(b: &B, tag: Key, text: Option<&str>) -> B::Out {
    let reason = match text {
        None => b.atom(tag),
        Some(text) => b.tuple(&[b.atom(tag), b.binary(text.as_bytes())]),
    };
    b.tuple(&[b.atom(Key::error), reason])
}

impl CallError {
    /// The reply's tag and text.
    pub(crate) fn tag(&self) -> (Key, Option<&str>) {
        match self {
            CallError::Panic(m) => (Key::panic, Some(m)),
            CallError::Failed(m) => (Key::failed, Some(m)),
            CallError::BadArg(m) => (Key::badarg, Some(m)),
            CallError::NotLoaded => (Key::not_loaded, None),
        }
    }
}

fn error_term<'a>(env: Env<'a>, e: &CallError) -> Term<'a> {
    let (tag, text) = e.tag();
    error_reply(&NifBuild(env), tag, text)
}

/// The atom a mode is declared with.
pub(crate) fn mode_key(mode: crate::Mode) -> Key {
    match mode {
        crate::Mode::Inline => Key::inline,
        crate::Mode::DirtyCpu => Key::dirty_cpu,
        crate::Mode::DirtyIo => Key::dirty_io,
        crate::Mode::Pool => Key::pool,
    }
}

/// A value written once, before the VM reads it, and never changed.
struct Static<T>(OnceLock<T>);

// SAFETY: the entry and the function table hold only pointers to static
// data (names, functions, the table itself); they are written once, before
// the VM reads them, and never changed.
unsafe impl<T> Sync for Static<T> {}

/// The library's function table and entry live in its own static memory,
/// so nothing is left behind when the VM unloads the library.
static FUNCS: Static<[ErlNifFunc; NIF_COUNT]> = Static(OnceLock::new());
static ENTRY: Static<ErlNifEntry> = Static(OnceLock::new());

/// The library's `ErlNifEntry`, for `export_handler!`; `own_crate` is the
/// handler crate's name (see [`logging`]).
///
/// `module` must end with a NUL byte (the macro appends it).
pub fn nif_entry(
    module: &'static str,
    factory: Factory,
    own_crate: &'static str,
) -> *const ErlNifEntry {
    // A second load of the same library copy keeps the first factory; both are the same function.
    let _ = FACTORY.set(factory);
    logging::own_crate(own_crate);
    install_panic_hook();
    crate::value::register_nif_ops();
    // SAFETY: rustler's generated `nif_init` makes this same call first thing, before any
    // enif_* function is used; it resolves the VM's symbols for this library.
    unsafe { rustler::codegen_runtime::internal_write_symbols() };
    let built_in = CStr::from_bytes_with_nul(module.as_bytes()).unwrap_or(c"invalid_module_name");
    let name =
        BOUND_MODULE.get_or_init(|| module_from_copy_name().unwrap_or_else(|| built_in.to_owned()));
    let funcs = FUNCS.0.get_or_init(nif_funcs);
    ENTRY.0.get_or_init(|| ErlNifEntry::new(name, funcs, load))
}

/// The module this copy of the library is bound to, chosen when the VM first loads it.
static BOUND_MODULE: OnceLock<CString> = OnceLock::new();

/// The module named in the file name of the copy the VM loaded: the plugin
/// loads each driver instance from a private copy named `<unique>@<module>.so`,
/// so that a reload can load the new library beside the old one, into a
/// module of its own, while the old one still answers calls. `None` for a
/// file named otherwise (the name given to `export_handler!` applies).
fn module_from_copy_name() -> Option<CString> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let here = module_from_copy_name as fn() -> Option<CString>;
    // SAFETY: dladdr only reads the address (a function of this library)
    // and fills `info`, which is valid for writes.
    let found = unsafe { libc::dladdr(here as *const c_void, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr returned non-zero, so it filled `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the dynamic
    // loader, valid while the library is loaded (the whole of this call).
    let path = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    copy_module(path).and_then(|m| CString::new(m).ok())
}

/// `<unique>@<module>.so` -> `module`, for a module name that starts with a
/// lowercase letter and is made of letters, digits, `_` and `-` (the plugin
/// names modules after drivers, whose names are made of those).
fn copy_module(path: &[u8]) -> Option<&[u8]> {
    let file = path.rsplit(|b| *b == b'/').next()?;
    let stem = file.strip_suffix(b".so")?;
    let at = stem.iter().rposition(|b| *b == b'@')?;
    let module = &stem[at + 1..];
    let valid = module.first().is_some_and(u8::is_ascii_lowercase)
        && module
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
    valid.then_some(module)
}

/// The version of the interface between a handler library and the plugin;
/// the plugin refuses a library built for another one.
pub const LIBRARY_ABI: u32 = 2;

/// `emqx-extension-sdk <ABI> <module>`: what `emqx_exhook_port --probe`
/// prints for a handler library, for `export_handler!`.
///
/// `module` must end with a NUL byte (the macro appends it).
pub fn library_info(module: &'static str) -> *const c_char {
    static INFO: OnceLock<CString> = OnceLock::new();
    let module = module.trim_end_matches('\0');
    INFO.get_or_init(|| {
        CString::new(format!("emqx-extension-sdk {LIBRARY_ABI} {module}")).unwrap_or_default()
    })
    .as_ptr()
}

type RawNif = unsafe extern "C" fn(*mut ErlNifEnv, c_int, *const ErlNifTerm) -> ErlNifTerm;

fn func(name: &'static CStr, arity: c_uint, flags: SchedulerFlags, function: RawNif) -> ErlNifFunc {
    ErlNifFunc {
        name: name.as_ptr() as *const c_char,
        arity,
        function,
        flags: flags as c_uint,
    }
}

const NIF_COUNT: usize = 13;

fn nif_funcs() -> [ErlNifFunc; NIF_COUNT] {
    use SchedulerFlags::*;
    [
        func(c"hook_names", 0, Normal, raw_hook_names),
        func(c"driver_init", 3, DirtyIo, raw_driver_init),
        func(c"driver_deinit", 2, DirtyIo, raw_driver_deinit),
        func(c"driver_call", 4, Normal, raw_driver_call),
        func(c"driver_call_dirty_cpu", 4, DirtyCpu, raw_driver_call),
        func(c"driver_call_dirty_io", 4, DirtyIo, raw_driver_call),
        func(c"driver_submit", 5, Normal, raw_driver_submit),
        func(c"driver_abandon", 2, Normal, raw_driver_abandon),
        func(c"driver_cast", 4, Normal, raw_driver_cast),
        func(c"driver_stats", 1, Normal, raw_driver_stats),
        func(c"driver_queue_depth", 1, Normal, raw_driver_queue_depth),
        func(c"log_level", 1, Normal, raw_log_level),
        func(c"driver_counters", 1, Normal, raw_driver_counters),
    ]
}

unsafe extern "C" fn load(
    env: *mut ErlNifEnv,
    _priv: *mut *mut c_void,
    _info: ErlNifTerm,
) -> c_int {
    let marker = ();
    // SAFETY: the VM calls `load` with a valid environment that lives for this call.
    let env = unsafe { Env::new_init_env(&marker, env) };
    c_int::from(env.register::<Driver>().is_err() || env.register::<Request>().is_err())
}

/// Runs `body` on the NIF's arguments; a panic becomes `{error, {panic, Msg}}`
/// and a rustler error a `badarg` exception, so nothing unwinds into the VM.
///
/// # Safety
/// `env`, `argc` and `argv` must be the ones the VM passed to the NIF.
unsafe fn run_nif(
    env: *mut ErlNifEnv,
    argc: c_int,
    argv: *const ErlNifTerm,
    body: for<'a> fn(Env<'a>, &[Term<'a>]) -> rustler::NifResult<Term<'a>>,
) -> ErlNifTerm {
    let marker = ();
    // SAFETY: the VM guarantees `env` is valid for the duration of the call.
    let env = unsafe { Env::new(&marker, env) };
    let mut terms = [atoms::ok().encode(env); 5];
    let argc = usize::try_from(argc).unwrap_or(0).min(terms.len());
    for (i, slot) in terms.iter_mut().take(argc).enumerate() {
        // SAFETY: the VM passes `argc` valid terms in `argv`, owned by `env`.
        *slot = unsafe { Term::new(env, *argv.add(i)) };
    }
    match guarded(|| body(env, &terms[..argc])) {
        Ok(Ok(term)) => term.as_c_arg(),
        Ok(Err(_)) => {
            // SAFETY: raising badarg from a NIF with its own env is always allowed.
            unsafe { rustler::sys::enif_make_badarg(env.as_c_arg()) }
        }
        Err(e) => error_term(env, &e).as_c_arg(),
    }
}

macro_rules! raw {
    ($($raw:ident => $body:ident;)*) => {
        $(
            unsafe extern "C" fn $raw(env: *mut ErlNifEnv, argc: c_int, argv: *const ErlNifTerm) -> ErlNifTerm {
                // SAFETY: called by the VM as a NIF, with its own arguments.
                unsafe { run_nif(env, argc, argv, $body) }
            }
        )*
    };
}

raw! {
    raw_hook_names => hook_names;
    raw_driver_init => driver_init;
    raw_driver_deinit => driver_deinit;
    raw_driver_call => driver_call;
    raw_driver_submit => driver_submit;
    raw_driver_abandon => driver_abandon;
    raw_driver_cast => driver_cast;
    raw_driver_stats => driver_stats;
    raw_driver_queue_depth => driver_queue_depth;
    raw_log_level => log_level;
    raw_driver_counters => driver_counters;
}

fn hook_names<'a>(env: Env<'a>, _args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let names: Vec<&str> = Hook::ALL.iter().map(|h| h.name()).collect();
    Ok(names.encode(env))
}

/// `Opts`: `#{pool_size, pool_max, queue_capacity, spin_us, reporter}`,
/// each optional (see [`PoolConfig`] for the defaults).
fn pool_config(opts: Term) -> rustler::NifResult<PoolConfig> {
    PoolConfig::from_options(|option| {
        let key = match option {
            PoolOption::Size => atoms::pool_size(),
            PoolOption::Max => atoms::pool_max(),
            PoolOption::Capacity => atoms::queue_capacity(),
            PoolOption::SpinUs => atoms::spin_us(),
        };
        opts.map_get(key)
            .ok()
            .map(|v| v.decode::<u64>())
            .transpose()
    })
}

/// Driver instances of this library copy that have not stopped; the
/// library's log thread runs while there is one.
static LIVE_DRIVERS: AtomicUsize = AtomicUsize::new(0);

/// The library's log records go to the plugin's log process.
struct NifSink {
    pid: LocalPid,
}

impl logging::Sink for NifSink {
    fn send(&mut self, batch: Vec<logging::Record>) {
        let mut env = OwnedEnv::new();
        let _ = env.send_and_clear(&self.pid, |env| {
            let text = |t: &Option<String>| match t {
                Some(t) => t.as_str().encode(env),
                None => atoms::undefined().encode(env),
            };
            let records: Vec<Term> = batch
                .iter()
                .map(|r| {
                    let level = match logging::otp_level(r.level) {
                        "error" => atoms::error(),
                        "warning" => atoms::warning(),
                        "info" => atoms::info(),
                        _ => atoms::debug(),
                    };
                    (
                        level,
                        r.text.as_str(),
                        r.target.as_str(),
                        text(&r.driver),
                        text(&r.hook.map(str::to_string)),
                        text(&r.client),
                        r.dropped,
                    )
                        .encode(env)
                })
                .collect();
            (atoms::exhook_log(), records).encode(env)
        });
    }
}

/// The broker's level, an OTP logger level atom.
fn level_of(level: Term) -> log::LevelFilter {
    level
        .atom_to_string()
        .map_or(log::LevelFilter::Warn, |l| logging::level_filter(&l))
}

/// Stops the log thread once no driver of this library runs.
fn release_logging() {
    if LIVE_DRIVERS.load(Ordering::Acquire) == 0 {
        logging::stop();
    }
}

fn driver_init<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [name, settings, opts] = args else {
        return Err(rustler::Error::BadArg);
    };
    let name: String = name.decode()?;
    let settings: Vec<(String, String)> = settings.decode()?;
    let pool_config = pool_config(*opts)?;
    let pid_of = |key| {
        opts.map_get(key)
            .ok()
            .and_then(|p| p.decode::<LocalPid>().ok())
    };
    let reporter_pid = pid_of(atoms::reporter());
    // Before init, so that what the handler logs while it starts is kept.
    if let Some(pid) = pid_of(atoms::logger()) {
        let level = opts
            .map_get(atoms::log_level())
            .map_or(log::LevelFilter::Warn, level_of);
        logging::start(Box::new(NifSink { pid }), level, &name);
    }
    let started = start_driver(env, name, settings, pool_config, reporter_pid);
    if !matches!(started, Ok((_, true))) {
        release_logging();
    }
    started.map(|(term, _)| term)
}

/// Builds the handler and its pool: the answer to `driver_init`, and
/// whether a driver started.
fn start_driver<'a>(
    env: Env<'a>,
    name: String,
    settings: Vec<(String, String)>,
    pool_config: PoolConfig,
    reporter_pid: Option<LocalPid>,
) -> rustler::NifResult<(Term<'a>, bool)> {
    let failed = |term: Term<'a>| Ok((term, false));
    let config = Config::new(name.clone(), settings);
    let Some(factory) = FACTORY.get() else {
        return failed(env.error_tuple((atoms::init_failed(), "library has no handler")));
    };
    let handler = match guarded(|| factory(&config)) {
        Ok(Ok(h)) => h,
        Ok(Err(InitError(message))) | Err(CallError::Failed(message)) => {
            return failed(env.error_tuple((atoms::init_failed(), message)))
        }
        Err(e) => return failed(error_term(env, &e)),
    };
    let spec = handler.hook_spec();
    if let Err(problem) = spec.validate() {
        return failed(env.error_tuple((atoms::init_failed(), problem)));
    }
    let hooks = handler.implemented_hooks();
    let modes: Vec<(&str, Term)> = hooks
        .iter()
        .map(|h| (h.name(), NifBuild(env).atom(mode_key(spec.mode_of(h)))))
        .collect();
    let core = Arc::new(Core {
        reporter: Reporter::new(name.clone(), reporter_pid),
        name,
        handler,
        spec,
        hooks,
        stats: DriverStats::default(),
    });
    let pool = match Pool::start(
        &format!("exhook-{}", core.name),
        pool_config,
        Arc::clone(&core),
    ) {
        Ok(pool) => pool,
        Err(e) => {
            return failed(env.error_tuple((atoms::init_failed(), format!("worker threads: {e}"))))
        }
    };
    let driver = ResourceArc::new(Driver {
        core,
        pool,
        live: AtomicBool::new(true),
    });
    LIVE_DRIVERS.fetch_add(1, Ordering::AcqRel);
    Ok(((atoms::ok(), driver, modes).encode(env), true))
}

fn driver_counters<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    // Behind the boundary: a handler's panic here is its own bug.
    let counters = guarded(|| driver.core.handler.counters()).unwrap_or_default();
    Ok(counters.encode(env))
}

fn log_level<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [level] = args else {
        return Err(rustler::Error::BadArg);
    };
    logging::set_level(level_of(*level));
    Ok(atoms::ok().encode(env))
}

/// `finish`: the queued calls are run (a reload: the new instance already
/// takes new calls); `drain`: queued folds are answered `not_loaded` and
/// queued notifications dropped (a disable). Either way the workers are
/// gone before the handler's deinit runs.
fn driver_deinit<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver, how] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    let leftovers = if *how == atoms::finish().encode(env) {
        Stop::Finish
    } else {
        Stop::Drain
    };
    if !driver.live.swap(false, Ordering::AcqRel) {
        return Ok(atoms::already_stopped().encode(env));
    }
    driver.pool.stop(leftovers);
    let deinit = guarded(|| driver.core.handler.deinit());
    // What the handler logged until now reaches the broker before the
    // library may be unloaded.
    LIVE_DRIVERS.fetch_sub(1, Ordering::AcqRel);
    release_logging();
    match deinit {
        Ok(()) => Ok(atoms::ok().encode(env)),
        Err(e) => Ok(error_term(env, &e)),
    }
}

fn decode_call<'a>(
    driver: Term<'a>,
    hook: Term<'a>,
) -> rustler::NifResult<(ResourceArc<Driver>, Hook)> {
    let driver: ResourceArc<Driver> = driver.decode()?;
    let hook = Hook::from_index(hook.decode()?).ok_or(rustler::Error::BadArg)?;
    Ok((driver, hook))
}

fn client_text(hook: Hook, args: Term) -> String {
    client_term(hook, args)
        .and_then(decode::text)
        .map(|t| t.into_owned())
        .unwrap_or_else(|| "?".into())
}

impl Core {
    fn accepts(&self, hook: Hook) -> bool {
        self.hooks.contains(hook)
    }

    /// Counts a finished call and reports a failure (from a NIF when
    /// `env` is given, else from a thread of our own).
    fn settle<'a>(
        &self,
        hook: Hook,
        stats: &HookStats,
        outcome: &Result<Term<'a>, CallError>,
        args: Term<'a>,
        env: Option<Env<'a>>,
    ) {
        match outcome {
            Ok(_) => HookStats::bump(&stats.succeeded),
            Err(e) => {
                HookStats::bump(&stats.failed);
                let client = client_text(hook, args);
                if let Some(report) = e.report(hook, &client) {
                    match env {
                        Some(env) => self.reporter.send_from_nif(env, report),
                        None => self.reporter.send_from_thread(report),
                    }
                }
            }
        }
    }
}

/// `inline` and `dirty_*`: the handler runs in this call.
fn driver_call<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver, hook, hook_args, timeout_ms] = args else {
        return Err(rustler::Error::BadArg);
    };
    let (driver, hook) = decode_call(*driver, *hook)?;
    let timeout = Duration::from_millis(timeout_ms.decode()?);
    let core = &*driver.core;
    let stats = core.stats.hook(hook);
    HookStats::bump(&stats.calls);
    let started = Instant::now();
    let ctx = Context::new(hook, &core.name, started + timeout);
    let outcome = if !driver.live.load(Ordering::Acquire) || !core.accepts(hook) {
        Err(CallError::NotLoaded)
    } else {
        call_handler(
            &NifBuild(env),
            &core.name,
            &*core.handler,
            &core.spec,
            *hook_args,
            &ctx,
        )
    };
    let elapsed = started.elapsed();
    stats.latency.record(elapsed);
    core.settle(hook, stats, &outcome, *hook_args, Some(env));
    if elapsed > timeout {
        HookStats::bump(&stats.overran);
        let client = client_text(hook, *hook_args);
        let detail = format!(
            "took {} ms, call_timeout is {} ms",
            elapsed.as_millis(),
            timeout.as_millis()
        );
        core.reporter.send_from_nif(
            env,
            Report {
                kind: Kind::Overran,
                hook: hook.name(),
                client: &client,
                detail: &detail,
            },
        );
    }
    Ok(outcome.unwrap_or_else(|e| error_term(env, &e)))
}

/// Queues a job in its client's lane; the error term to return when it
/// was not queued.
fn enqueue<'a>(
    env: Env<'a>,
    driver: &Driver,
    hook: Hook,
    hook_args: Term<'a>,
    timeout: Duration,
    kind: JobKind,
    reply: impl FnOnce(&OwnedEnv) -> Option<ReplyTo>,
) -> Result<(), Term<'a>> {
    let core = &*driver.core;
    let stats = core.stats.hook(hook);
    HookStats::bump(&stats.calls);
    if !driver.live.load(Ordering::Acquire) || !core.accepts(hook) {
        HookStats::bump(&stats.failed);
        return Err(error_term(env, &CallError::NotLoaded));
    }
    let lane = driver.pool.lane(client_bytes(hook, hook_args));
    let owned = OwnedEnv::new();
    let args = owned.save(hook_args);
    let reply = reply(&owned);
    let now = Instant::now();
    let job = Job {
        hook,
        env: owned,
        args,
        reply,
        enqueued: now,
        deadline: now + timeout,
    };
    stats.queued.fetch_add(1, Ordering::Relaxed);
    let rejected = match driver.pool.submit(lane, job, kind) {
        Ok(()) => return Ok(()),
        Err(rejected) => rejected,
    };
    stats.queued.fetch_sub(1, Ordering::Relaxed);
    let (kind, tag, detail) = match rejected {
        Rejected::Closed(_) => {
            HookStats::bump(&stats.failed);
            return Err(error_term(env, &CallError::NotLoaded));
        }
        Rejected::Full(_) => (
            Kind::QueueFull,
            Key::queue_full,
            "the driver's queue is full",
        ),
        Rejected::Saturated(_) => {
            HookStats::bump(&stats.saturated);
            let detail = "every worker is busy with a long call and the pool is at pool_max";
            (Kind::Saturated, Key::saturated, detail)
        }
    };
    HookStats::bump(&stats.dropped);
    let client = client_text(hook, hook_args);
    core.reporter.send_from_nif(
        env,
        Report {
            kind,
            hook: hook.name(),
            client: &client,
            detail,
        },
    );
    Err(error_reply(&NifBuild(env), tag, None))
}

/// `pool` fold hooks: queue the call; the worker sends `{Tag, Result}`.
fn driver_submit<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver, hook, hook_args, timeout_ms, tag] = args else {
        return Err(rustler::Error::BadArg);
    };
    let (driver, hook) = decode_call(*driver, *hook)?;
    let timeout = Duration::from_millis(timeout_ms.decode()?);
    let pid = env.pid();
    let request = ResourceArc::new(Request {
        state: AtomicU8::new(WAITING),
        core: Arc::clone(&driver.core),
        hook,
    });
    let for_job = request.clone();
    let queued = enqueue(
        env,
        &driver,
        hook,
        *hook_args,
        timeout,
        JobKind::Call,
        |owned| {
            Some(ReplyTo {
                pid,
                tag: owned.save(*tag),
                request: for_job,
            })
        },
    );
    Ok(match queued {
        Ok(()) => (atoms::ok(), request).encode(env),
        Err(error) => error,
    })
}

/// The caller's timeout passed: `abandoned` if the worker has not replied
/// (it never will), `replied` if the reply is already on its way. The
/// call's arguments name the client in the report.
fn driver_abandon<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [request, hook_args] = args else {
        return Err(rustler::Error::BadArg);
    };
    let request: ResourceArc<Request> = request.decode()?;
    if request
        .state
        .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Ok(atoms::replied().encode(env));
    }
    let core = &*request.core;
    HookStats::bump(&core.stats.hook(request.hook).timed_out);
    let client = client_text(request.hook, *hook_args);
    core.reporter.send_from_nif(
        env,
        Report {
            kind: Kind::Timeout,
            hook: request.hook.name(),
            client: &client,
            detail: "no answer within call_timeout",
        },
    );
    Ok(atoms::abandoned().encode(env))
}

/// Notification hooks: queue the event and return at once.
fn driver_cast<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver, hook, hook_args, timeout_ms] = args else {
        return Err(rustler::Error::BadArg);
    };
    let (driver, hook) = decode_call(*driver, *hook)?;
    // Nobody waits for a notification; the handler still gets call_timeout
    // from when it was queued as its deadline.
    let timeout = Duration::from_millis(timeout_ms.decode()?);
    Ok(
        match enqueue(
            env,
            &driver,
            hook,
            *hook_args,
            timeout,
            JobKind::Notify,
            |_| None,
        ) {
            Ok(()) => atoms::ok().encode(env),
            Err(error) => error,
        },
    )
}

fn driver_stats<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    let core = &*driver.core;
    let mut rows = Vec::new();
    for hook in core.hooks.iter() {
        let s = core.stats.hook(hook).snapshot();
        let map = Term::map_from_pairs(
            env,
            &[
                (atoms::calls().encode(env), s.calls.encode(env)),
                (atoms::succeeded().encode(env), s.succeeded.encode(env)),
                (atoms::failed().encode(env), s.failed.encode(env)),
                (atoms::timed_out().encode(env), s.timed_out.encode(env)),
                (atoms::dropped().encode(env), s.dropped.encode(env)),
                (atoms::saturated().encode(env), s.saturated.encode(env)),
                (atoms::overran().encode(env), s.overran.encode(env)),
                (atoms::queued().encode(env), s.queued.max(0).encode(env)),
                (atoms::p50_us().encode(env), s.p50_us.encode(env)),
                (atoms::p99_us().encode(env), s.p99_us.encode(env)),
            ],
        )?;
        rows.push((hook.name(), map).encode(env));
    }
    Ok(rows.encode(env))
}

fn driver_queue_depth<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    Ok(driver.pool.depth().encode(env))
}

impl Work<Job> for Core {
    fn run(&self, job: Job) {
        let Job {
            hook,
            mut env,
            args,
            reply,
            enqueued,
            deadline,
        } = job;
        let stats = self.stats.hook(hook);
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        if let Some(r) = &reply {
            // The caller stops waiting at the deadline and counts the call as
            // timed out: running the handler now would only lengthen the queue.
            if Instant::now() >= deadline || r.request.state.load(Ordering::Acquire) == ABANDONED {
                return;
            }
        }
        let ctx = Context::new(hook, &self.name, deadline);
        let outcome: Result<SavedTerm, CallError> = env.run(|e| {
            let args = args.load(e);
            let result = call_handler(
                &NifBuild(e),
                &self.name,
                &*self.handler,
                &self.spec,
                args,
                &ctx,
            );
            let settled = match &reply {
                // A fold nobody waits for any more was counted as timed out.
                Some(r) => r
                    .request
                    .state
                    .compare_exchange(WAITING, REPLIED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok(),
                None => true,
            };
            if settled {
                stats.latency.record(enqueued.elapsed());
                self.settle(hook, stats, &result, args, None);
            }
            result.map(|t| env.save(t))
        });
        if let Some(ReplyTo { pid, tag, request }) = reply {
            if request.state.load(Ordering::Acquire) == REPLIED {
                let _ = env.send_and_clear(&pid, |e| {
                    let result = match &outcome {
                        Ok(saved) => saved.load(e),
                        Err(err) => error_term(e, err),
                    };
                    (tag.load(e), result)
                });
            }
        }
    }

    fn drain(&self, job: Job) {
        let stats = self.stats.hook(job.hook);
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        let Job { mut env, reply, .. } = job;
        match reply {
            None => HookStats::bump(&stats.dropped),
            Some(ReplyTo { pid, tag, request }) => {
                if request
                    .state
                    .compare_exchange(WAITING, REPLIED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    HookStats::bump(&stats.failed);
                    let _ = env.send_and_clear(&pid, |e| {
                        (tag.load(e), error_term(e, &CallError::NotLoaded))
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_module;

    #[test]
    fn a_private_copy_names_its_module_after_the_at_sign() {
        let copy =
            b"/var/lib/emqx/data/emqx_extension_hook/4242-17@emqx_extension_hook_nif_auth_1.so";
        assert_eq!(
            copy_module(copy),
            Some(&b"emqx_extension_hook_nif_auth_1"[..])
        );
        assert_eq!(
            copy_module(b"/tmp/1-2@emqx_extension_hook_nif_Auth-2_0.so"),
            Some(&b"emqx_extension_hook_nif_Auth-2_0"[..])
        );
    }

    #[test]
    fn other_file_names_keep_the_built_in_module() {
        for path in [
            &b"/opt/handlers/libmy_auth.so"[..],
            b"/tmp/x@.so",
            b"/tmp/x@Upper.so",
            b"/tmp/x@1abc.so",
            b"/tmp/x@ab.c.so",
            b"/tmp/x@abc.so.6",
            b"/tmp/dir@abc/libx.so",
        ] {
            assert_eq!(copy_module(path), None, "{}", String::from_utf8_lossy(path));
        }
    }
}
