//! The python3 driver's handler: runs hooks written in Python, unchanged
//! from the original `emqx_extension_hook`, inside the broker's VM.
//!
//! The library embeds CPython (one interpreter per process, started at the
//! first driver's init, never finalised) and is loaded by the plugin once,
//! into module `emqx_extension_hook_python`; every python3 driver is a
//! driver instance of it. A driver's config (text settings):
//!
//! | key | meaning |
//! |---|---|
//! | `path` | the user's module search path, `:`-separated absolute directories |
//! | `init_module` | the user's module, whose `init()` returns `(0, (HookSpecs, State))` |
//! | `venv` | optional: a virtual environment whose site-packages the interpreter uses (unset: `$VIRTUAL_ENV`, or a `venv`/`.venv` in one of the `path` directories) |
//! | `node` | optional: the broker's node name, `node` in the hooks' arguments (default `nonode@nohost`) |
//!
//! Every setting (the handler's own, `exhook.drivers.NAME.handler.KEY`,
//! among them) reaches the user's module through `exhook.settings()`
//! while it is imported and in its `init()` and `deinit()`.
//!
//! Hook arguments, return values and the `exhook` decisions are described
//! in [`hookargs`] and [`decide`]; the interpreter's set-up in [`interp`].

use emqx_extension_sdk::{
    export_handler, AclDecision, AuthDecision, AuthResult, ClientInfo, Config, ConnInfo,
    ConnectDecision, Context, DeliveredDecision, FilterDecision, Handler, Hook, HookSet, HookSpec,
    InitError, Message, Mode, Properties, PubSub, PublishDecision, Reason, SessionInfo, SubOpts,
};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;

mod decide;
mod hookargs;
mod interp;
mod logstream;

use decide::{classify, Failure};

/// The one way a call ends without a decision: the SDK answers it with
/// the driver's failure policy and reports `text` (rate-limited) in the
/// broker's log, as a failure, not a panic. `text` never holds a password
/// or a payload.
fn fail(text: String) -> ! {
    emqx_extension_sdk::fail(text)
}

/// One user function a hook calls.
struct Callback {
    function: Py<PyAny>,
    /// `module.function`, as the spec named it.
    label: String,
}

/// A python3 driver: the user's module, loaded.
pub struct PythonHandler {
    name: Arc<str>,
    /// The support code's `Driver`, to unload the module.
    driver: Py<PyAny>,
    /// `node` in the arguments: an `Atom`.
    node: Py<PyAny>,
    /// The `State` init() returned, the last argument of every call.
    state: Py<PyAny>,
    callbacks: Vec<Option<Callback>>,
    hooks: HookSet,
    spec: HookSpec,
}

/// A driver's settings, read from its config.
struct Settings {
    dirs: Vec<String>,
    init_module: String,
    venv: Option<String>,
    node: String,
    /// Every setting, for `exhook.settings()` in the user's `init()`.
    all: Vec<(String, String)>,
}

impl Settings {
    fn read(config: &Config) -> Result<Settings, InitError> {
        let nonempty = |key: &str| config.get(key).map(str::trim).filter(|v| !v.is_empty());
        let path = nonempty("path").ok_or("python3 driver: `path` is not set")?;
        let init_module =
            nonempty("init_module").ok_or("python3 driver: `init_module` is not set")?;
        Ok(Settings {
            dirs: path
                .split(':')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(String::from)
                .collect(),
            init_module: init_module.into(),
            venv: nonempty("venv").map(String::from),
            node: nonempty("node").unwrap_or("nonode@nohost").into(),
            all: config.settings().to_vec(),
        })
    }
}

/// What the support code's `Driver.load()` gave, checked.
struct Loaded {
    driver: Py<PyAny>,
    node: Py<PyAny>,
    state: Py<PyAny>,
    callbacks: Vec<Option<Callback>>,
    hooks: HookSet,
    spec: HookSpec,
}

/// The text of a Python exception for the log: its traceback, or just its
/// message for the support code's `DriverError` (a message for the operator).
fn exception_text(py: Python<'_>, err: &PyErr) -> String {
    let value = err.value(py);
    if value.get_type().name().is_ok_and(|n| n == "DriverError") {
        return value.to_string();
    }
    hookargs::Terms::get()
        .format_exception
        .bind(py)
        .call1((value, err.traceback(py)))
        .and_then(|text| text.extract())
        .unwrap_or_else(|_| err.to_string())
}

