//! Write EMQX 4.4 hook handlers in Rust and run them inside the broker.
//!
//! A handler is a type that implements [`Handler`]: one method per broker
//! hook, each with a default that does nothing. Mark the `impl` block with
//! [`#[handler]`](macro@handler) so that exactly the hooks you implement are
//! registered with the broker, and name the Erlang module the library binds
//! to with [`export_handler!`]. Build the crate as a `cdylib`, point the
//! plugin's config at the library, and load the plugin:
//!
//! ```text
//! exhook.drivers = auth
//! exhook.drivers.auth.path = /opt/handlers/libmy_auth.so
//! exhook.drivers.auth.init_module = my_auth
//! ```
//!
//! ```
//! use emqx_extension_sdk::{handler, export_handler, AuthDecision, AuthResult,
//!     ClientInfo, Config, Context, Handler, InitError};
//!
//! struct Auth;
//!
//! #[handler]
//! impl Handler for Auth {
//!     fn init(_config: &Config) -> Result<Self, InitError> {
//!         Ok(Auth)
//!     }
//!
//!     fn on_client_authenticate(&self, client: &ClientInfo, _so_far: AuthResult,
//!                               _ctx: &Context) -> AuthDecision {
//!         match client.password() {
//!             Some(b"letmein") => AuthDecision::Allow,
//!             _ => AuthDecision::Deny,
//!         }
//!     }
//! }
//!
//! export_handler!(Auth, "my_auth");
//! ```
//!
//! Handlers are called concurrently from many broker threads, so they take
//! `&self`: keep mutable state behind a lock or in atomics. A panic in a
//! handler is caught at the boundary and answered with the driver's failure
//! policy; it never reaches the broker.

#![warn(missing_docs)]

mod decision;
mod decode;
mod encode;
mod hook;
#[doc(hidden)]
pub mod runtime;
pub mod testing;
pub mod topic;
mod types;
mod value;

pub use decision::*;
pub use hook::{Context, Hook, HookSet, HookSpec, Mode};
pub use topic::{TopicFilter, TopicFilterError};
pub use types::*;

/// Marks an `impl Handler for T` block and records which `on_*` methods it
/// defines, so the plugin registers exactly those hooks with the broker.
///
/// ```
/// use emqx_extension_sdk::{handler, ClientInfo, ConnInfo, Config, Context, Handler, Hook, InitError};
/// struct Audit;
/// #[handler]
/// impl Handler for Audit {
///     fn init(_: &Config) -> Result<Self, InitError> { Ok(Audit) }
///     fn on_client_connected(&self, c: &ClientInfo, _: &ConnInfo, _: &Context) {
///         log::info!("{} online", c.clientid());
///     }
/// }
/// let audit = Audit::init(&Config::default()).unwrap();
/// let hooks: Vec<Hook> = audit.implemented_hooks().iter().collect();
/// assert_eq!(hooks, vec![Hook::ClientConnected]);
/// ```
pub use emqx_extension_sdk_macros::handler;

/// A driver's settings, from `exhook.drivers.NAME.*` in the plugin's config.
///
/// ```
/// use emqx_extension_sdk::Config;
/// let config = Config::new("auth", vec![("call_timeout".into(), "5000".into())]);
/// assert_eq!(config.driver(), "auth");
/// assert_eq!(config.get("call_timeout"), Some("5000"));
/// assert_eq!(config.get("missing"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config {
    driver: String,
    settings: Vec<(String, String)>,
}

impl Config {
    /// A config for driver `driver` with `settings` as key/value text.
    pub fn new(driver: impl Into<String>, settings: Vec<(String, String)>) -> Config {
        Config {
            driver: driver.into(),
            settings,
        }
    }

    /// The driver's name (`NAME` in `exhook.drivers.NAME.path`).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The value of setting `key`, if the config has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every setting, in config order.
    pub fn settings(&self) -> &[(String, String)] {
        &self.settings
    }
}

