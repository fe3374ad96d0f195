//! What a handler answers to the hooks whose result the broker folds.
//!
//! Every decision type has a variant that means "no opinion": the broker
//! then goes on as if this handler were not there (the next driver, another
//! plugin, or the broker's own default decides). It is also the `Default`.

/// The answer to `client.authenticate`.
///
/// ```
/// use emqx_extension_sdk::AuthDecision;
/// let d = if "secret".len() > 3 { AuthDecision::Allow } else { AuthDecision::Deny };
/// assert_eq!(d, AuthDecision::Allow);
/// assert_eq!(AuthDecision::default(), AuthDecision::Ignore);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthDecision {
    /// Let the client in; no later handler is asked.
    Allow,
    /// Let the client in as a superuser (ACL checks are skipped by the broker).
    AllowSuperuser,
    /// Refuse the login (`not_authorized`); no later handler is asked.
    Deny,
    /// No opinion: the next handler, or the broker's default, decides.
    #[default]
    Ignore,
}

/// The answer to `client.check_acl`.
///
/// ```
/// use emqx_extension_sdk::AclDecision;
/// assert_eq!(AclDecision::default(), AclDecision::Ignore);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AclDecision {
    /// Allow the publish or subscribe; no later handler is asked.
    Allow,
    /// Deny it; no later handler is asked.
    Deny,
    /// No opinion.
    #[default]
    Ignore,
}

/// The answer to `client.connect`, before authentication.
///
/// ```
/// use emqx_extension_sdk::{ConnectDecision, ReasonCode};
/// let d = ConnectDecision::Refuse(ReasonCode::BANNED);
/// assert_ne!(d, ConnectDecision::Accept);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectDecision {
    /// Go on with the connection (authentication still follows).
    #[default]
    Accept,
    /// Refuse the connection with this MQTT reason code in the CONNACK.
    Refuse(ReasonCode),
}

/// An MQTT 5 CONNACK reason code; the broker maps it to the MQTT 3.1.1 code
/// for older clients.
///
/// ```
/// use emqx_extension_sdk::ReasonCode;
/// assert_eq!(ReasonCode::NOT_AUTHORIZED.0, 0x87);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    /// 0x80 Unspecified error.
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    /// 0x85 Client Identifier not valid.
    pub const CLIENT_IDENTIFIER_NOT_VALID: ReasonCode = ReasonCode(0x85);
    /// 0x86 Bad User Name or Password.
    pub const BAD_USERNAME_OR_PASSWORD: ReasonCode = ReasonCode(0x86);
    /// 0x87 Not authorized.
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    /// 0x88 Server unavailable.
    pub const SERVER_UNAVAILABLE: ReasonCode = ReasonCode(0x88);
    /// 0x89 Server busy.
    pub const SERVER_BUSY: ReasonCode = ReasonCode(0x89);
    /// 0x8A Banned.
    pub const BANNED: ReasonCode = ReasonCode(0x8A);
    /// 0x9F Connection rate exceeded.
    pub const CONNECTION_RATE_EXCEEDED: ReasonCode = ReasonCode(0x9F);
}

/// The answer to `client.subscribe`, for one topic filter of a SUBSCRIBE.
///
/// ```
/// use emqx_extension_sdk::FilterDecision;
/// let d = FilterDecision::Rewrite("tenants/42/alerts/#".into());
/// assert_ne!(d, FilterDecision::Keep);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FilterDecision {
    /// Subscribe as requested.
    #[default]
    Keep,
    /// Subscribe to this filter instead (same options).
    Rewrite(String),
    /// Refuse this filter (the client gets 0x80 in the SUBACK for it).
    Deny,
}

/// A change to a message; `None` fields stay as they were.
///
/// ```
/// use emqx_extension_sdk::MessageRewrite;
/// let r = MessageRewrite::default().topic("archive/p/1").qos(0);
/// assert_eq!(r.qos, Some(0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageRewrite {
    /// The new topic.
    pub topic: Option<String>,
    /// The new payload.
    pub payload: Option<Vec<u8>>,
    /// The new QoS (0, 1 or 2; larger values are clamped to 2).
    pub qos: Option<u8>,
}

impl MessageRewrite {
    /// Sets the new topic.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets the new payload.
    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = Some(payload.into());
        self
    }

    /// Sets the new QoS.
    pub fn qos(mut self, qos: u8) -> Self {
        self.qos = Some(qos);
        self
    }
}

/// The answer to `message.publish`.
///
/// ```
/// use emqx_extension_sdk::{MessageRewrite, PublishDecision};
/// let d = PublishDecision::Rewrite(MessageRewrite::default().payload(b"redacted".to_vec()));
/// assert_ne!(d, PublishDecision::Drop);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PublishDecision {
    /// Publish as it is.
    #[default]
    Continue,
    /// Publish the changed message; later hooks see the change.
    Rewrite(MessageRewrite),
    /// Do not deliver the message to anyone (`allow_publish => false`).
    Drop,
}

/// The answer to `message.delivered`: what this one subscriber receives.
///
/// ```
/// use emqx_extension_sdk::{DeliveredDecision, MessageRewrite};
/// let d = DeliveredDecision::Rewrite(MessageRewrite::default().payload(b"for you".to_vec()));
/// assert_ne!(d, DeliveredDecision::Continue);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeliveredDecision {
    /// Deliver as it is.
    #[default]
    Continue,
    /// Deliver the changed message to this subscriber.
    Rewrite(MessageRewrite),
}
