//! Typed views of what the broker hands to a hook.
//!
//! Every type borrows from the hook's arguments where it can (`'a` is the
//! lifetime of the call), so a handler that only reads a clientid or a
//! payload copies nothing. Text is [`Text`]: borrowed when the broker sent
//! valid UTF-8, replaced lossily when it did not (EMQX 4.4 does not check
//! UTF-8 unless `strict_mode` is on, so a client can send anything).
//!
//! Fields the broker may leave `undefined` are `Option`s.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

/// Text from the broker: borrowed from the hook's arguments when valid UTF-8.
///
/// ```
/// use emqx_extension_sdk::Text;
/// let clientid: Text = "c1".into();
/// assert_eq!(clientid, "c1");
/// ```
pub type Text<'a> = Cow<'a, str>;

/// The client's identity and session facts, as the broker's `ClientInfo` map.
///
/// ```
/// # use emqx_extension_sdk::ClientInfo;
/// fn is_admin(client: &ClientInfo) -> bool {
///     client.username.as_deref() == Some("admin") && client.is_superuser
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientInfo<'a> {
    /// The listener zone (`external`, `internal`, ...).
    pub zone: Text<'a>,
    /// `mqtt`, `mqtt-sn`, `coap`, `lwm2m`, `stomp`, ...
    pub protocol: Text<'a>,
    /// The client's IP address, IPv4 or IPv6; `None` if the broker sent none.
    pub peerhost: Option<IpAddr>,
    /// The listener port the client connected to.
    pub sockport: u16,
    /// The MQTT client identifier.
    pub clientid: Text<'a>,
    /// The username, `None` when the client sent none.
    pub username: Option<Text<'a>>,
    /// The password, only present in `client.authenticate`; raw bytes.
    pub password: Option<&'a [u8]>,
    /// The mountpoint prefix, if the zone sets one.
    pub mountpoint: Option<Text<'a>>,
    /// Whether the client is a bridge.
    pub is_bridge: bool,
    /// Whether the client was authenticated as a superuser.
    pub is_superuser: bool,
    /// `Some(true)` when authenticated anonymously (after authentication only).
    pub anonymous: Option<bool>,
    /// The authentication result, after authentication only.
    pub auth_result: Option<Text<'a>>,
    /// The `Cookie` header of a websocket client.
    pub ws_cookie: Option<Text<'a>>,
    /// The TLS client certificate's distinguished name.
    pub dn: Option<Text<'a>>,
    /// The TLS client certificate's common name.
    pub cn: Option<Text<'a>>,
}

/// The connection's facts, as the broker's `ConnInfo` map.
///
/// ```
/// # use emqx_extension_sdk::ConnInfo;
/// fn is_mqtt5(conn: &ConnInfo) -> bool { conn.proto_ver == Some(5) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnInfo<'a> {
    /// `tcp`, `ssl`, `ws` or `wss`.
    pub socktype: Text<'a>,
    /// The client's address and port.
    pub peername: Option<SocketAddr>,
    /// The listener's address and port.
    pub sockname: Option<SocketAddr>,
    /// The connection module (`emqx_connection`, `emqx_ws_connection`, ...).
    pub conn_mod: Text<'a>,
    /// `"MQTT"` or `"MQIsdp"`; from CONNECT on.
    pub proto_name: Option<Text<'a>>,
    /// 3, 4 or 5; from CONNECT on.
    pub proto_ver: Option<u8>,
    /// The CONNECT clean start flag.
    pub clean_start: Option<bool>,
    /// Keepalive in seconds.
    pub keepalive: Option<u16>,
    /// The MQTT client identifier.
    pub clientid: Option<Text<'a>>,
    /// The username, `None` when the client sent none.
    pub username: Option<Text<'a>>,
    /// Session expiry interval in seconds.
    pub expiry_interval: Option<u32>,
    /// The client's receive maximum.
    pub receive_maximum: Option<u32>,
    /// The CONNECT properties (MQTT 5).
    pub conn_props: Properties<'a>,
    /// When the connection was accepted, ms since the epoch.
    pub connected_at: Option<i64>,
    /// When the connection closed, ms since the epoch.
    pub disconnected_at: Option<i64>,
    /// Whether a client certificate was presented (the DER is not decoded).
    pub has_peercert: bool,
}

/// MQTT 5 properties, in the broker's order; keys are the broker's names
/// (`"Session-Expiry-Interval"`, `"User-Property"`, ...).
///
/// ```
/// # use emqx_extension_sdk::{Properties, PropertyValue};
/// let props = Properties::default();
/// assert!(props.get("Session-Expiry-Interval").is_none());
/// assert_eq!(props.user_properties().count(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties<'a>(pub Vec<(Text<'a>, PropertyValue<'a>)>);

/// One property's value.
///
/// ```
/// # use emqx_extension_sdk::PropertyValue;
/// let v = PropertyValue::Integer(30);
/// assert_eq!(v, PropertyValue::Integer(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue<'a> {
    /// An integer property.
    Integer(i64),
    /// A text or binary property.
    Binary(&'a [u8]),
    /// `User-Property` pairs.
    Pairs(Vec<(Text<'a>, Text<'a>)>),
    /// Any other shape, rendered as text for logging.
    Other(String),
}