/// Gives up on the current call: the handler cannot decide (a database it
/// cannot reach, an answer it does not understand). The broker gets the
/// driver's `failed_action`, and `reason` goes to the broker's log (at most
/// a few reports a second per driver), without a panic's noise. In
/// `init`, the driver does not start and `reason` says why.
///
/// Never put a password or a payload in `reason`.
///
/// ```
/// use emqx_extension_sdk::*;
/// use emqx_extension_sdk::testing::{Login, TestBroker};
///
/// struct NeedsDatabase;
///
/// #[handler]
/// impl Handler for NeedsDatabase {
///     fn init(_: &Config) -> Result<Self, InitError> { Ok(NeedsDatabase) }
///     fn on_client_authenticate(&self, _: &ClientInfo, _: AuthResult, _: &Context) -> AuthDecision {
///         fail("database unreachable")
///     }
/// }
///
/// // failed_action is deny by default: the login is refused.
/// let broker = TestBroker::<NeedsDatabase>::start(Config::default()).unwrap();
/// assert_eq!(broker.authenticate(&ClientInfo::builder().build()), Login::Denied);
/// assert_eq!(broker.failures(), vec!["client.authenticate: database unreachable".to_string()]);
/// ```
pub fn fail(reason: impl Into<String>) -> ! {
    std::panic::resume_unwind(Box::new(HandlerFailure(reason.into())))
}

/// What [`fail`] unwinds with; the runtime tells it from a panic.
pub(crate) struct HandlerFailure(pub(crate) String);

/// Runs `f` on a thread of its own, started from a thread that is not one
/// of the broker's (a handler's `init` runs on one of the VM's dirty
/// schedulers): a thread started directly from a VM thread leaves per-thread
/// data there that keeps the handler library loaded after its driver is
/// disabled. Join the thread in `deinit`. See also [`run_on_own_thread`].
///
/// ```
/// let worker = emqx_extension_sdk::spawn_thread("refresher", || { /* work */ }).unwrap();
/// worker.join().unwrap();
/// ```
pub fn spawn_thread<F>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let builder = std::thread::Builder::new().name(name.to_string());
    runtime::spawn_off_vm(move || builder.spawn(f))?
}

/// Runs `f` to its end on a short-lived thread that is not one of the
/// broker's, and returns what it returns: for work in `init` or `deinit`
/// that leaves per-thread data behind on the thread it runs on (starting
/// threads with `std::thread`, opening connections of a client library
/// built on tokio), which on one of the VM's threads would keep the handler
/// library loaded after its driver is disabled. `Err` if the thread could
/// not start or `f` panicked.
///
/// ```
/// let sum = emqx_extension_sdk::run_on_own_thread(|| 2 + 2).unwrap();
/// assert_eq!(sum, 4);
/// ```
pub fn run_on_own_thread<R, F>(f: F) -> std::io::Result<R>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    runtime::spawn_off_vm(f)
}

/// Why a handler refused to start; the plugin reports it and does not load the driver.
///
/// ```
/// use emqx_extension_sdk::InitError;
/// let e: InitError = "database unreachable".into();
/// assert_eq!(e.to_string(), "database unreachable");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError(pub String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InitError {}

impl From<String> for InitError {
    fn from(message: String) -> Self {
        InitError(message)
    }
}

impl From<&str> for InitError {
    fn from(message: &str) -> Self {
        InitError(message.into())
    }
}

