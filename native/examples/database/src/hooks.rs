//! The only module that reads the broker's hook data (the SDK's
//! `ClientInfo`, `ConnInfo`, `Message`): it turns them into the handler's
//! own terms and its answers into the SDK's decisions. When the SDK's
//! types become accessor methods, this is the module to port.

use crate::acl::{Action, Subject, Verdict};
use crate::service::Login;
use crate::store::{now_ms, ClientEvent, EventKind, Record, StoredMessage};
use crate::{cannot_decide, DatabaseHandler};
use emqx_extension_sdk::{
    export_handler, handler, AclDecision, AuthDecision, AuthResult, ClientInfo, Config, ConnInfo,
    Context, Handler, Hook, HookSpec, InitError, Message, Mode, PubSub, PublishDecision, Reason,
};

/// Text for the database: PostgreSQL's `text` cannot hold NUL, which the
/// broker does not forbid in clientids or topics; it becomes U+FFFD on
/// both stores alike.
fn text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

fn opt_text(s: Option<&str>) -> Option<String> {
    s.map(text)
}

fn client_event(
    kind: EventKind,
    client: &ClientInfo,
    conn: &ConnInfo,
    node: &str,
    at: Option<i64>,
    reason: Option<&str>,
) -> Record {
    let peer = conn
        .peername()
        .map(|addr| addr.to_string())
        .or_else(|| client.peerhost().map(|ip| ip.to_string()));
    Record::Client(ClientEvent {
        kind,
        clientid: text(&client.clientid()),
        username: opt_text(client.username().as_deref()),
        node: node.to_string(),
        peer,
        protocol: Some(text(&client.protocol())),
        proto_ver: conn.proto_ver().map(i32::from),
        connected_at: conn.connected_at(),
        at: at.unwrap_or_else(now_ms),
        reason: opt_text(reason),
    })
}

fn stored_message(message: &Message, node: &str) -> Record {
    Record::Message(StoredMessage {
        msgid: message.id_hex(),
        topic: text(&message.topic()),
        qos: i16::from(message.qos()),
        payload: message.payload().to_vec(),
        publisher: text(&message.from()),
        username: opt_text(message.headers().username().as_deref()),
        retain: message.flags().retain,
        published_at: message.timestamp(),
        node: node.to_string(),
    })
}

#[handler]
impl Handler for DatabaseHandler {
    fn init(config: &Config) -> Result<Self, InitError> {
        DatabaseHandler::start(|key| config.get(key)).map_err(InitError::from)
    }

    fn deinit(&self) {
        self.stop();
    }

    /// The writer's counters, beside the driver's in `exhook drivers stats`.
    fn counters(&self) -> Vec<(String, u64)> {
        self.write_stats()
            .pairs()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }

    /// ACL checks answer from memory, on the client's own scheduler; a
    /// publish is only queued for the writer. Logins query the database,
    /// on the driver's worker threads.
    fn hook_spec(&self) -> HookSpec {
        HookSpec::new()
            .mode(Hook::ClientAuthenticate, Mode::Pool)
            .mode(Hook::ClientCheckAcl, Mode::Inline)
            .mode(Hook::MessagePublish, Mode::Inline)
            .topics(Hook::MessagePublish, &self.settings().store_topics)
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        _so_far: AuthResult,
        ctx: &Context,
    ) -> AuthDecision {
        let username = client.username().as_deref().map(text);
        match self
            .service()
            .login(username.as_deref(), client.password(), ctx.deadline())
        {
            Ok(Login::Allow) => AuthDecision::Allow,
            Ok(Login::AllowSuperuser) => AuthDecision::AllowSuperuser,
            Ok(Login::Deny) => AuthDecision::Deny,
            Err(why) => cannot_decide(&why.0),
        }
    }

    fn on_client_check_acl(
        &self,
        client: &ClientInfo,
        pubsub: PubSub,
        topic: &str,
        _so_far: bool,
        _ctx: &Context,
    ) -> AclDecision {
        let (username, clientid) = (client.username(), client.clientid());
        let subject = Subject {
            username: username.as_deref(),
            clientid: &clientid,
        };
        let action = match pubsub {
            PubSub::Publish => Action::Publish,
            PubSub::Subscribe => Action::Subscribe,
        };
        match self.service().check_acl(&subject, action, topic) {
            Ok(Verdict::Allow) => AclDecision::Allow,
            Ok(Verdict::Deny) => AclDecision::Deny,
            Ok(Verdict::Ignore) => AclDecision::Ignore,
            Err(why) => cannot_decide(&why.0),
        }
    }

    fn on_client_connected(&self, client: &ClientInfo, conn: &ConnInfo, _ctx: &Context) {
        let node = &self.settings().node;
        let at = conn.connected_at();
        self.service().record(client_event(
            EventKind::Connected,
            client,
            conn,
            node,
            at,
            None,
        ));
    }

    fn on_client_disconnected(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        conn: &ConnInfo,
        _ctx: &Context,
    ) {
        let node = &self.settings().node;
        let reason = reason.text();
        let (at, why) = (conn.disconnected_at(), Some(reason.as_ref()));
        self.service().record(client_event(
            EventKind::Disconnected,
            client,
            conn,
            node,
            at,
            why,
        ));
    }

    /// Only messages on `store_topics` get here (see `hook_spec`).
    fn on_message_publish(&self, message: &Message, _ctx: &Context) -> PublishDecision {
        self.service()
            .record(stored_message(message, &self.settings().node));
        PublishDecision::Continue
    }
}

export_handler!(DatabaseHandler, "emqx_example_database");