fn load(py: Python<'_>, name: &str, settings: &Settings) -> Result<Loaded, String> {
    let support = py
        .import(interp::DRIVER_MODULE)
        .map_err(|e| exception_text(py, &e))?;
    let driver = support
        .getattr("Driver")
        .and_then(|d| {
            d.call1((
                name,
                settings.dirs.clone(),
                &settings.init_module,
                settings.venv.as_deref(),
                settings.all.clone(),
            ))
        })
        .map_err(|e| exception_text(py, &e))?;
    let loaded = driver
        .call_method0("load")
        .map_err(|e| exception_text(py, &e))?;
    let checked = check(py, name, &driver, &loaded, settings);
    if checked.is_err() {
        // init() ran: the module gets its deinit().
        let _ = driver.call_method0("unload");
    }
    checked
}

fn check(
    py: Python<'_>,
    name: &str,
    driver: &Bound<'_, PyAny>,
    loaded: &Bound<'_, PyAny>,
    settings: &Settings,
) -> Result<Loaded, String> {
    type Row<'py> = (String, Bound<'py, PyAny>, Vec<String>, String);
    let (rows, state): (Vec<Row>, Bound<PyAny>) =
        loaded.extract().map_err(|e| exception_text(py, &e))?;
    let mut callbacks: Vec<Option<Callback>> = (0..Hook::ALL.len()).map(|_| None).collect();
    let mut hooks = HookSet::EMPTY;
    let mut spec = HookSpec::new().default_mode(Mode::Pool);
    for (hook_name, function, topics, label) in rows {
        let hook = Hook::from_method(&format!("on_{hook_name}"))
            .ok_or_else(|| format!("init(): unknown hook name {hook_name:?}"))?;
        if hooks.contains(hook) {
            log::warn!(target: name, "init(): hook {hook_name} is listed twice; the first entry ({}) is used",
                callbacks[usize::from(hook.index())].as_ref().map_or("", |c| c.label.as_str()));
            continue;
        }
        hooks = hooks.with(hook);
        // The PyPI SDK gives every hook the same topics; they filter the
        // message hooks only, as in the original.
        if hook.carries_message() && !topics.is_empty() {
            spec = spec.topics(hook, &topics);
        }
        callbacks[usize::from(hook.index())] = Some(Callback {
            function: function.unbind(),
            label,
        });
    }
    spec.validate()
        .map_err(|problem| format!("init(): {problem}"))?;
    let node = hookargs::atom(py, &settings.node).map_err(|e| exception_text(py, &e))?;
    Ok(Loaded {
        driver: driver.clone().unbind(),
        node: node.unbind(),
        state: state.unbind(),
        callbacks,
        hooks,
        spec,
    })
}

impl PythonHandler {
    /// Calls the user's function for `hook` with the arguments `args`
    /// builds (then State), and reads its answer with `decide`. Anything
    /// that keeps the call from a decision goes to [`fail`].
    fn call<R: Default>(
        &self,
        hook: Hook,
        args: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>>,
        decide: impl for<'py> FnOnce(Bound<'py, PyAny>) -> Result<R, Failure>,
    ) -> R {
        let Some(callback) = &self.callbacks[usize::from(hook.index())] else {
            return R::default();
        };
        let outcome = interp::on_worker(&self.name, |py| -> Result<R, Failure> {
            let built = args(py, self.node.bind(py)).and_then(|mut a| {
                a.push(self.state.bind(py).clone());
                PyTuple::new(py, a)
            });
            let args = built.map_err(|e| {
                format!("{}: arguments: {}", callback.label, exception_text(py, &e))
            })?;
            let result =
                callback.function.bind(py).call1(args).map_err(|e| {
                    format!("{} raised:\n{}", callback.label, exception_text(py, &e))
                })?;
            decide(result).map_err(|why| format!("{} {why}", callback.label))
        });
        match outcome {
            Ok(Ok(decision)) => decision,
            Ok(Err(text)) | Err(text) => fail(text),
        }
    }

    /// Notes an answer the hook does not read (the original ignored it too).
    fn ignored(&self, hook: Hook, value: Option<Bound<'_, PyAny>>) {
        if let Some(value) = value {
            if log::log_enabled!(target: &self.name, log::Level::Debug) {
                let label = self.callbacks[usize::from(hook.index())]
                    .as_ref()
                    .map_or("", |c| c.label.as_str());
                log::debug!(target: &self.name, "{label} returned {}, which {} ignores",
                    decide::describe(&value), hook.name());
            }
        }
    }

    fn notify(
        &self,
        hook: Hook,
        args: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>>,
    ) {
        self.call(hook, args, |result| {
            let ignored = decide::notification(classify(result)?, hook.name())?;
            self.ignored(hook, ignored);
            Ok(())
        })
    }
}