/// A hook handler: one method per broker hook, each with a default that
/// does nothing (or has no opinion).
///
/// Only `init` is required. Mark the `impl` with
/// [`#[handler]`](macro@handler), which fills in [`Handler::implemented_hooks`].
/// Every method gets a [`Context`] with the call's deadline.
///
/// The fold hooks answer with a decision: [`AuthDecision`], [`AclDecision`],
/// [`ConnectDecision`], [`FilterDecision`], [`PublishDecision`],
/// [`DeliveredDecision`]. The others are notifications.
///
/// ```
/// use emqx_extension_sdk::*;
///
/// struct ReadOnlyGuests;
///
/// #[handler]
/// impl Handler for ReadOnlyGuests {
///     fn init(_: &Config) -> Result<Self, InitError> { Ok(ReadOnlyGuests) }
///
///     fn on_client_check_acl(&self, client: &ClientInfo, pubsub: PubSub, _topic: &str,
///                            _so_far: bool, _ctx: &Context) -> AclDecision {
///         match (client.username().as_deref(), pubsub) {
///             (Some("guest"), PubSub::Publish) => AclDecision::Deny,
///             _ => AclDecision::Ignore,
///         }
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Handler: Send + Sync + 'static {
    /// Builds the handler when the driver is enabled. An `Err` keeps the
    /// driver from loading, and the plugin reports the message.
    fn init(config: &Config) -> Result<Self, InitError>
    where
        Self: Sized;

    /// Called once when the driver is disabled or the plugin stops, after
    /// the broker hooks are removed (calls already running may still finish).
    fn deinit(&self) {}

    /// Topic filters for the message hooks (by default every message) and
    /// where each fold hook runs (by default [`Mode::Pool`]).
    fn hook_spec(&self) -> HookSpec {
        HookSpec::new()
    }

    /// Counters of the handler's own (writes queued, written, dropped...),
    /// shown beside the driver's in `emqx_ctl exhook drivers stats` (NIF
    /// transport). None by default.
    ///
    /// ```
    /// # use emqx_extension_sdk::*;
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// struct Writer { written: AtomicU64 }
    /// #[handler]
    /// impl Handler for Writer {
    ///     fn init(_: &Config) -> Result<Self, InitError> { Ok(Writer { written: AtomicU64::new(0) }) }
    ///     fn counters(&self) -> Vec<(String, u64)> {
    ///         vec![("written".into(), self.written.load(Ordering::Relaxed))]
    ///     }
    /// }
    /// ```
    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// The hooks this handler implements; generated by
    /// [`#[handler]`](macro@handler), which is the way to provide it.
    fn implemented_hooks(&self) -> HookSet;

    /// `client.connect`: a client sent CONNECT; may refuse it with a reason code.
    fn on_client_connect(
        &self,
        conn: &ConnInfo,
        props: &Properties,
        ctx: &Context,
    ) -> ConnectDecision {
        ConnectDecision::Accept
    }

    /// `client.connack`: the broker answers CONNECT with `reason` (`success`, `not_authorized`, ...).
    fn on_client_connack(&self, conn: &ConnInfo, reason: &str, props: &Properties, ctx: &Context) {}

    /// `client.connected`: the client is connected and authenticated.
    fn on_client_connected(&self, client: &ClientInfo, conn: &ConnInfo, ctx: &Context) {}

    /// `client.disconnected`: the connection closed for `reason`.
    fn on_client_disconnected(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        conn: &ConnInfo,
        ctx: &Context,
    ) {
    }

    /// `client.authenticate`: decide the login. `so_far` is the broker's
    /// decision until now; [`AuthDecision::Ignore`] leaves it standing.
    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        so_far: AuthResult,
        ctx: &Context,
    ) -> AuthDecision {
        AuthDecision::Ignore
    }

    /// `client.check_acl`: decide a publish to, or subscribe on, `topic`.
    /// `so_far` is true when the broker would allow it until now.
    fn on_client_check_acl(
        &self,
        client: &ClientInfo,
        pubsub: PubSub,
        topic: &str,
        so_far: bool,
        ctx: &Context,
    ) -> AclDecision {
        AclDecision::Ignore
    }

    /// `client.subscribe`: called once for each filter of a SUBSCRIBE; keep,
    /// rewrite or deny it.
    fn on_client_subscribe(
        &self,
        client: &ClientInfo,
        props: &Properties,
        filter: &str,
        opts: &SubOpts,
        ctx: &Context,
    ) -> FilterDecision {
        FilterDecision::Keep
    }

    /// `client.unsubscribe`: called once for each filter of an UNSUBSCRIBE.
    fn on_client_unsubscribe(
        &self,
        client: &ClientInfo,
        props: &Properties,
        filter: &str,
        ctx: &Context,
    ) {
    }

    /// `session.created`.
    fn on_session_created(&self, client: &ClientInfo, session: &SessionInfo, ctx: &Context) {}

    /// `session.subscribed`: a subscription was added to the session.
    fn on_session_subscribed(
        &self,
        client: &ClientInfo,
        filter: &str,
        opts: &SubOpts,
        ctx: &Context,
    ) {
    }

    /// `session.unsubscribed`: a subscription was removed from the session.
    fn on_session_unsubscribed(
        &self,
        client: &ClientInfo,
        filter: &str,
        opts: &SubOpts,
        ctx: &Context,
    ) {
    }

    /// `session.resumed`: a persistent session was taken up by a new connection.
    fn on_session_resumed(&self, client: &ClientInfo, session: &SessionInfo, ctx: &Context) {}

    /// `session.discarded`: a clean-start connection discarded the old session.
    fn on_session_discarded(&self, client: &ClientInfo, session: &SessionInfo, ctx: &Context) {}

    /// `session.takeovered`: another connection took this session over.
    fn on_session_takeovered(&self, client: &ClientInfo, session: &SessionInfo, ctx: &Context) {}

    /// `session.terminated`: the session ended for `reason`.
    fn on_session_terminated(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        session: &SessionInfo,
        ctx: &Context,
    ) {
    }

    /// `message.publish`: a message enters the broker; continue, rewrite or drop it.
    fn on_message_publish(&self, message: &Message, ctx: &Context) -> PublishDecision {
        PublishDecision::Continue
    }

    /// `message.delivered`: a message goes to subscriber `client`; may rewrite it for them.
    fn on_message_delivered(
        &self,
        client: &ClientInfo,
        message: &Message,
        ctx: &Context,
    ) -> DeliveredDecision {
        DeliveredDecision::Continue
    }

    /// `message.acked`: subscriber `client` acknowledged a QoS 1 or 2 message.
    fn on_message_acked(&self, client: &ClientInfo, message: &Message, ctx: &Context) {}

    /// `message.dropped`: the broker on node `node` dropped the message for `reason`
    /// (`no_subscribers`, or a QoS 2 reason).
    fn on_message_dropped(&self, message: &Message, node: &str, reason: &Reason, ctx: &Context) {}
}

