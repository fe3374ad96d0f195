//! The seed article's `CustomHook`, ported from the Python SDK to Rust:
//! logs connects and publishes (through the `log` crate, into the broker's
//! log), allows authentication for a non-empty clientid, and denies ACL to
//! a client without a username.

use emqx_extension_sdk::{
    export_handler, handler, AclDecision, AuthDecision, AuthResult, ClientInfo, Config, ConnInfo,
    Context, Handler, InitError, Message, Properties, PubSub, PublishDecision,
};

/// The handler; it keeps no state.
pub struct CustomHook;

#[handler]
impl Handler for CustomHook {
    fn init(_config: &Config) -> Result<Self, InitError> {
        Ok(CustomHook)
    }

    fn on_client_connect(
        &self,
        conn: &ConnInfo,
        _props: &Properties,
        _ctx: &Context,
    ) -> emqx_extension_sdk::ConnectDecision {
        log::info!(
            "[on_client_connect] {} connect",
            conn.clientid().unwrap_or_default()
        );
        emqx_extension_sdk::ConnectDecision::Accept
    }

    fn on_client_connected(&self, client: &ClientInfo, _conn: &ConnInfo, _ctx: &Context) {
        log::info!("[on_client_connected] {} connected", client.clientid());
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        _so_far: AuthResult,
        _ctx: &Context,
    ) -> AuthDecision {
        // When the clientid is not empty, authentication passes.
        if client.clientid().is_empty() {
            AuthDecision::Deny
        } else {
            AuthDecision::Allow
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
        // When the username is empty (or absent), the ACL check fails.
        match client.username().as_deref() {
            None | Some("") => AclDecision::Deny,
            Some(_) => AclDecision::Allow,
        }
    }

    fn on_message_publish(&self, message: &Message, _ctx: &Context) -> PublishDecision {
        log::info!(
            "[on_message_publish] {} ({} bytes)",
            message.topic(),
            message.payload().len()
        );
        PublishDecision::Continue
    }
}

export_handler!(CustomHook, "emqx_example_custom_hook");

#[cfg(test)]
mod tests {
    use super::*;
    use emqx_extension_sdk::testing::{Access, Login, TestBroker};
    use emqx_extension_sdk::{testing, Hook};

    fn broker() -> TestBroker<CustomHook> {
        TestBroker::start(Config::default()).expect("CustomHook starts")
    }

    #[test]
    fn registers_exactly_the_implemented_hooks() {
        let hooks: Vec<Hook> = broker().hooks().iter().collect();
        assert_eq!(
            hooks,
            vec![
                Hook::ClientConnect,
                Hook::ClientConnected,
                Hook::ClientAuthenticate,
                Hook::ClientCheckAcl,
                Hook::MessagePublish
            ]
        );
    }

    #[test]
    fn authenticate_allows_a_non_empty_clientid_only() {
        let broker = broker();
        let named = ClientInfo::builder().clientid("c1").build();
        let unnamed = ClientInfo::builder().clientid("").build();
        assert_eq!(
            broker.authenticate(&named),
            Login::Allowed { superuser: false }
        );
        assert_eq!(broker.authenticate(&unnamed), Login::Denied);
        // The login EMQX 4.4.19 sent, as captured.
        let captured = testing::sample(Hook::ClientAuthenticate).client_info(0);
        assert_eq!(
            broker.authenticate(&captured),
            Login::Allowed { superuser: false }
        );
    }

    #[test]
    fn acl_denies_an_empty_or_missing_username() {
        let broker = broker();
        let check = |client: ClientInfo| broker.check_acl(&client, PubSub::Publish, "t");
        assert_eq!(check(ClientInfo::builder().build()), Access::Denied);
        assert_eq!(
            check(ClientInfo::builder().username("").build()),
            Access::Denied
        );
        assert_eq!(
            check(ClientInfo::builder().username("good").build()),
            Access::Allowed
        );
    }

    #[test]
    fn captured_connect_and_publish_pass_unchanged() {
        let broker = broker();
        for hook in [Hook::ClientConnect, Hook::MessagePublish] {
            let sample = testing::sample(hook);
            // No opinion: the broker goes on with the accumulator it had.
            assert_eq!(
                Some(broker.replay(&sample)),
                sample.accumulator(),
                "{}",
                hook.name()
            );
        }
    }
}