impl Handler for PythonHandler {
    fn init(config: &Config) -> Result<Self, InitError> {
        let settings = Settings::read(config)?;
        interp::ensure_started().map_err(InitError)?;
        let name: Arc<str> = config.driver().into();
        let loaded = interp::on_own_thread(&name, |py| load(py, &name, &settings))
            .and_then(|l| l)
            .map_err(|text| InitError(format!("python3 driver {name}: {text}")))?;
        Ok(PythonHandler {
            name,
            driver: loaded.driver,
            node: loaded.node,
            state: loaded.state,
            callbacks: loaded.callbacks,
            hooks: loaded.hooks,
            spec: loaded.spec,
        })
    }

    fn deinit(&self) {
        let unloaded = interp::on_own_thread(&self.name, |py| {
            self.driver
                .bind(py)
                .call_method0("unload")
                .map(|_| ())
                .map_err(|e| exception_text(py, &e))
        });
        if let Ok(Err(text)) | Err(text) = unloaded {
            fail(format!("deinit() raised:\n{text}"));
        }
    }

    fn hook_spec(&self) -> HookSpec {
        self.spec.clone()
    }

    fn implemented_hooks(&self) -> HookSet {
        self.hooks
    }

    fn on_client_connect(
        &self,
        conn: &ConnInfo,
        props: &Properties,
        _: &Context,
    ) -> ConnectDecision {
        let hook = Hook::ClientConnect;
        self.call(
            hook,
            |py, node| {
                Ok(vec![
                    hookargs::conn_info(py, node, conn)?,
                    hookargs::properties(py, props)?,
                ])
            },
            |result| {
                let (decision, ignored) = decide::connect(classify(result)?)?;
                self.ignored(hook, ignored);
                Ok(decision)
            },
        )
    }

    fn on_client_connack(&self, conn: &ConnInfo, reason: &str, props: &Properties, _: &Context) {
        self.notify(Hook::ClientConnack, |py, node| {
            Ok(vec![
                hookargs::conn_info(py, node, conn)?,
                hookargs::reason_text(py, reason)?,
                hookargs::properties(py, props)?,
            ])
        })
    }

    fn on_client_connected(&self, client: &ClientInfo, _: &ConnInfo, _: &Context) {
        self.notify(Hook::ClientConnected, |py, node| {
            Ok(vec![hookargs::client_info(py, node, client)?])
        })
    }

    fn on_client_disconnected(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        _: &ConnInfo,
        _: &Context,
    ) {
        self.notify(Hook::ClientDisconnected, |py, node| {
            Ok(vec![
                hookargs::client_info(py, node, client)?,
                hookargs::reason(py, reason)?,
            ])
        })
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        so_far: AuthResult,
        _: &Context,
    ) -> AuthDecision {
        self.call(
            Hook::ClientAuthenticate,
            |py, node| {
                Ok(vec![
                    hookargs::client_info(py, node, client)?,
                    hookargs::flag(py, so_far.success),
                ])
            },
            |result| decide::authenticate(classify(result)?),
        )
    }

    fn on_client_check_acl(
        &self,
        client: &ClientInfo,
        pubsub: PubSub,
        topic: &str,
        so_far: bool,
        _: &Context,
    ) -> AclDecision {
        self.call(
            Hook::ClientCheckAcl,
            |py, node| {
                Ok(vec![
                    hookargs::client_info(py, node, client)?,
                    hookargs::pubsub(py, pubsub),
                    hookargs::topic(py, topic),
                    hookargs::flag(py, so_far),
                ])
            },
            |result| decide::check_acl(classify(result)?),
        )
    }

