//! The 19 hook points, the set of hooks a handler implements, and the
//! per-hook options (topic filters) it declares.

use crate::topic::TopicFilter;
use std::time::Instant;

macro_rules! hooks {
    ($( $variant:ident = $index:literal, $name:literal, $method:literal, $fold:literal; )*) => {
        /// One of the broker's 19 hook points.
        ///
        /// ```
        /// use emqx_extension_sdk::Hook;
        /// assert_eq!(Hook::ClientAuthenticate.name(), "client.authenticate");
        /// assert_eq!(Hook::from_method("on_message_publish"), Some(Hook::MessagePublish));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Hook {
            $(
                #[doc = concat!("`", $name, "`, handled by `Handler::", $method, "`.")]
                $variant = $index,
            )*
        }

        impl Hook {
            /// Every hook, in index order.
            pub const ALL: [Hook; 19] = [$(Hook::$variant),*];

            /// The broker's name of the hook point, e.g. `"client.connect"`.
            pub const fn name(self) -> &'static str {
                match self { $(Hook::$variant => $name,)* }
            }

            /// The [`Handler`](crate::Handler) method that handles this hook.
            pub const fn method(self) -> &'static str {
                match self { $(Hook::$variant => $method,)* }
            }

            /// True for hooks whose return value the broker folds into its
            /// decision (and so waits for); false for notifications.
            pub const fn is_fold(self) -> bool {
                match self { $(Hook::$variant => $fold,)* }
            }

            /// The hook handled by the method named `method`.
            pub fn from_method(method: &str) -> Option<Hook> {
                match method { $($method => Some(Hook::$variant),)* _ => None }
            }

            /// The hook with this stable index (0..19).
            pub fn from_index(index: u8) -> Option<Hook> {
                Hook::ALL.get(usize::from(index)).copied()
            }

            /// This hook's stable index (0..19).
            pub const fn index(self) -> u8 {
                self as u8
            }
        }
    };
}

hooks! {
    ClientConnect = 0, "client.connect", "on_client_connect", true;
    ClientConnack = 1, "client.connack", "on_client_connack", true;
    ClientConnected = 2, "client.connected", "on_client_connected", false;
    ClientDisconnected = 3, "client.disconnected", "on_client_disconnected", false;
    ClientAuthenticate = 4, "client.authenticate", "on_client_authenticate", true;
    ClientCheckAcl = 5, "client.check_acl", "on_client_check_acl", true;
    ClientSubscribe = 6, "client.subscribe", "on_client_subscribe", true;
    ClientUnsubscribe = 7, "client.unsubscribe", "on_client_unsubscribe", true;
    SessionCreated = 8, "session.created", "on_session_created", false;
    SessionSubscribed = 9, "session.subscribed", "on_session_subscribed", false;
    SessionUnsubscribed = 10, "session.unsubscribed", "on_session_unsubscribed", false;
    SessionResumed = 11, "session.resumed", "on_session_resumed", false;
    SessionDiscarded = 12, "session.discarded", "on_session_discarded", false;
    SessionTakeovered = 13, "session.takeovered", "on_session_takeovered", false;
    SessionTerminated = 14, "session.terminated", "on_session_terminated", false;
    MessagePublish = 15, "message.publish", "on_message_publish", true;
    MessageDelivered = 16, "message.delivered", "on_message_delivered", true;
    MessageAcked = 17, "message.acked", "on_message_acked", false;
    MessageDropped = 18, "message.dropped", "on_message_dropped", false;
}

impl Hook {
    /// True for the six hooks whose handler method returns a decision
    /// (`client.connack` and `client.unsubscribe` are folds in the broker,
    /// but a handler cannot change them, so they are notifications here).
    ///
    /// ```
    /// # use emqx_extension_sdk::Hook;
    /// assert!(Hook::ClientCheckAcl.takes_decision());
    /// assert!(!Hook::ClientConnack.takes_decision());
    /// ```
    pub const fn takes_decision(self) -> bool {
        matches!(
            self,
            Hook::ClientConnect
                | Hook::ClientAuthenticate
                | Hook::ClientCheckAcl
                | Hook::ClientSubscribe
                | Hook::MessagePublish
                | Hook::MessageDelivered
        )
    }

    /// True for the hooks that carry a message, the ones a topic filter applies to.
    ///
    /// ```
    /// # use emqx_extension_sdk::Hook;
    /// assert!(Hook::MessageDelivered.carries_message());
    /// assert!(!Hook::ClientConnected.carries_message());
    /// ```
    pub const fn carries_message(self) -> bool {
        matches!(
            self,
            Hook::MessagePublish
                | Hook::MessageDelivered
                | Hook::MessageAcked
                | Hook::MessageDropped
        )
    }
}

