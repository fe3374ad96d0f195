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
        if banned(conn.username().as_deref()) {
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
        if banned(client.username().as_deref()) {
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
        match (
            filter.strip_prefix("private/"),
            client.username().as_deref(),
        ) {
            (Some(rest), Some(user)) => FilterDecision::Rewrite(format!("users/{user}/{rest}")),
            (Some(_), None) => FilterDecision::Deny,
            (None, _) => FilterDecision::Keep,
        }
    }

    /// `blocked/#` is dropped; `legacy/X` is republished as `v2/X` at QoS 1.
    fn on_message_publish(&self, message: &Message, _ctx: &Context) -> PublishDecision {
        let topic = message.topic();
        if topic.starts_with("blocked/") {
            return PublishDecision::Drop;
        }
        match topic.strip_prefix("legacy/") {
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
        let mut payload = message.payload().to_vec();
        payload.extend_from_slice(format!(" (for {})", client.clientid()).as_bytes());
        DeliveredDecision::Rewrite(MessageRewrite::default().payload(payload))
    }
}

export_handler!(Gatekeeper, "emqx_example_gatekeeper");

#[cfg(test)]
mod tests {
    use super::*;
    use emqx_extension_sdk::testing::{self, Login, Publish, Suback, TestBroker};

    fn broker() -> TestBroker<Gatekeeper> {
        TestBroker::start(Config::default()).expect("Gatekeeper starts")
    }

    #[test]
    fn banned_users_are_refused_at_connect_and_login() {
        let broker = broker();
        // The captured CONNECT and login are user `bad`'s.
        let connect = testing::sample(Hook::ClientConnect);
        assert_eq!(
            broker.connect(&connect.conn_info(0), &Properties::default()),
            Err(ReasonCode::BANNED)
        );
        let login = testing::sample(Hook::ClientAuthenticate).client_info(0);
        assert_eq!(broker.authenticate(&login), Login::Denied);
        let good = ConnInfo::builder().username("good").build();
        assert_eq!(broker.connect(&good, &Properties::default()), Ok(()));
        let good = ClientInfo::builder().username("good").build();
        assert_eq!(broker.authenticate(&good), Login::Undecided);
    }

    #[test]
    fn subscriptions_are_denied_rewritten_or_kept() {
        let broker = broker();
        let good = ClientInfo::builder().username("good").build();
        let opts = SubOpts::builder().qos(1).build();
        let filters = [
            ("#", opts.clone()),
            ("private/inbox", opts.clone()),
            ("p/#", opts.clone()),
        ];
        assert_eq!(
            broker.subscribe(&good, &Properties::default(), &filters),
            vec![
                Suback::Refused { filter: "#".into() },
                Suback::Granted {
                    filter: "users/good/inbox".into(),
                    qos: 1
                },
                Suback::Granted {
                    filter: "p/#".into(),
                    qos: 1
                },
            ]
        );
        let anonymous = ClientInfo::builder().build();
        assert_eq!(
            broker.subscribe(
                &anonymous,
                &Properties::default(),
                &[("private/inbox", opts)]
            ),
            vec![Suback::Refused {
                filter: "private/inbox".into()
            }]
        );
    }

    #[test]
    fn publishes_are_dropped_rewritten_or_continued() {
        let broker = broker();
        let publish = |topic: &str| broker.publish(&Message::builder().topic(topic).build());
        assert!(matches!(publish("blocked/x"), Publish::Dropped));
        match publish("legacy/a/b") {
            Publish::Routed(m) => assert_eq!((m.topic().as_ref(), m.qos()), ("v2/a/b", 1)),
            Publish::Dropped => panic!("legacy/a/b was dropped"),
        }
        // Outside the handler's topic filters: not even asked.
        match publish("p/1") {
            Publish::Routed(m) => assert_eq!((m.topic().as_ref(), m.qos()), ("p/1", 0)),
            Publish::Dropped => panic!("p/1 was dropped"),
        }
    }

    #[test]
    fn each_subscriber_of_p_receives_the_payload_tagged_for_it() {
        let broker = broker();
        let captured = testing::sample(Hook::MessageDelivered);
        let received = broker.deliver(&captured.client_info(0), &captured.message(1));
        assert_eq!(received.payload(), b"m1 (for subA)");
        // Other topics are not rewritten.
        let other = Message::builder()
            .topic("legacy/1")
            .payload(b"x".to_vec())
            .build();
        assert_eq!(
            broker.deliver(&captured.client_info(0), &other).payload(),
            b"x"
        );
    }
}