    fn on_client_subscribe(
        &self,
        client: &ClientInfo,
        props: &Properties,
        filter: &str,
        opts: &SubOpts,
        _: &Context,
    ) -> FilterDecision {
        let hook = Hook::ClientSubscribe;
        self.call(
            hook,
            |py, node| {
                Ok(vec![
                    hookargs::client_info(py, node, client)?,
                    hookargs::properties(py, props)?,
                    hookargs::topic_filters(py, filter, opts.qos())?,
                ])
            },
            |result| {
                let (decision, ignored) = decide::subscribe(classify(result)?)?;
                self.ignored(hook, ignored);
                Ok(decision)
            },
        )
    }

    fn on_client_unsubscribe(
        &self,
        client: &ClientInfo,
        props: &Properties,
        filter: &str,
        _: &Context,
    ) {
        self.notify(Hook::ClientUnsubscribe, |py, node| {
            Ok(vec![
                hookargs::client_info(py, node, client)?,
                hookargs::properties(py, props)?,
                hookargs::topic_filters(py, filter, 0)?,
            ])
        })
    }

    fn on_session_created(&self, client: &ClientInfo, _: &SessionInfo, _: &Context) {
        self.notify(Hook::SessionCreated, |py, node| {
            Ok(vec![hookargs::client_info(py, node, client)?])
        })
    }

    fn on_session_subscribed(
        &self,
        client: &ClientInfo,
        filter: &str,
        opts: &SubOpts,
        _: &Context,
    ) {
        self.notify(Hook::SessionSubscribed, |py, node| {
            Ok(vec![
                hookargs::client_info(py, node, client)?,
                hookargs::topic(py, filter),
                hookargs::sub_opts(py, opts)?,
            ])
        })
    }

    fn on_session_unsubscribed(&self, client: &ClientInfo, filter: &str, _: &SubOpts, _: &Context) {
        self.notify(Hook::SessionUnsubscribed, |py, node| {
            Ok(vec![
                hookargs::client_info(py, node, client)?,
                hookargs::topic(py, filter),
            ])
        })
    }

    fn on_session_resumed(&self, client: &ClientInfo, _: &SessionInfo, _: &Context) {
        self.notify(Hook::SessionResumed, |py, node| {
            Ok(vec![hookargs::client_info(py, node, client)?])
        })
    }

    fn on_session_discarded(&self, client: &ClientInfo, _: &SessionInfo, _: &Context) {
        self.notify(Hook::SessionDiscarded, |py, node| {
            Ok(vec![hookargs::client_info(py, node, client)?])
        })
    }

    fn on_session_takeovered(&self, client: &ClientInfo, _: &SessionInfo, _: &Context) {
        self.notify(Hook::SessionTakeovered, |py, node| {
            Ok(vec![hookargs::client_info(py, node, client)?])
        })
    }

    fn on_session_terminated(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        _: &SessionInfo,
        _: &Context,
    ) {
        self.notify(Hook::SessionTerminated, |py, node| {
            Ok(vec![
                hookargs::client_info(py, node, client)?,
                hookargs::reason(py, reason)?,
            ])
        })
    }

    fn on_message_publish(&self, message: &Message, _: &Context) -> PublishDecision {
        self.call(
            Hook::MessagePublish,
            |py, node| Ok(vec![hookargs::message(py, node, message)?]),
            |result| decide::publish(classify(result)?),
        )
    }

    fn on_message_delivered(
        &self,
        client: &ClientInfo,
        message: &Message,
        _: &Context,
    ) -> DeliveredDecision {
        let hook = Hook::MessageDelivered;
        self.call(
            hook,
            |py, node| {
                Ok(vec![
                    hookargs::client_info(py, node, client)?,
                    hookargs::message(py, node, message)?,
                ])
            },
            |result| {
                let (decision, ignored) = decide::delivered(classify(result)?)?;
                self.ignored(hook, ignored);
                Ok(decision)
            },
        )
    }

    fn on_message_acked(&self, client: &ClientInfo, message: &Message, _: &Context) {
        self.notify(Hook::MessageAcked, |py, node| {
            Ok(vec![
                hookargs::client_info(py, node, client)?,
                hookargs::message(py, node, message)?,
            ])
        })
    }

    fn on_message_dropped(&self, message: &Message, _node: &str, reason: &Reason, _: &Context) {
        self.notify(Hook::MessageDropped, |py, node| {
            Ok(vec![
                hookargs::message(py, node, message)?,
                hookargs::reason(py, reason)?,
            ])
        })
    }
}

export_handler!(PythonHandler, "emqx_extension_hook_python");
