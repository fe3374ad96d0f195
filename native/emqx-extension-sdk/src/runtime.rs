//! The NIF side of a driver: the library entry point that
//! [`export_handler!`](crate::export_handler) expands to, the driver
//! resource, and one call per hook event.
//!
//! NIFs (all bound to the module named in `export_handler!`):
//!
//! | NIF | scheduler | returns |
//! |---|---|---|
//! | `hook_names/0` | normal | the 19 hook names, by index |
//! | `driver_init/2` (Name, [{Key, Value}]) | dirty I/O | `{ok, Driver, [HookName]}` or `{error, Reason}` |
//! | `driver_deinit/1` | dirty I/O | `ok`, or `already_stopped` |
//! | `driver_call/4` (Driver, HookIndex, ArgsTuple, TimeoutMs) | normal | the broker's return value, or `{error, Reason}` |
//! | `driver_call_dirty_cpu/4`, `driver_call_dirty_io/4` | dirty | the same |
//!
//! This module is public only for the macro; it is not a stable API.

use crate::decision::FilterDecision;
use crate::decode::{self, DecodeError};
use crate::encode;
use crate::hook::{Context, Hook, HookSet, HookSpec};
use crate::{Config, Handler, InitError};
use rustler::sys::{c_char, c_int, c_uint, c_void, ErlNifEnv, ErlNifFunc, ErlNifTerm};
use rustler::types::tuple::get_tuple;
use rustler::{Encoder, Env, Resource, ResourceArc, SchedulerFlags, Term};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

pub use rustler::codegen_runtime::ErlNifEntry;

/// Builds the library's handler from the driver's config.
pub type Factory = fn(&Config) -> Result<Box<dyn Handler>, InitError>;

static FACTORY: OnceLock<Factory> = OnceLock::new();

mod atoms {
    rustler::atoms! { error, panic, badarg, not_loaded, init_failed, already_stopped, ok }
}

/// One enabled driver: the handler and what it declared at init.
pub struct Driver {
    name: String,
    handler: Box<dyn Handler>,
    spec: HookSpec,
    hooks: HookSet,
    live: AtomicBool,
}

impl Resource for Driver {}

/// Why a call did not produce the handler's decision; the Erlang side
/// answers the broker with the driver's failure policy instead.
enum CallError {
    Panic(String),
    BadArg(String),
    NotLoaded,
}

impl From<DecodeError> for CallError {
    fn from(e: DecodeError) -> Self {
        CallError::BadArg(e.0)
    }
}

