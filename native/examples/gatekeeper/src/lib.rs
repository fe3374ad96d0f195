//! A handler that uses every kind of decision the SDK offers: it refuses
//! connections and logins, denies and rewrites subscriptions, rewrites and
//! drops published messages, and rewrites what one subscriber receives.

use emqx_extension_sdk::{
    export_handler, handler, AuthDecision, AuthResult, ClientInfo, Config, ConnInfo,
    ConnectDecision, Context, DeliveredDecision, FilterDecision, Handler, Hook, HookSpec,
    InitError, Message, MessageRewrite, Properties, PublishDecision, ReasonCode, SubOpts,
};

/// Usernames refused at CONNECT (and at login, should CONNECT let them by).
const BANNED_USERS: &[&str] = &["bad"];

/// The handler; it keeps no state.
pub struct Gatekeeper;

fn banned(username: Option<&str>) -> bool {
    username.is_some_and(|u| BANNED_USERS.contains(&u))
}

#[handler]
impl Handler for Gatekeeper {
    fn init(_config: &Config) -> Result<Self, InitError> {
        Ok(Gatekeeper)
    }

    fn hook_spec(&self) -> HookSpec {
        HookSpec::new()
            .topics(Hook::MessagePublish, ["blocked/#", "legacy/#"])
            .topics(Hook::MessageDelivered, ["p/#"])
    }

    /// Banned users are refused before authentication, with reason code 0x8A.
    fn on_client_connect(
        &self,
        conn: &ConnInfo,
        _props: &Properties,
        _ctx: &Context,
    ) -> ConnectDecision {
        if banned(conn.username.as_deref()) {
            ConnectDecision::Refuse(ReasonCode::BANNED)
        } else {
            ConnectDecision::Accept
        }
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        _so_far: AuthResult,
        _ctx: &Context,
    ) -> AuthDecision {
        if banned(client.username.as_deref()) {
            AuthDecision::Deny
        } else {
            AuthDecision::Ignore
        }
    }

    /// `#` (everything) is denied; `private/X` becomes `users/USERNAME/X`.
    fn on_client_subscribe(
        &self,
        client: &ClientInfo,
        _props: &Properties,
        filter: &str,
        _opts: &SubOpts,
        _ctx: &Context,
    ) -> FilterDecision {
        if filter == "#" {
            return FilterDecision::Deny;
        }
        match (filter.strip_prefix("private/"), client.username.as_deref()) {
            (Some(rest), Some(user)) => FilterDecision::Rewrite(format!("users/{user}/{rest}")),
            (Some(_), None) => FilterDecision::Deny,
            (None, _) => FilterDecision::Keep,
        }
    }

    /// `blocked/#` is dropped; `legacy/X` is republished as `v2/X` at QoS 1.
    fn on_message_publish(&self, message: &Message, _ctx: &Context) -> PublishDecision {
        if message.topic.starts_with("blocked/") {
            return PublishDecision::Drop;
        }
        match message.topic.strip_prefix("legacy/") {
            Some(rest) => PublishDecision::Rewrite(
                MessageRewrite::default().topic(format!("v2/{rest}")).qos(1),
            ),
            None => PublishDecision::Continue,
        }
    }

    /// Each subscriber of `p/#` receives the payload tagged with its clientid.
    fn on_message_delivered(
        &self,
        client: &ClientInfo,
        message: &Message,
        _ctx: &Context,
    ) -> DeliveredDecision {
        let mut payload = message.payload.to_vec();
        payload.extend_from_slice(format!(" (for {})", client.clientid).as_bytes());
        DeliveredDecision::Rewrite(MessageRewrite::default().payload(payload))
    }
}

export_handler!(Gatekeeper, "emqx_example_gatekeeper");

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn ctx() -> Context<'static> {
        Context::new(Hook::ClientSubscribe, "test", Instant::now())
    }

    #[test]
    fn subscriptions_are_denied_rewritten_or_kept() {
        let good = ClientInfo {
            username: Some("good".into()),
            ..Default::default()
        };
        let anon = ClientInfo::default();
        let sub = |c: &ClientInfo, f: &str| {
            Gatekeeper.on_client_subscribe(
                c,
                &Properties::default(),
                f,
                &SubOpts::default(),
                &ctx(),
            )
        };
        assert_eq!(sub(&good, "#"), FilterDecision::Deny);
        assert_eq!(
            sub(&good, "private/inbox"),
            FilterDecision::Rewrite("users/good/inbox".into())
        );
        assert_eq!(sub(&anon, "private/inbox"), FilterDecision::Deny);
        assert_eq!(sub(&good, "p/#"), FilterDecision::Keep);
    }

    #[test]
    fn publishes_are_dropped_rewritten_or_continued() {
        let publish = |topic: &'static str| {
            Gatekeeper.on_message_publish(
                &Message {
                    topic: topic.into(),
                    ..Default::default()
                },
                &ctx(),
            )
        };
        assert_eq!(publish("blocked/x"), PublishDecision::Drop);
        assert_eq!(
            publish("legacy/a/b"),
            PublishDecision::Rewrite(MessageRewrite::default().topic("v2/a/b").qos(1))
        );
        assert_eq!(publish("p/1"), PublishDecision::Continue);
    }

    #[test]
    fn message_hooks_are_entered_only_for_their_topic_filters() {
        let spec = Gatekeeper.hook_spec();
        assert!(spec.validate().is_ok());
        assert!(spec.wants(Hook::MessagePublish, "blocked/a"));
        assert!(!spec.wants(Hook::MessagePublish, "p/1"));
        assert!(spec.wants(Hook::MessageDelivered, "p/1"));
        assert!(!spec.wants(Hook::MessageDelivered, "legacy/1"));
    }
}