impl<'a> Properties<'a> {
    /// The value of property `name`, if present.
    ///
    /// ```
    /// # use emqx_extension_sdk::{Properties, PropertyValue};
    /// let p = Properties(vec![("Topic-Alias".into(), PropertyValue::Integer(3))]);
    /// assert_eq!(p.get("Topic-Alias"), Some(&PropertyValue::Integer(3)));
    /// ```
    pub fn get(&self, name: &str) -> Option<&PropertyValue<'a>> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The `User-Property` pairs, in order.
    ///
    /// ```
    /// # use emqx_extension_sdk::{Properties, PropertyValue};
    /// let p = Properties(vec![("User-Property".into(),
    ///     PropertyValue::Pairs(vec![("k".into(), "v".into())]))]);
    /// assert_eq!(p.user_properties().next(), Some(("k", "v")));
    /// ```
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter(|(k, _)| k == "User-Property")
            .flat_map(|(_, v)| match v {
                PropertyValue::Pairs(pairs) => pairs.as_slice(),
                _ => &[],
            })
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// True when there are no properties.
    ///
    /// ```
    /// assert!(emqx_extension_sdk::Properties::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A published message, as the broker's `#message{}` record.
///
/// ```
/// # use emqx_extension_sdk::Message;
/// fn is_large(msg: &Message) -> bool { msg.payload.len() > 1024 }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message<'a> {
    /// The broker's 16-byte message id (see [`Message::id_hex`]).
    pub id: &'a [u8],
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// The publisher's clientid (or the name of the internal publisher).
    pub from: Text<'a>,
    /// `dup`, `retain`, `sys`.
    pub flags: MessageFlags,
    /// The headers this SDK knows; others are kept by the broker untouched.
    pub headers: MessageHeaders<'a>,
    /// The topic.
    pub topic: Text<'a>,
    /// The payload, borrowed: large payloads are never copied.
    pub payload: &'a [u8],
    /// When the message was created, ms since the epoch.
    pub timestamp: i64,
}

impl Message<'_> {
    /// The id as lowercase hex, the form the original plugin handed to user code.
    ///
    /// ```
    /// # use emqx_extension_sdk::Message;
    /// let msg = Message { id: &[0, 6, 0xab], ..Default::default() };
    /// assert_eq!(msg.id_hex(), "0006ab");
    /// ```
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A message's flags.
///
/// ```
/// # use emqx_extension_sdk::MessageFlags;
/// assert!(!MessageFlags::default().retain);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageFlags {
    /// Redelivery.
    pub dup: bool,
    /// Retained message.
    pub retain: bool,
    /// A `$SYS` message published by the broker itself.
    pub sys: bool,
}

/// The message headers a handler usually needs.
///
/// ```
/// # use emqx_extension_sdk::MessageHeaders;
/// assert_eq!(MessageHeaders::default().allow_publish, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageHeaders<'a> {
    /// The publisher's username.
    pub username: Option<Text<'a>>,
    /// The publisher's IP address.
    pub peerhost: Option<IpAddr>,
    /// The publisher's protocol (`mqtt`, ...).
    pub protocol: Option<Text<'a>>,
    /// The publisher's MQTT version.
    pub proto_ver: Option<u8>,
    /// `Some(false)` once a hook has blocked the message.
    pub allow_publish: Option<bool>,
    /// The PUBLISH properties.
    pub properties: Properties<'a>,
}

/// Subscription options of one topic filter, as the broker's SubOpts map.
///
/// ```
/// # use emqx_extension_sdk::SubOpts;
/// assert_eq!(SubOpts::default().qos, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubOpts {
    /// Requested maximum QoS.
    pub qos: u8,
    /// No Local.
    pub nl: u8,
    /// Retain As Published.
    pub rap: u8,
    /// Retain Handling.
    pub rh: u8,
    /// In `session.subscribed`: whether this is a new subscription.
    pub is_new: Option<bool>,
    /// The shared-subscription group (`$share/GROUP/...`), if any.
    pub share: Option<String>,
}

/// Whether an ACL check is for a publish or a subscribe.
///
/// ```
/// # use emqx_extension_sdk::PubSub;
/// assert_ne!(PubSub::Publish, PubSub::Subscribe);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSub {
    /// The client publishes to the topic.
    Publish,
    /// The client subscribes to the topic filter.
    Subscribe,
}

/// The broker's decision so far, handed to `client.authenticate`.
///
/// ```
/// # use emqx_extension_sdk::AuthResult;
/// let so_far = AuthResult { success: true, anonymous: true };
/// assert!(so_far.success);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthResult {
    /// True when the login would succeed if nobody decided otherwise.
    pub success: bool,
    /// True when the client is anonymous so far (no one authenticated it).
    pub anonymous: bool,
}

/// Why something ended (a disconnect, a terminated session, a dropped message).
///
/// ```
/// # use emqx_extension_sdk::Reason;
/// let r = Reason("normal".into());
/// assert_eq!(r.as_str(), "normal");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reason<'a>(pub Text<'a>);

impl Reason<'_> {
    /// The reason as text: an atom's name, or the term printed.
    ///
    /// ```
    /// # use emqx_extension_sdk::Reason;
    /// assert_eq!(Reason("takeovered".into()).as_str(), "takeovered");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The session's facts, as the broker's SessInfo map.
///
/// ```
/// # use emqx_extension_sdk::SessionInfo;
/// assert!(SessionInfo::default().subscriptions.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionInfo<'a> {
    /// The session's subscriptions: topic filter and options.
    pub subscriptions: Vec<(Text<'a>, SubOpts)>,
    /// Whether QoS upgrade is on.
    pub upgrade_qos: bool,
    /// Retry interval in seconds.
    pub retry_interval: Option<i64>,
    /// How long a QoS 2 message awaits PUBREL, in seconds.
    pub await_rel_timeout: Option<i64>,
    /// When the session was created, ms since the epoch.
    pub created_at: Option<i64>,
}