impl From<rustler::Error> for CallError {
    fn from(e: rustler::Error) -> Self {
        CallError::BadArg(format!("{e:?}"))
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
    /// Set while this thread runs handler code behind the boundary.
    static AT_BOUNDARY: Cell<bool> = const { Cell::new(false) };
    /// The last panic caught at the boundary, with where it happened.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics behind the boundary are answered with the failure policy and
/// logged by the plugin, so the default hook's stderr report (which the
/// broker's log never sees) is replaced by a note of the message and
/// location. Panics elsewhere (threads a handler starts) keep the
/// previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if AT_BOUNDARY.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let text = format!("{}{at}", payload_text(info.payload()));
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` behind the boundary: a panic becomes `Err` with its message and location.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let was = AT_BOUNDARY.with(|b| b.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    AT_BOUNDARY.with(|b| b.set(was));
    result.map_err(|payload| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| payload_text(&*payload))
    })
}

fn error_term<'a>(env: Env<'a>, e: CallError) -> Term<'a> {
    match e {
        CallError::Panic(m) => (atoms::error(), (atoms::panic(), m)).encode(env),
        CallError::BadArg(m) => (atoms::error(), (atoms::badarg(), m)).encode(env),
        CallError::NotLoaded => (atoms::error(), atoms::not_loaded()).encode(env),
    }
}

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
    let funcs: &'static [ErlNifFunc] = Box::leak(Box::new(nif_funcs()));
    Box::leak(Box::new(ErlNifEntry::new(name, funcs, load)))
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

fn nif_funcs() -> [ErlNifFunc; 6] {
    use SchedulerFlags::*;
    [
        func(c"hook_names", 0, Normal, raw_hook_names),
        func(c"driver_init", 2, DirtyIo, raw_driver_init),
        func(c"driver_deinit", 1, DirtyIo, raw_driver_deinit),
        func(c"driver_call", 4, Normal, raw_driver_call),
        func(c"driver_call_dirty_cpu", 4, DirtyCpu, raw_driver_call),
        func(c"driver_call_dirty_io", 4, DirtyIo, raw_driver_call),
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
    c_int::from(env.register::<Driver>().is_err())
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
    let mut terms = [atoms::ok().encode(env); 4];
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
        Err(message) => error_term(env, CallError::Panic(message)).as_c_arg(),
    }
}

macro_rules! raw {
    ($raw:ident => $body:ident) => {
        unsafe extern "C" fn $raw(
            env: *mut ErlNifEnv,
            argc: c_int,
            argv: *const ErlNifTerm,
        ) -> ErlNifTerm {
            // SAFETY: called by the VM as a NIF, with its own arguments.
            unsafe { run_nif(env, argc, argv, $body) }
        }
    };
}

raw!(raw_hook_names => hook_names);
raw!(raw_driver_init => driver_init);
raw!(raw_driver_deinit => driver_deinit);
raw!(raw_driver_call => driver_call);

fn hook_names<'a>(env: Env<'a>, _args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let names: Vec<&str> = Hook::ALL.iter().map(|h| h.name()).collect();
    Ok(names.encode(env))
}

fn driver_init<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [name, settings] = args else {
        return Err(rustler::Error::BadArg);
    };
    let name: String = name.decode()?;
    let settings: Vec<(String, String)> = settings.decode()?;
    let config = Config::new(name.clone(), settings);
    let Some(factory) = FACTORY.get() else {
        return Ok(env.error_tuple((atoms::init_failed(), "library has no handler")));
    };
    let handler = match guarded(|| factory(&config)) {
        Ok(Ok(h)) => h,
        Ok(Err(InitError(message))) => return Ok(env.error_tuple((atoms::init_failed(), message))),
        Err(message) => return Ok(error_term(env, CallError::Panic(message))),
    };
    let spec = handler.hook_spec();
    if let Err(problem) = spec.validate() {
        return Ok(env.error_tuple((atoms::init_failed(), problem)));
    }
    let hooks = handler.implemented_hooks();
    let names: Vec<&str> = hooks.iter().map(Hook::name).collect();
    let driver = ResourceArc::new(Driver {
        name,
        handler,
        spec,
        hooks,
        live: AtomicBool::new(true),
    });
    Ok((atoms::ok(), driver, names).encode(env))
}

fn driver_deinit<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    if !driver.live.swap(false, Ordering::AcqRel) {
        return Ok(atoms::already_stopped().encode(env));
    }
    match guarded(|| driver.handler.deinit()) {
        Ok(()) => Ok(atoms::ok().encode(env)),
        Err(message) => Ok(error_term(env, CallError::Panic(message))),
    }
}

fn driver_call<'a>(env: Env<'a>, args: &[Term<'a>]) -> rustler::NifResult<Term<'a>> {
    let [driver, hook, hook_args, timeout_ms] = args else {
        return Err(rustler::Error::BadArg);
    };
    let driver: ResourceArc<Driver> = driver.decode()?;
    let hook = Hook::from_index(hook.decode()?).ok_or(rustler::Error::BadArg)?;
    let timeout = Duration::from_millis(timeout_ms.decode()?);
    let ctx = Context::new(hook, &driver.name, Instant::now() + timeout);
    let outcome = if !driver.live.load(Ordering::Acquire) || !driver.hooks.contains(hook) {
        Err(CallError::NotLoaded)
    } else {
        guarded(|| dispatch(env, &driver, hook, *hook_args, &ctx))
            .unwrap_or_else(|m| Err(CallError::Panic(m)))
    };
    Ok(outcome.unwrap_or_else(|e| error_term(env, e)))
}

/// Decodes `args` for `hook`, asks the handler, and encodes its decision
/// as the broker's return value.
fn dispatch<'a>(
    env: Env<'a>,
    driver: &Driver,
    hook: Hook,
    args: Term<'a>,
    ctx: &Context,
) -> Result<Term<'a>, CallError> {
    let a =
        get_tuple(args).map_err(|_| CallError::BadArg("hook arguments must be a tuple".into()))?;
    let arg = |i: usize| -> Result<Term<'a>, CallError> {
        a.get(i).copied().ok_or_else(|| {
            CallError::BadArg(format!("{}: missing argument {}", hook.name(), i + 1))
        })
    };
    let h = &*driver.handler;
    let done = encode::unchanged(env);
    Ok(match hook {
        Hook::ClientConnect => {
            let conn = decode::conn_info(arg(0)?)?;
            let props = decode::properties(arg(1)?)?;
            encode::connect(env, h.on_client_connect(&conn, &props, ctx))
        }
        Hook::ClientConnack => {
            let conn = decode::conn_info(arg(0)?)?;
            let reason = decode::reason(arg(1)?);
            let props = decode::properties(arg(2)?)?;
            h.on_client_connack(&conn, reason.as_str(), &props, ctx);
            done
        }
        Hook::ClientConnected => {
            h.on_client_connected(
                &decode::client_info(arg(0)?)?,
                &decode::conn_info(arg(1)?)?,
                ctx,
            );
            done
        }
        Hook::ClientDisconnected => {
            let client = decode::client_info(arg(0)?)?;
            let reason = decode::reason(arg(1)?);
            h.on_client_disconnected(&client, &reason, &decode::conn_info(arg(2)?)?, ctx);
            done
        }
        Hook::ClientAuthenticate => {
            let client = decode::client_info(arg(0)?)?;
            let acc = arg(1)?;
            let so_far = decode::auth_result(acc)?;
            encode::authenticate(env, acc, h.on_client_authenticate(&client, so_far, ctx))?
        }
        Hook::ClientCheckAcl => {
            let client = decode::client_info(arg(0)?)?;
            let pubsub = decode::pubsub(arg(1)?)?;
            let topic = decode::topic(arg(2)?)?;
            let so_far =
                rustler::Atom::from_term(arg(3)?).is_ok_and(|a| a == decode::atoms::allow());
            encode::check_acl(
                env,
                h.on_client_check_acl(&client, pubsub, &topic, so_far, ctx),
            )
        }
        Hook::ClientSubscribe => {
            let client = decode::client_info(arg(0)?)?;
            let props = decode::properties(arg(1)?)?;
            let filters = decode::topic_filters(arg(2)?)?;
            let mut decisions = Vec::with_capacity(filters.len());
            for (filter, opts) in &filters {
                let (filter, opts) = (decode::topic(*filter)?, decode::sub_opts(*opts)?);
                let decision = h.on_client_subscribe(&client, &props, &filter, &opts, ctx);
                decisions.push(match decision {
                    FilterDecision::Rewrite(new) if new == filter => FilterDecision::Keep,
                    other => other,
                });
            }
            encode::subscribe(env, &filters, &decisions)?
        }
        Hook::ClientUnsubscribe => {
            let client = decode::client_info(arg(0)?)?;
            let props = decode::properties(arg(1)?)?;
            for (filter, _) in decode::topic_filters(arg(2)?)? {
                h.on_client_unsubscribe(&client, &props, &decode::topic(filter)?, ctx);
            }
            done
        }
        Hook::SessionCreated
        | Hook::SessionResumed
        | Hook::SessionDiscarded
        | Hook::SessionTakeovered => {
            let client = decode::client_info(arg(0)?)?;
            let session = decode::session_info(arg(1)?)?;
            let method = match hook {
                Hook::SessionCreated => Handler::on_session_created,
                Hook::SessionResumed => Handler::on_session_resumed,
                Hook::SessionDiscarded => Handler::on_session_discarded,
                _ => Handler::on_session_takeovered,
            };
            method(h, &client, &session, ctx);
            done
        }
        Hook::SessionSubscribed | Hook::SessionUnsubscribed => {
            let client = decode::client_info(arg(0)?)?;
            let filter = decode::topic(arg(1)?)?;
            let opts = decode::sub_opts(arg(2)?)?;
            if hook == Hook::SessionSubscribed {
                h.on_session_subscribed(&client, &filter, &opts, ctx);
            } else {
                h.on_session_unsubscribed(&client, &filter, &opts, ctx);
            }
            done
        }
        Hook::SessionTerminated => {
            let client = decode::client_info(arg(0)?)?;
            let reason = decode::reason(arg(1)?);
            h.on_session_terminated(&client, &reason, &decode::session_info(arg(2)?)?, ctx);
            done
        }
        Hook::MessagePublish => {
            let msg_term = arg(0)?;
            if !driver.spec.wants(hook, &decode::message_topic(msg_term)?) {
                return Ok(done);
            }
            let fields = decode::message_fields(msg_term)?;
            let decision = h.on_message_publish(&decode::message(msg_term)?, ctx);
            encode::publish(env, &fields, &decision)?
        }
        Hook::MessageDelivered => {
            let msg_term = arg(1)?;
            if !driver.spec.wants(hook, &decode::message_topic(msg_term)?) {
                return Ok(done);
            }
            let client = decode::client_info(arg(0)?)?;
            let fields = decode::message_fields(msg_term)?;
            let decision = h.on_message_delivered(&client, &decode::message(msg_term)?, ctx);
            encode::delivered(env, &fields, &decision)
        }
        Hook::MessageAcked => {
            let msg_term = arg(1)?;
            if driver.spec.wants(hook, &decode::message_topic(msg_term)?) {
                h.on_message_acked(
                    &decode::client_info(arg(0)?)?,
                    &decode::message(msg_term)?,
                    ctx,
                );
            }
            done
        }
        Hook::MessageDropped => {
            let msg_term = arg(0)?;
            if driver.spec.wants(hook, &decode::message_topic(msg_term)?) {
                let node = dropped_by_node(arg(1)?);
                let reason = decode::reason(arg(2)?);
                h.on_message_dropped(&decode::message(msg_term)?, &node, &reason, ctx);
            }
            done
        }
    })
}

/// The node from `message.dropped`'s `#{node => Node}` argument.
fn dropped_by_node(term: Term) -> String {
    term.map_get(decode::atoms::node())
        .ok()
        .and_then(|n| decode::text(n).map(|t| t.into_owned()))
        .unwrap_or_default()
}