/// A set of hooks, one bit each.
///
/// ```
/// use emqx_extension_sdk::{Hook, HookSet};
/// let set = HookSet::EMPTY.with(Hook::ClientConnected);
/// assert!(set.contains(Hook::ClientConnected));
/// assert_eq!(set.iter().collect::<Vec<_>>(), vec![Hook::ClientConnected]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookSet(u32);

impl HookSet {
    /// No hooks.
    pub const EMPTY: HookSet = HookSet(0);

    /// This set plus `hook`.
    pub const fn with(self, hook: Hook) -> HookSet {
        HookSet(self.0 | (1 << hook as u8))
    }

    /// Whether `hook` is in the set.
    pub const fn contains(self, hook: Hook) -> bool {
        self.0 & (1 << hook as u8) != 0
    }

    /// The set of hooks handled by the named `Handler` methods; other names
    /// are skipped. Used by [`#[handler]`](macro@crate::handler).
    ///
    /// ```
    /// # use emqx_extension_sdk::{Hook, HookSet};
    /// let set = HookSet::from_methods(&["on_message_publish", "init"]);
    /// assert_eq!(set, HookSet::EMPTY.with(Hook::MessagePublish));
    /// ```
    pub fn from_methods(methods: &[&str]) -> HookSet {
        methods
            .iter()
            .filter_map(|m| Hook::from_method(m))
            .fold(HookSet::EMPTY, HookSet::with)
    }

    /// The hooks in the set, in index order.
    pub fn iter(self) -> impl Iterator<Item = Hook> {
        Hook::ALL.into_iter().filter(move |h| self.contains(*h))
    }
}

/// Where the plugin runs a handler's hook that takes a decision (see
/// [`Hook::takes_decision`]): the broker waits for it. The other hooks
/// are notifications, always queued to the driver's worker threads; they
/// never make the client wait.
///
/// | mode | runs on | client waits | cost per call (`make bench`: 2 cores, OTP 25) | for |
/// |---|---|---|---|---|
/// | `Inline` | the client's own scheduler | yes | ~0.8 µs | work that finishes in microseconds, e.g. an in-memory ACL table |
/// | `DirtyCpu` | a dirty CPU scheduler | yes | ~2 µs back to back, 20-30 µs sparse | CPU-heavy work |
/// | `DirtyIo` | a dirty I/O scheduler | yes | as `DirtyCpu` | blocking I/O without a timeout of its own |
/// | `Pool` | the driver's worker threads | yes, at most `call_timeout` | 3-5 µs back to back, 15-30 µs sparse | anything that may block (a database): the default |
///
/// Only in `Pool` mode is `call_timeout` enforced: in the others the
/// runtime cannot interrupt a handler, so it counts and logs overruns.
///
/// ```
/// use emqx_extension_sdk::{Hook, HookSpec, Mode};
/// let spec = HookSpec::new().mode(Hook::ClientCheckAcl, Mode::Inline);
/// assert_eq!(spec.mode_of(Hook::ClientCheckAcl), Mode::Inline);
/// assert_eq!(spec.mode_of(Hook::ClientAuthenticate), Mode::Pool);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// On the calling scheduler.
    Inline,
    /// On a dirty CPU scheduler.
    DirtyCpu,
    /// On a dirty I/O scheduler.
    DirtyIo,
    /// On the driver's worker threads, with `call_timeout` enforced.
    #[default]
    Pool,
}

impl Mode {
    /// The name used in the plugin's config (`inline`, `dirty_cpu`, `dirty_io`, `pool`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Inline => "inline",
            Mode::DirtyCpu => "dirty_cpu",
            Mode::DirtyIo => "dirty_io",
            Mode::Pool => "pool",
        }
    }
}

/// What a handler declares about its hooks beyond implementing them: the
/// topic filters of the message hooks (the original HookSpec's `topics`),
/// and where each fold hook runs ([`Mode`]).
///
/// A message hook with filters is entered only for messages whose topic
/// matches one of them; without filters it is entered for every message.
///
/// ```
/// use emqx_extension_sdk::{Hook, HookSpec};
/// let spec = HookSpec::new().topics(Hook::MessagePublish, ["sensors/+/temp", "alerts/#"]);
/// assert!(spec.wants(Hook::MessagePublish, "alerts/fire"));
/// assert!(!spec.wants(Hook::MessagePublish, "chat/room"));
/// assert!(spec.wants(Hook::MessageAcked, "chat/room"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct HookSpec {
    filters: Vec<(Hook, Vec<TopicFilter>)>,
    modes: Vec<(Hook, Mode)>,
    problems: Vec<String>,
}

impl HookSpec {
    /// A spec with no topic filters.
    pub fn new() -> HookSpec {
        HookSpec::default()
    }

