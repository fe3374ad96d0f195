//! The seed article's `CustomHook`, ported from the Python SDK to Rust:
//! logs connects and publishes, allows authentication for a non-empty
//! clientid, and denies ACL to a client without a username.

use emqx_extension_sdk::{
    export_handler, handler, AclDecision, AuthDecision, AuthResult, ClientInfo, Config, ConnInfo,
    Context, Handler, InitError, Message, Properties, PubSub, PublishDecision,
};
use std::io::Write;

/// Prints one line to stderr (the broker's console log) in a single write,
/// so that lines from concurrent calls do not interleave.
fn log(line: String) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

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
        log(format!(
            "[Rust SDK] [on_client_connect] {} connect",
            conn.clientid.as_deref().unwrap_or("")
        ));
        emqx_extension_sdk::ConnectDecision::Accept
    }

    fn on_client_connected(&self, client: &ClientInfo, _conn: &ConnInfo, _ctx: &Context) {
        log(format!(
            "[Rust SDK] [on_client_connected] {} connected",
            client.clientid
        ));
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        _so_far: AuthResult,
        _ctx: &Context,
    ) -> AuthDecision {
        // When the clientid is not empty, authentication passes.
        if client.clientid.is_empty() {
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
        match client.username.as_deref() {
            None | Some("") => AclDecision::Deny,
            Some(_) => AclDecision::Allow,
        }
    }

    fn on_message_publish(&self, message: &Message, _ctx: &Context) -> PublishDecision {
        log(format!(
            "[Rust SDK] [on_message_publish] {} ({} bytes)",
            message.topic,
            message.payload.len()
        ));
        PublishDecision::Continue
    }
}

export_handler!(CustomHook, "emqx_example_custom_hook");

#[cfg(test)]
mod tests {
    use super::*;
    use emqx_extension_sdk::Hook;
    use std::time::Instant;

    fn ctx() -> Context<'static> {
        Context::new(Hook::ClientAuthenticate, "test", Instant::now())
    }

    #[test]
    fn registers_exactly_the_implemented_hooks() {
        let hooks: Vec<Hook> = CustomHook.implemented_hooks().iter().collect();
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
        let so_far = AuthResult {
            success: true,
            anonymous: true,
        };
        let named = ClientInfo {
            clientid: "c1".into(),
            ..Default::default()
        };
        let unnamed = ClientInfo::default();
        assert_eq!(
            CustomHook.on_client_authenticate(&named, so_far, &ctx()),
            AuthDecision::Allow
        );
        assert_eq!(
            CustomHook.on_client_authenticate(&unnamed, so_far, &ctx()),
            AuthDecision::Deny
        );
    }

    #[test]
    fn acl_denies_an_empty_or_missing_username() {
        let check = |username: Option<&'static str>| {
            let client = ClientInfo {
                username: username.map(Into::into),
                ..Default::default()
            };
            CustomHook.on_client_check_acl(&client, PubSub::Publish, "t", true, &ctx())
        };
        assert_eq!(check(None), AclDecision::Deny);
        assert_eq!(check(Some("")), AclDecision::Deny);
        assert_eq!(check(Some("good")), AclDecision::Allow);
    }
}
