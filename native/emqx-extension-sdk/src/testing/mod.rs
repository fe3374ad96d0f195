//! A test kit for handlers: build each hook's data, call a handler as the
//! broker would, and assert on what the broker would do, in an ordinary
//! `cargo test` (no broker, no Erlang VM).
//!
//! - Builders make the hook data, starting from the values a real EMQX
//!   4.4.19 passed (so a test sets only what it is about):
//!   [`ClientInfo::builder`], [`ConnInfo::builder`], [`Message::builder`],
//!   [`Properties::builder`], [`SubOpts::builder`], [`SessionInfo::builder`].
//! - [`samples`] and [`sample`] give the real arguments of all 19 hooks as
//!   captured in an EMQX 4.4.19 broker.
//! - [`TestBroker`] starts a handler (`init`), hands it events the way the
//!   plugin does (only the hooks it implements, message hooks only for the
//!   topics its [`HookSpec`](crate::HookSpec) lets through), folds its
//!   answers the way EMQX does, and stops it (`deinit`). A handler that
//!   gives up with [`fail`](crate::fail) gets the driver's `failed_action`
//!   (the config's, `deny` by default), as in the plugin, and the reason is
//!   kept ([`TestBroker::failures`]); a panic fails the test.
//!
//! ```
//! use emqx_extension_sdk::testing::{Login, TestBroker};
//! use emqx_extension_sdk::*;
//!
//! struct OnlyAlice;
//!
//! #[handler]
//! impl Handler for OnlyAlice {
//!     fn init(_: &Config) -> Result<Self, InitError> { Ok(OnlyAlice) }
//!     fn on_client_authenticate(&self, client: &ClientInfo, _: AuthResult,
//!                               _: &Context) -> AuthDecision {
//!         if client.username().as_deref() == Some("alice") {
//!             AuthDecision::Allow
//!         } else {
//!             AuthDecision::Deny
//!         }
//!     }
//! }
//!
//! let broker = TestBroker::<OnlyAlice>::start(Config::default()).unwrap();
//! let alice = ClientInfo::builder().username("alice").build();
//! assert_eq!(broker.authenticate(&alice), Login::Allowed { superuser: false });
//! let bob = ClientInfo::builder().username("bob").build();
//! assert_eq!(broker.authenticate(&bob), Login::Denied);
//! ```

mod builders;
mod samples;

pub use builders::*;
pub use samples::{sample, samples, Sample};

use crate::decision::ReasonCode;
use crate::hook::{Context, Hook, HookSpec};
use crate::runtime::dispatch::dispatch;
use crate::types::{ClientInfo, ConnInfo, Message, Properties, PubSub, SubOpts};
use crate::value::{Build, EtfBuild, Key, Raw, Value};
use crate::{Config, Handler, HookSet, InitError};
use eetf::Term;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the broker does with a login after the handler's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Let in (as a superuser or not).
    Allowed {
        /// Whether the handler made the client a superuser.
        superuser: bool,
    },
    /// Refused (`not_authorized`).
    Denied,
    /// The handler had no opinion: the broker's default (or the next
    /// driver) decides.
    Undecided,
}

/// What the broker does with an ACL check after the handler's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Allowed.
    Allowed,
    /// Denied.
    Denied,
    /// No opinion: the broker's default (or the next driver) decides.
    Undecided,
}

/// What the broker does with a published message.
#[derive(Debug, Clone)]
pub enum Publish {
    /// Routed on: the message as the next hooks and the subscribers see it
    /// (rewritten, or as published).
    Routed(Message<'static>),
    /// Not delivered to anyone.
    Dropped,
}

/// What the broker answers one filter of a SUBSCRIBE with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suback {
    /// Subscribed to `filter` (possibly rewritten) at this QoS.
    Granted {
        /// The filter subscribed to.
        filter: String,
        /// The granted QoS.
        qos: u8,
    },
    /// Refused (0x80).
    Refused {
        /// The filter that was refused.
        filter: String,
    },
}

/// A handler started as the plugin starts it, and called as the broker
/// calls it. See the [module docs](self).
pub struct TestBroker<H: Handler> {
    handler: H,
    spec: HookSpec,
    hooks: HookSet,
    call_timeout: Duration,
    /// `failed_action = ignore` in the config.
    ignore_failures: bool,
    failures: std::sync::Mutex<Vec<String>>,
    stopped: bool,
}

impl<H: Handler> TestBroker<H> {
    /// Runs the handler's `init` with `config` and checks its
    /// [`HookSpec`](crate::HookSpec), as enabling a driver does.
    pub fn start(config: Config) -> Result<TestBroker<H>, InitError> {
        let handler = H::init(&config)?;
        let spec = handler.hook_spec();
        spec.validate().map_err(InitError)?;
        let hooks = handler.implemented_hooks();
        let call_timeout = config
            .get("call_timeout")
            .and_then(|t| t.parse().ok())
            .map_or(Duration::from_secs(5), Duration::from_millis);
        Ok(TestBroker {
            handler,
            spec,
            hooks,
            call_timeout,
            ignore_failures: config.get("failed_action") == Some("ignore"),
            failures: std::sync::Mutex::new(Vec::new()),
            stopped: false,
        })
    }

