//! The handler `bench/` drives: pure-compute decisions, so that what the
//! benchmark measures is the plugin's path from the broker callback down
//! to the handler and back, not the handler's own work.
//!
//! - `client.authenticate`: allow a non-empty clientid that comes with a
//!   password or a username, deny anything else; a clientid that starts
//!   with [`SLOW_PREFIX`] first sleeps [`SLOW_CALL`] (the slow neighbour
//!   the pool must not let hold up anyone else);
//! - `client.check_acl`: deny when the username is empty or missing, else allow;
//! - `client.connected`: read the clientid and count (one relaxed atomic add);
//! - `message.publish`: read the topic and the payload length, continue
//!   (the payload is borrowed, never copied); on `log/info/N` also log N
//!   lines at info, on `log/debug/N` N at debug (the logging cases: N is 1,
//!   or many to make a filtered line's few nanoseconds measurable from the
//!   VM; anything but a number counts as 1);
//! - `message.delivered`: the benchmark's probe, never timed. A message on
//!   [`COUNT_TOPIC`] comes back with the payload `"<OS pid> <client.connected
//!   events counted>"`; any other goes on unchanged. Over the Port
//!   transport the handler runs in OS processes whose counter the VM cannot
//!   read: the probe, queued behind a client's notifications (same clientid,
//!   same process, same lane), answers once they are handled, with the
//!   count of the process that handled them.
//!
//! The handler declares `Mode::Pool`; each benchmark run overrides the
//! mode through the driver's config (`{mode, inline | dirty_cpu | dirty_io | pool}`).

use emqx_extension_sdk::{
    export_handler, handler, AclDecision, AuthDecision, AuthResult, ClientInfo, Config, ConnInfo,
    Context, DeliveredDecision, Handler, HookSpec, InitError, Message, MessageRewrite, Mode,
    PubSub, PublishDecision,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The topic of the benchmark's probe (see `message.delivered`).
pub const COUNT_TOPIC: &str = "$bench/connected";

/// Logins of clientids with this prefix take [`SLOW_CALL`].
pub const SLOW_PREFIX: &str = "bench-slow-";

/// How long a slow login takes.
pub const SLOW_CALL: Duration = Duration::from_millis(100);

/// The benchmark handler; its only state is two counters.
pub struct BenchHandler {
    connected: AtomicU64,
    published_bytes: AtomicU64,
}

#[handler]
impl Handler for BenchHandler {
    fn init(_config: &Config) -> Result<Self, InitError> {
        Ok(BenchHandler {
            connected: AtomicU64::new(0),
            published_bytes: AtomicU64::new(0),
        })
    }

    fn hook_spec(&self) -> HookSpec {
        HookSpec::new().default_mode(Mode::Pool)
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        _so_far: AuthResult,
        _ctx: &Context,
    ) -> AuthDecision {
        if client.clientid().starts_with(SLOW_PREFIX) {
            std::thread::sleep(SLOW_CALL);
        }
        let has_secret = client.password().is_some_and(|p| !p.is_empty())
            || client.username().is_some_and(|u| !u.is_empty());
        if !client.clientid().is_empty() && has_secret {
            AuthDecision::Allow
        } else {
            AuthDecision::Deny
        }
    }

    fn on_client_check_acl(
        &self,
        client: &ClientInfo,
        _pubsub: PubSub,
        _topic: &str,
        _so_far: bool,
        _ctx: &Context,
    ) -> AclDecision {
        match client.username().as_deref() {
            None | Some("") => AclDecision::Deny,
            Some(_) => AclDecision::Allow,
        }
    }

    fn on_client_connected(&self, client: &ClientInfo, _conn: &ConnInfo, _ctx: &Context) {
        // Reads the clientid, as an online-status handler would, and counts.
        let named = u64::from(!client.clientid().is_empty());
        self.connected.fetch_add(named, Ordering::Relaxed);
    }

    fn on_message_publish(&self, message: &Message, _ctx: &Context) -> PublishDecision {
        // Look at the topic and the payload's length; the payload is a
        // borrowed slice of the broker's binary.
        let topic = message.topic();
        let weight = topic.len() as u64 + message.payload().len() as u64;
        self.published_bytes.fetch_add(weight, Ordering::Relaxed);
        // The logging cases: N lines per message, at info or at debug.
        if let Some(rest) = topic.strip_prefix("log/") {
            let (level, count) = rest.split_once('/').unwrap_or((rest, ""));
            let lines: u32 = count.parse().unwrap_or(1);
            for _ in 0..lines {
                if level == "info" {
                    log::info!("published {topic} ({weight} bytes)");
                } else {
                    log::debug!("published {topic} ({weight} bytes)");
                }
            }
        }
        PublishDecision::Continue
    }

    fn on_message_delivered(
        &self,
        _client: &ClientInfo,
        message: &Message,
        _ctx: &Context,
    ) -> DeliveredDecision {
        if message.topic() != COUNT_TOPIC {
            return DeliveredDecision::Continue;
        }
        let count = self.connected.load(Ordering::Relaxed);
        let payload = format!("{} {count}", std::process::id());
        DeliveredDecision::Rewrite(MessageRewrite::default().payload(payload.into_bytes()))
    }
}

export_handler!(BenchHandler, "emqx_bench_handler");
