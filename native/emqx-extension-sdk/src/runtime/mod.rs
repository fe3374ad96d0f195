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
//! | `driver_deinit/1` | dirty I/O | `ok`, or `already_stopped` |
//! | `driver_call/4` (Driver, HookIndex, ArgsTuple, TimeoutMs) | normal | the broker's return value, or `{error, Reason}` |
//! | `driver_call_dirty_cpu/4`, `driver_call_dirty_io/4` | dirty | the same |
//! | `driver_submit/5` (Driver, HookIndex, ArgsTuple, TimeoutMs, Tag) | normal | `{ok, Request}` then a message `{Tag, Result}`; or `{error, Reason}` |
//! | `driver_abandon/2` (Request, ArgsTuple) | normal | `abandoned`, or `replied` if the result is on its way |
//! | `driver_cast/4` (Driver, HookIndex, ArgsTuple, TimeoutMs) | normal | `ok` or `{error, Reason}` |
//! | `driver_stats/1` | normal | `[{HookName, #{calls, succeeded, ...}}]` |
//!
//! This module is public only for the macro; it is not a stable API.

mod dispatch;
mod pool;
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
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

pub use rustler::codegen_runtime::ErlNifEntry;

/// Builds the library's handler from the driver's config.
pub type Factory = fn(&Config) -> Result<Box<dyn Handler>, InitError>;

static FACTORY: OnceLock<Factory> = OnceLock::new();

mod atoms {
    rustler::atoms! {
        init_failed, already_stopped, ok, abandoned, replied,
        pool_size, pool_max, queue_capacity, spin_us, reporter,
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

/// Runs `f` behind the boundary: a panic becomes `Err` with its message and location.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let mut slot: Option<String> = None;
    let outer = PANIC_SLOT.with(|s| s.replace(&mut slot));
    let result = catch_unwind(AssertUnwindSafe(f));
    PANIC_SLOT.with(|s| s.set(outer));
    result.map_err(|payload| slot.take().unwrap_or_else(|| payload_text(&*payload)))
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

/// The library's `ErlNifEntry`, for `export_handler!`.
///
/// `module` must end with a NUL byte (the macro appends it).
pub fn nif_entry(module: &'static str, factory: Factory) -> *const ErlNifEntry {
    // A second load of the same library copy keeps the first factory; both are the same function.
    let _ = FACTORY.set(factory);
    install_panic_hook();
    // SAFETY: rustler's generated `nif_init` makes this same call first thing, before any
    // enif_* function is used; it resolves the VM's symbols for this library.
    unsafe { rustler::codegen_runtime::internal_write_symbols() };
    let name = CStr::from_bytes_with_nul(module.as_bytes()).unwrap_or(c"invalid_module_name");
    let funcs = FUNCS.0.get_or_init(nif_funcs);
    ENTRY.0.get_or_init(|| ErlNifEntry::new(name, funcs, load))
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

const NIF_COUNT: usize = 11;

fn nif_funcs() -> [ErlNifFunc; NIF_COUNT] {
    use SchedulerFlags::*;
    [
        func(c"hook_names", 0, Normal, raw_hook_names),
        func(c"driver_init", 3, DirtyIo, raw_driver_init),
        func(c"driver_deinit", 1, DirtyIo, raw_driver_deinit),
        func(c"driver_call", 4, Normal, raw_driver_call),
        func(c"driver_call_dirty_cpu", 4, DirtyCpu, raw_driver_call),
        func(c"driver_call_dirty_io", 4, DirtyIo, raw_driver_call),
        func(c"driver_submit", 5, Normal, raw_driver_submit),
        func(c"driver_abandon", 2, Normal, raw_driver_abandon),
        func(c"driver_cast", 4, Normal, raw_driver_cast),
        func(c"driver_stats", 1, Normal, raw_driver_stats),
        func(c"driver_queue_depth", 1, Normal, raw_driver_queue_depth),
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
        Err(message) => error_term(env, &CallError::Panic(message)).as_c_arg(),
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

fn driver_init<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [name, settings, opts] = args else {
        return Err(rustler::Error::BadArg);
    };
    let name: String = name.decode()?;
    let settings: Vec<(String, String)> = settings.decode()?;
    let pool_config = pool_config(*opts)?;
    let reporter_pid = opts
        .map_get(atoms::reporter())
        .ok()
        .and_then(|p| p.decode::<LocalPid>().ok());
    let config = Config::new(name.clone(), settings);
    let Some(factory) = FACTORY.get() else {
        return Ok(env.error_tuple((atoms::init_failed(), "library has no handler")));
    };
    let handler = match guarded(|| factory(&config)) {
        Ok(Ok(h)) => h,
        Ok(Err(InitError(message))) => return Ok(env.error_tuple((atoms::init_failed(), message))),
        Err(message) => return Ok(error_term(env, &CallError::Panic(message))),
    };
    let spec = handler.hook_spec();
    if let Err(problem) = spec.validate() {
        return Ok(env.error_tuple((atoms::init_failed(), problem)));
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
            return Ok(env.error_tuple((atoms::init_failed(), format!("worker threads: {e}"))))
        }
    };
    let driver = ResourceArc::new(Driver {
        core,
        pool,
        live: AtomicBool::new(true),
    });
    Ok((atoms::ok(), driver, modes).encode(env))
}

fn driver_deinit<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    if !driver.live.swap(false, Ordering::AcqRel) {
        return Ok(atoms::already_stopped().encode(env));
    }
    // The calls and notifications queued are handled (a fold past its
    // deadline is skipped: its caller has its answer), and the workers are
    // gone before the handler's deinit runs.
    driver.pool.stop(Stop::Finish);
    match guarded(|| driver.core.handler.deinit()) {
        Ok(()) => Ok(atoms::ok().encode(env)),
        Err(message) => Ok(error_term(env, &CallError::Panic(message))),
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
        guarded(|| {
            dispatch(
                &NifBuild(env),
                &*core.handler,
                &core.spec,
                hook,
                *hook_args,
                &ctx,
            )
        })
        .unwrap_or_else(|m| Err(CallError::Panic(m)))
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
            let result =
                guarded(|| dispatch(&NifBuild(e), &*self.handler, &self.spec, hook, args, &ctx))
                    .unwrap_or_else(|m| Err(CallError::Panic(m)));
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