    /// The handler, to inspect its state.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The hooks the plugin would register for this handler.
    pub fn hooks(&self) -> HookSet {
        self.hooks
    }

    /// The calls the handler gave up on with [`fail`](crate::fail), as
    /// `"hook.name: reason"`, oldest first.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs the handler's `deinit`, as disabling the driver does. Dropping
    /// the broker does it too.
    pub fn stop(mut self) {
        self.deinit();
    }

    fn deinit(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.handler.deinit();
        }
    }

    /// Calls `hook` with `args` (a tuple, the accumulator last for a fold)
    /// as the plugin does: not at all if the handler does not implement it
    /// (`ok`, the accumulator stands).
    fn call(&self, hook: Hook, args: Vec<Term>) -> Term {
        if !self.hooks.contains(hook) {
            return EtfBuild.atom(Key::ok);
        }
        let policy_args = args.clone();
        let args = EtfBuild.tuple(&args);
        let ctx = Context::new(hook, "test", Instant::now() + self.call_timeout);
        let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dispatch(&EtfBuild, &self.handler, &self.spec, hook, &args, &ctx)
        }));
        let outcome = match called {
            Ok(outcome) => outcome,
            Err(payload) => match payload.downcast::<crate::HandlerFailure>() {
                Ok(failure) => {
                    self.failures
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(format!("{}: {}", hook.name(), failure.0));
                    return self.failure_policy(hook, policy_args);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            },
        };
        match outcome {
            Ok(result) => result,
            Err(e) => {
                let (tag, text) = e.tag();
                panic!(
                    "{}: the plugin would answer the failure policy: {} {}",
                    hook.name(),
                    tag.name(),
                    text.unwrap_or("")
                )
            }
        }
    }

    /// What the plugin answers a fold hook the handler gave up on (see
    /// emqx_extension_hook_hooks:fold_failure/3).
    fn failure_policy(&self, hook: Hook, args: Vec<Term>) -> Term {
        let b = EtfBuild;
        let ok = b.atom(Key::ok);
        if self.ignore_failures {
            return ok;
        }
        let stop = |acc: Term| b.tuple(&[b.atom(Key::stop), acc]);
        let put = |map: &Term, key: Key, value: Term| b.map_put(map.clone(), key, value);
        match (hook, args.as_slice()) {
            (Hook::ClientConnect, _) => stop(b.tuple(&[b.atom(Key::error), b.int(0x88)])),
            (Hook::ClientAuthenticate, [_, acc]) => {
                put(acc, Key::auth_result, b.atom(Key::not_authorized))
                    .and_then(|acc| put(&acc, Key::anonymous, b.boolean(false)))
                    .map_or(ok, stop)
            }
            (Hook::ClientCheckAcl, _) => stop(b.atom(Key::deny)),
            (Hook::ClientSubscribe, [_, _, filters]) => {
                let denied: Vec<Term> = filters
                    .items()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|f| {
                        let opts = put(f.element(1)?, Key::deny_subscription, b.boolean(true))?;
                        Some(b.tuple(&[f.element(0)?.clone(), opts]))
                    })
                    .collect();
                b.tuple(&[b.atom(Key::ok), b.list(&denied)])
            }
            (Hook::MessagePublish, [msg]) => {
                let Term::Tuple(t) = msg else { return ok };
                let mut fields = t.elements.clone();
                match fields
                    .get(5)
                    .and_then(|h| put(h, Key::allow_publish, b.boolean(false)))
                {
                    Some(headers) => {
                        fields[5] = headers;
                        stop(b.tuple(&fields))
                    }
                    None => ok,
                }
            }
            _ => ok,
        }
    }

    /// `client.authenticate` with the broker's default so far being
    /// success (anonymous logins allowed).
    pub fn authenticate(&self, client: &ClientInfo) -> Login {
        let acc = builders::map(vec![
            ("auth_result", EtfBuild.atom(Key::success)),
            ("anonymous", EtfBuild.atom(Key::r#true)),
        ]);
        let result = self.call(Hook::ClientAuthenticate, vec![etf(client), acc]);
        match fold(&result) {
            None => Login::Undecided,
            Some(acc) => {
                let auth = acc.get(Key::auth_result);
                if auth.is_some_and(|a| a.is(Key::success)) {
                    Login::Allowed {
                        superuser: acc
                            .get(Key::is_superuser)
                            .is_some_and(|s| s.is(Key::r#true)),
                    }
                } else {
                    Login::Denied
                }
            }
        }
    }

    /// `client.check_acl` for `pubsub` on `topic`.
    pub fn check_acl(&self, client: &ClientInfo, pubsub: PubSub, topic: &str) -> Access {
        let pubsub = EtfBuild.atom(match pubsub {
            PubSub::Publish => Key::publish,
            PubSub::Subscribe => Key::subscribe,
        });
        let args = vec![
            etf(client),
            pubsub,
            EtfBuild.binary(topic.as_bytes()),
            EtfBuild.atom(Key::allow),
        ];
        match fold(&self.call(Hook::ClientCheckAcl, args)) {
            None => Access::Undecided,
            Some(r) if r.is(Key::allow) => Access::Allowed,
            Some(_) => Access::Denied,
        }
    }

    /// `client.connect`: `Err` with the reason code of a refused CONNECT.
    pub fn connect(&self, conn: &ConnInfo, props: &Properties) -> Result<(), ReasonCode> {
        let result = self.call(Hook::ClientConnect, vec![etf(conn), props.etf()]);
        match fold(&result) {
            Some(acc) if acc.element(0).is_some_and(|t| t.is(Key::error)) => {
                let code = acc.element(1).and_then(|c| c.int()).unwrap_or(0x80);
                Err(ReasonCode(u8::try_from(code).unwrap_or(0x80)))
            }
            _ => Ok(()),
        }
    }

    /// `client.subscribe` with `filters` (one SUBSCRIBE): what the SUBACK
    /// grants or refuses for each.
    pub fn subscribe(
        &self,
        client: &ClientInfo,
        props: &Properties,
        filters: &[(&str, SubOpts)],
    ) -> Vec<Suback> {
        let list: Vec<Term> = filters
            .iter()
            .map(|(f, o)| EtfBuild.tuple(&[EtfBuild.binary(f.as_bytes()), etf(o)]))
            .collect();
        let requested = EtfBuild.list(&list);
        let result = self.call(
            Hook::ClientSubscribe,
            vec![etf(client), props.etf(), requested.clone()],
        );
        let granted = fold(&result).unwrap_or(&requested);
        granted
            .items()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| {
                let filter = crate::decode::text(item.element(0)?)?.into_owned();
                let opts = item.element(1)?;
                Some(
                    if opts
                        .get(Key::deny_subscription)
                        .is_some_and(|d| d.is(Key::r#true))
                    {
                        Suback::Refused { filter }
                    } else {
                        let qos = opts.get(Key::qos).and_then(|q| q.int()).unwrap_or(0);
                        Suback::Granted {
                            filter,
                            qos: u8::try_from(qos).unwrap_or(0),
                        }
                    },
                )
            })
            .collect()
    }

    /// `message.publish`: routed (as rewritten) or dropped.
    pub fn publish(&self, message: &Message) -> Publish {
        let msg = etf(message);
        let result = self.call(Hook::MessagePublish, vec![msg.clone()]);
        let out = fold(&result).cloned().unwrap_or(msg);
        let blocked = out
            .element(5)
            .and_then(|h| h.get(Key::allow_publish))
            .is_some_and(|a| a.is(Key::r#false));
        if blocked {
            Publish::Dropped
        } else {
            Publish::Routed(owned_message(out))
        }
    }

    /// `message.delivered`: what subscriber `client` receives.
    pub fn deliver(&self, client: &ClientInfo, message: &Message) -> Message<'static> {
        let msg = etf(message);
        let result = self.call(Hook::MessageDelivered, vec![etf(client), msg.clone()]);
        owned_message(fold(&result).cloned().unwrap_or(msg))
    }

    /// Replays a captured hook call (see [`samples`]) as the broker made
    /// it; the broker's result term, printed: the new accumulator of a
    /// fold hook, `ok` for a notification.
    pub fn replay(&self, sample: &Sample) -> String {
        let hook = sample.hook();
        let args = sample.arg_terms();
        let result = self.call(hook, args.clone());
        if hook.is_fold() {
            let acc = args
                .last()
                .cloned()
                .unwrap_or_else(|| EtfBuild.atom(Key::ok));
            fold(&result).cloned().unwrap_or(acc).to_string()
        } else {
            "ok".to_string()
        }
    }
}

impl<H: Handler> Drop for TestBroker<H> {
    fn drop(&mut self) {
        self.deinit();
    }
}

/// The accumulator a fold result carries on (`{ok, Acc}` or `{stop, Acc}`);
/// `None` when the chain goes on with the accumulator it had.
fn fold(result: &Term) -> Option<&Term> {
    let tag = result.element(0)?;
    (tag.is(Key::ok) || tag.is(Key::stop)).then(|| result.element(1))?
}

/// The term behind a view, owned.
fn etf<V: builders::View>(view: &V) -> Term {
    view.etf()
}

fn owned_message(term: Term) -> Message<'static> {
    Message::from_raw(Raw::Owned(Arc::new(term))).unwrap_or_else(|_| Message::builder().build())
}