    /// Restricts message hook `hook` to messages matching any of `filters`.
    ///
    /// A filter on a hook that carries no message, or a malformed filter,
    /// would silently match nothing, so either makes the driver fail to
    /// load with a message naming it (see [`HookSpec::validate`]).
    pub fn topics<I, S>(mut self, hook: Hook, filters: I) -> HookSpec
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if !hook.carries_message() {
            self.problems.push(format!(
                "topic filters apply to message hooks only, not {}",
                hook.name()
            ));
            return self;
        }
        let mut parsed = Vec::new();
        for filter in filters {
            match TopicFilter::parse(filter.as_ref()) {
                Ok(f) => parsed.push(f),
                Err(e) => self.problems.push(format!("{}: {e}", hook.name())),
            }
        }
        match self.filters.iter_mut().find(|(h, _)| *h == hook) {
            Some((_, existing)) => existing.extend(parsed),
            None => self.filters.push((hook, parsed)),
        }
        self
    }

    /// Runs fold hook `hook` in `mode` (by default [`Mode::Pool`]). The
    /// plugin's config can override it per driver and hook.
    ///
    /// A mode for a notification hook is refused when the driver loads:
    /// notifications are always queued.
    pub fn mode(mut self, hook: Hook, mode: Mode) -> HookSpec {
        if !hook.takes_decision() {
            self.problems.push(format!(
                "{} takes no decision: it is always queued and takes no mode",
                hook.name()
            ));
        }
        self.modes.retain(|(h, _)| *h != hook);
        self.modes.push((hook, mode));
        self
    }

    /// Runs every fold hook not given a mode of its own in `mode`.
    ///
    /// ```
    /// # use emqx_extension_sdk::{Hook, HookSpec, Mode};
    /// let spec = HookSpec::new().default_mode(Mode::Inline).mode(Hook::ClientAuthenticate, Mode::Pool);
    /// assert_eq!(spec.mode_of(Hook::ClientCheckAcl), Mode::Inline);
    /// assert_eq!(spec.mode_of(Hook::ClientAuthenticate), Mode::Pool);
    /// ```
    pub fn default_mode(mut self, mode: Mode) -> HookSpec {
        for hook in Hook::ALL.into_iter().filter(|h| h.takes_decision()) {
            if !self.modes.iter().any(|(h, _)| *h == hook) {
                self.modes.push((hook, mode));
            }
        }
        self
    }

    /// Where fold hook `hook` runs.
    pub fn mode_of(&self, hook: Hook) -> Mode {
        self.modes
            .iter()
            .find(|(h, _)| *h == hook)
            .map(|(_, m)| *m)
            .unwrap_or_default()
    }

    /// `Err` with every problem found while building the spec.
    ///
    /// ```
    /// # use emqx_extension_sdk::{Hook, HookSpec};
    /// assert!(HookSpec::new().topics(Hook::MessagePublish, ["a/#/b"]).validate().is_err());
    /// assert!(HookSpec::new().topics(Hook::ClientConnected, ["a"]).validate().is_err());
    /// assert!(HookSpec::new().topics(Hook::MessagePublish, ["a/+"]).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems.join("; "))
        }
    }

    /// Whether `hook` should be entered for a message on `topic`.
    pub fn wants(&self, hook: Hook, topic: &str) -> bool {
        match self.filters.iter().find(|(h, _)| *h == hook) {
            Some((_, filters)) => filters.iter().any(|f| f.matches(topic)),
            None => true,
        }
    }

    /// The filters declared for `hook`, empty when it takes every message.
    pub fn filters(&self, hook: Hook) -> &[TopicFilter] {
        self.filters
            .iter()
            .find(|(h, _)| *h == hook)
            .map(|(_, f)| f.as_slice())
            .unwrap_or(&[])
    }
}

/// Facts about the current call that are not hook arguments.
///
/// ```
/// # use emqx_extension_sdk::{Context, Hook};
/// # use std::time::{Duration, Instant};
/// let ctx = Context::new(Hook::ClientAuthenticate, "auth", Instant::now() + Duration::from_secs(5));
/// assert!(ctx.remaining() > Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
pub struct Context<'a> {
    hook: Hook,
    driver: &'a str,
    deadline: Instant,
}

impl<'a> Context<'a> {
    /// A context for `hook` in driver `driver`, answering by `deadline`.
    pub fn new(hook: Hook, driver: &'a str, deadline: Instant) -> Context<'a> {
        Context {
            hook,
            driver,
            deadline,
        }
    }

    /// The hook being handled.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The driver's name in the plugin's config (`exhook.drivers.NAME`).
    pub fn driver(&self) -> &str {
        self.driver
    }

    /// When the broker stops waiting for this call (`call_timeout` after it
    /// began). A handler that does I/O should give up by then: past it, its
    /// answer is replaced by the driver's failure policy.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left until [`Context::deadline`], zero once it has passed.
    pub fn remaining(&self) -> std::time::Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