/// Makes this crate's `cdylib` a plugin driver: binds the library to the
/// Erlang module `$module` (the driver's `init_module` in the plugin's
/// config) and builds handler `$handler` when the driver is enabled.
///
/// Use it once per library, at the crate root.
///
/// ```
/// use emqx_extension_sdk::{export_handler, handler, Config, Handler, InitError};
/// struct Nothing;
/// #[handler]
/// impl Handler for Nothing {
///     fn init(_: &Config) -> Result<Self, InitError> { Ok(Nothing) }
/// }
/// export_handler!(Nothing, "nothing_handler");
/// ```
#[macro_export]
macro_rules! export_handler {
    ($handler:ty, $module:literal) => {
        #[doc(hidden)]
        fn __emqx_exhook_build(
            config: &$crate::Config,
        ) -> ::std::result::Result<::std::boxed::Box<dyn $crate::Handler>, $crate::InitError> {
            let handler = <$handler as $crate::Handler>::init(config)?;
            ::std::result::Result::Ok(::std::boxed::Box::new(handler))
        }

        /// The NIF transport: the VM calls this when it loads the library.
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn nif_init() -> *const $crate::runtime::ErlNifEntry {
            $crate::runtime::nif_entry(
                concat!($module, "\0"),
                __emqx_exhook_build,
                env!("CARGO_CRATE_NAME"),
            )
        }

        /// The Port transport: the `emqx_exhook_port` launcher calls this
        /// after loading the library in a process of its own.
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn emqx_exhook_port_main() -> i32 {
            $crate::runtime::port::serve(__emqx_exhook_build, env!("CARGO_CRATE_NAME"))
        }

        /// What the plugin checks before it loads the library: the SDK's
        /// interface version and the module name given here.
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn emqx_exhook_library_info() -> *const ::std::ffi::c_char {
            $crate::runtime::library_info(concat!($module, "\0"))
        }
    };
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
