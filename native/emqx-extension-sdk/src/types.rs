//! Typed views of what the broker hands to a hook.
//!
//! A view reads the broker's terms on demand: a handler that reads the
//! clientid and the username decodes those two fields and nothing else, so
//! a call costs what the handler reads, not what the broker sent. Values
//! are borrowed from the hook's arguments where they can be (a payload is
//! never copied); [`ClientInfo::to_owned`] and its twins make a view that
//! owns its data, to keep beyond the call.
//!
//! Text is [`Text`]: borrowed when the broker sent valid UTF-8, replaced
//! lossily when it did not (EMQX 4.4 does not check UTF-8 unless
//! `strict_mode` is on, so a client can send anything). Fields the broker
//! may leave out or set to `undefined` are `Option`s.
//!
//! The same views serve both transports (terms in the VM, or decoded from
//! the External Term Format) and the test kit ([`crate::testing`]), which
//! builds them.

use crate::decode::{self, int, ip, opt_boolean, socket_addr, text};
use crate::value::{on_raw, Key, Raw, Value};
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Text from the broker: borrowed from the hook's arguments when valid UTF-8.
///
/// ```
/// use emqx_extension_sdk::Text;
/// let clientid: Text = "c1".into();
/// assert_eq!(clientid, "c1");
/// ```
pub type Text<'a> = Cow<'a, str>;

/// Text under `key` of map `raw`.
fn text_of<'s>(raw: &'s Raw<'_>, key: Key) -> Option<Text<'s>> {
    on_raw!(raw, |v| v.get(key).and_then(text))
}

fn int_of<T: TryFrom<i64>>(raw: &Raw<'_>, key: Key) -> Option<T> {
    on_raw!(raw, |v| v.get(key).and_then(int))
}

fn bool_of(raw: &Raw<'_>, key: Key) -> Option<bool> {
    on_raw!(raw, |v| v.get(key).and_then(opt_boolean))
}

fn ip_of(raw: &Raw<'_>, key: Key) -> Option<IpAddr> {
    on_raw!(raw, |v| v.get(key).and_then(ip))
}

fn bytes_of<'s>(raw: &'s Raw<'_>, key: Key) -> Option<&'s [u8]> {
    on_raw!(raw, |v| v.get(key).and_then(|b| b.binary()))
}

/// Checks that `raw` is a map (a view's accessors then never fail).
fn map_view<'a>(what: &str, raw: Raw<'a>) -> Result<Raw<'a>, decode::DecodeError> {
    if on_raw!(&raw, |v| v.is_map()) {
        Ok(raw)
    } else {
        Err(decode::DecodeError(format!(
            "{what}: unexpected {}",
            on_raw!(&raw, |v| v.type_name())
        )))
    }
}

/// Any value of the broker's maps, read on demand: for keys the SDK has no
/// accessor for (a newer broker's, a plugin's).
///
/// ```
/// use emqx_extension_sdk::ClientInfo;
/// let client = ClientInfo::builder().set("tenant", "acme").build();
/// let tenant = client.get("tenant").expect("set above");
/// assert_eq!(tenant.text().as_deref(), Some("acme"));
/// assert!(client.get("nothing").is_none());
/// ```
#[derive(Clone)]
pub struct Field<'a> {
    raw: Raw<'a>,
}

impl<'a> Field<'a> {
    pub(crate) fn new(raw: Raw<'a>) -> Field<'a> {
        Field { raw }
    }

    /// A binary as text (lossy), or an atom's name; `None` for
    /// `undefined` and any other shape.
    pub fn text(&self) -> Option<Text<'_>> {
        on_raw!(&self.raw, |v| text(v))
    }

    /// The bytes of a binary.
    pub fn bytes(&self) -> Option<&[u8]> {
        on_raw!(&self.raw, |v| v.binary())
    }

    /// An integer that fits in 64 bits.
    pub fn int(&self) -> Option<i64> {
        on_raw!(&self.raw, |v| v.int())
    }

    /// `true` or `false`.
    pub fn boolean(&self) -> Option<bool> {
        on_raw!(&self.raw, |v| opt_boolean(v))
    }

    /// The value printed as an Erlang term.
    pub fn render(&self) -> String {
        self.raw.render()
    }
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Defines a view type over a map term with `from_raw`, `get`,
/// `to_owned` and `Debug` listing `$debug` accessors.
macro_rules! map_view {
    ($(#[$meta:meta])* $name:ident, $what:literal, [$($debug:ident),*]) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name<'a> {
            raw: Raw<'a>,
        }

        impl<'a> $name<'a> {
            #[allow(dead_code)]
            pub(crate) fn from_raw(raw: Raw<'a>) -> Result<$name<'a>, decode::DecodeError> {
                map_view($what, raw).map(|raw| $name { raw })
            }

            /// The value under key `key`, for keys without an accessor of
            /// their own (never creates an atom).
            pub fn get(&self, key: &str) -> Option<Field<'a>> {
                self.raw.get_named(key).map(Field::new)
            }

            /// A view that owns its data, to keep beyond the call.
            pub fn to_owned(&self) -> $name<'static> {
                $name { raw: self.raw.to_owned() }
            }

            #[allow(dead_code)]
            pub(crate) fn raw(&self) -> &Raw<'a> {
                &self.raw
            }

            /// A view of a term a builder made.
            #[allow(dead_code)]
            pub(crate) fn owned_view(raw: Raw<'static>) -> $name<'static> {
                $name { raw }
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($debug), &self.$debug()))*
                    .finish()
            }
        }
    };
}

map_view!(
    /// The client's identity and session facts: the broker's `ClientInfo` map.
    ///
    /// ```
    /// use emqx_extension_sdk::ClientInfo;
    /// fn is_admin(client: &ClientInfo) -> bool {
    ///     client.username().as_deref() == Some("admin") && client.is_superuser()
    /// }
    /// let client = ClientInfo::builder().username("admin").is_superuser(true).build();
    /// assert!(is_admin(&client));
    /// ```
    ClientInfo,
    "ClientInfo",
    [clientid, username, peerhost, sockport, protocol, zone, mountpoint, is_superuser]
);

impl ClientInfo<'_> {
    /// The MQTT client identifier.
    pub fn clientid(&self) -> Text<'_> {
        text_of(&self.raw, Key::clientid).unwrap_or_default()
    }

    /// The username, `None` when the client sent none.
    pub fn username(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::username)
    }

    /// The password, only present in `client.authenticate`; raw bytes.
    pub fn password(&self) -> Option<&[u8]> {
        bytes_of(&self.raw, Key::password)
    }

    /// The client's IP address, IPv4 or IPv6; `None` if the broker sent none.
    pub fn peerhost(&self) -> Option<IpAddr> {
        ip_of(&self.raw, Key::peerhost)
    }

    /// The listener port the client connected to.
    pub fn sockport(&self) -> u16 {
        int_of(&self.raw, Key::sockport).unwrap_or(0)
    }

    /// The listener zone (`external`, `internal`, ...).
    pub fn zone(&self) -> Text<'_> {
        text_of(&self.raw, Key::zone).unwrap_or_default()
    }

    /// `mqtt`, `mqtt-sn`, `coap`, `lwm2m`, `stomp`, ...
    pub fn protocol(&self) -> Text<'_> {
        text_of(&self.raw, Key::protocol).unwrap_or_default()
    }

    /// The mountpoint prefix, if the zone sets one.
    pub fn mountpoint(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::mountpoint)
    }

    /// Whether the client is a bridge.
    pub fn is_bridge(&self) -> bool {
        bool_of(&self.raw, Key::is_bridge).unwrap_or(false)
    }

    /// Whether the client was authenticated as a superuser.
    pub fn is_superuser(&self) -> bool {
        bool_of(&self.raw, Key::is_superuser).unwrap_or(false)
    }

    /// `Some(true)` when authenticated anonymously (after authentication only).
    pub fn anonymous(&self) -> Option<bool> {
        bool_of(&self.raw, Key::anonymous)
    }

    /// The authentication result, after authentication only.
    pub fn auth_result(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::auth_result)
    }

    /// The `Cookie` header of a websocket client, printed.
    pub fn ws_cookie(&self) -> Option<Text<'_>> {
        on_raw!(&self.raw, |v| v.get(Key::ws_cookie).map(decode::any_text))
    }

    /// The TLS client certificate's distinguished name.
    pub fn dn(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::dn)
    }

    /// The TLS client certificate's common name.
    pub fn cn(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::cn)
    }
}

map_view!(
    /// The connection's facts: the broker's `ConnInfo` map.
    ///
    /// ```
    /// use emqx_extension_sdk::ConnInfo;
    /// fn is_mqtt5(conn: &ConnInfo) -> bool { conn.proto_ver() == Some(5) }
    /// assert!(!is_mqtt5(&ConnInfo::builder().proto_ver(4).build()));
    /// ```
    ConnInfo,
    "ConnInfo",
    [clientid, username, socktype, peername, sockname, proto_name, proto_ver, keepalive]
);

impl<'a> ConnInfo<'a> {
    /// `tcp`, `ssl`, `ws` or `wss`.
    pub fn socktype(&self) -> Text<'_> {
        text_of(&self.raw, Key::socktype).unwrap_or_default()
    }

    /// The client's address and port.
    pub fn peername(&self) -> Option<SocketAddr> {
        on_raw!(&self.raw, |v| v.get(Key::peername).and_then(socket_addr))
    }

    /// The listener's address and port.
    pub fn sockname(&self) -> Option<SocketAddr> {
        on_raw!(&self.raw, |v| v.get(Key::sockname).and_then(socket_addr))
    }

    /// The connection module (`emqx_connection`, `emqx_ws_connection`, ...).
    pub fn conn_mod(&self) -> Text<'_> {
        text_of(&self.raw, Key::conn_mod).unwrap_or_default()
    }

    /// `"MQTT"` or `"MQIsdp"`; from CONNECT on.
    pub fn proto_name(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::proto_name)
    }

    /// 3, 4 or 5; from CONNECT on.
    pub fn proto_ver(&self) -> Option<u8> {
        int_of(&self.raw, Key::proto_ver)
    }

    /// The CONNECT clean start flag.
    pub fn clean_start(&self) -> Option<bool> {
        bool_of(&self.raw, Key::clean_start)
    }

    /// Keepalive in seconds.
    pub fn keepalive(&self) -> Option<u16> {
        int_of(&self.raw, Key::keepalive)
    }

    /// The MQTT client identifier.
    pub fn clientid(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::clientid)
    }

    /// The username, `None` when the client sent none.
    pub fn username(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::username)
    }

    /// Session expiry interval in seconds.
    pub fn expiry_interval(&self) -> Option<u32> {
        int_of(&self.raw, Key::expiry_interval)
    }

    /// The client's receive maximum.
    pub fn receive_maximum(&self) -> Option<u32> {
        int_of(&self.raw, Key::receive_maximum)
    }

    /// The CONNECT properties (MQTT 5).
    pub fn conn_props(&self) -> Properties<'a> {
        Properties::lenient(self.raw.get(Key::conn_props))
    }

    /// When the connection was accepted, ms since the epoch.
    pub fn connected_at(&self) -> Option<i64> {
        int_of(&self.raw, Key::connected_at)
    }

    /// When the connection closed, ms since the epoch.
    pub fn disconnected_at(&self) -> Option<i64> {
        int_of(&self.raw, Key::disconnected_at)
    }

    /// Whether a client certificate was presented (the DER is not decoded).
    pub fn has_peercert(&self) -> bool {
        on_raw!(&self.raw, |v| v
            .get(Key::peercert)
            .is_some_and(|c| !c.is_atom()))
    }
}

/// MQTT 5 properties: a map keyed by the broker's names
/// (`"Session-Expiry-Interval"`, `"User-Property"`, ...); `undefined` or
/// no properties read as empty.
///
/// ```
/// use emqx_extension_sdk::{Properties, PropertyValue};
/// let props = Properties::builder().set("Topic-Alias", 3).user_property("k", "v").build();
/// assert_eq!(props.get("Topic-Alias"), Some(PropertyValue::Integer(3)));
/// assert_eq!(props.user_properties(), vec![("k".into(), "v".into())]);
/// assert!(Properties::default().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Properties<'a> {
    raw: Option<Raw<'a>>,
}

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
    /// Any other shape, printed.
    Other(String),
}

impl<'a> Properties<'a> {
    /// A properties map, or `undefined` (no properties).
    pub(crate) fn from_raw(raw: Raw<'a>) -> Result<Properties<'a>, decode::DecodeError> {
        if on_raw!(&raw, |v| v.is(Key::undefined)) {
            return Ok(Properties { raw: None });
        }
        map_view("Properties", raw).map(|raw| Properties { raw: Some(raw) })
    }

    /// Properties where anything but a map reads as none.
    fn lenient(raw: Option<Raw<'a>>) -> Properties<'a> {
        raw.and_then(|r| Properties::from_raw(r).ok())
            .unwrap_or_default()
    }

    /// The value of property `name`, if present.
    pub fn get(&self, name: &str) -> Option<PropertyValue<'_>> {
        let raw = self.raw.as_ref()?;
        on_raw!(raw, |v| v.get_named(name).map(property_value))
    }

    /// Every property, as the broker's map holds them.
    pub fn iter(&self) -> Vec<(Text<'_>, PropertyValue<'_>)> {
        let Some(raw) = &self.raw else {
            return Vec::new();
        };
        let mut out = Vec::new();
        on_raw!(raw, |v| v.for_each_entry(|k, val| {
            out.push((decode::any_text(k), property_value(val)))
        }));
        out
    }

    /// The `User-Property` pairs, in order.
    pub fn user_properties(&self) -> Vec<(Text<'_>, Text<'_>)> {
        match self.get("User-Property") {
            Some(PropertyValue::Pairs(pairs)) => pairs,
            _ => Vec::new(),
        }
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.iter().len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Properties that own their data, to keep beyond the call.
    pub fn to_owned(&self) -> Properties<'static> {
        Properties {
            raw: self.raw.as_ref().map(Raw::to_owned),
        }
    }

    #[allow(dead_code)]
    pub(crate) fn raw(&self) -> Option<&Raw<'a>> {
        self.raw.as_ref()
    }

    /// Properties a builder made.
    #[allow(dead_code)]
    pub(crate) fn owned_view(raw: Raw<'static>) -> Properties<'static> {
        Properties { raw: Some(raw) }
    }
}

impl fmt::Debug for Properties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn property_value<'a, V: Value<'a>>(term: V) -> PropertyValue<'a> {
    if let Some(i) = term.int() {
        return PropertyValue::Integer(i);
    }
    if let Some(b) = term.binary() {
        return PropertyValue::Binary(b);
    }
    if let Some(list) = term.items() {
        let pairs: Option<Vec<_>> = list
            .into_iter()
            .map(|pair| match pair.elements()?.as_slice() {
                [k, v] => Some((text(*k)?, text(*v)?)),
                _ => None,
            })
            .collect();
        if let Some(pairs) = pairs {
            return PropertyValue::Pairs(pairs);
        }
    }
    PropertyValue::Other(term.render())
}

/// A published message: the broker's `#message{}` record.
///
/// ```
/// use emqx_extension_sdk::Message;
/// fn is_large(msg: &Message) -> bool { msg.payload().len() > 1024 }
/// assert!(!is_large(&Message::builder().payload(b"small".to_vec()).build()));
/// ```
#[derive(Clone)]
pub struct Message<'a> {
    raw: Raw<'a>,
}

/// Field positions of the `#message{}` record (element 0 is the tag).
const MSG_ID: usize = 1;
const MSG_QOS: usize = 2;
const MSG_FROM: usize = 3;
const MSG_FLAGS: usize = 4;
const MSG_HEADERS: usize = 5;
const MSG_TOPIC: usize = 6;
const MSG_PAYLOAD: usize = 7;
const MSG_TIMESTAMP: usize = 8;

impl<'a> Message<'a> {
    /// A `#message{}` record with a binary topic and payload.
    pub(crate) fn from_raw(raw: Raw<'a>) -> Result<Message<'a>, decode::DecodeError> {
        on_raw!(&raw, |v| {
            if !decode::is_message(v) {
                return decode::fail("Message (a #message{} record)", v);
            }
            if v.element(MSG_TOPIC).and_then(text).is_none() {
                return Err(decode::DecodeError("Message topic: not a binary".into()));
            }
            if v.element(MSG_PAYLOAD).and_then(|p| p.binary()).is_none() {
                return Err(decode::DecodeError("Message payload: not a binary".into()));
            }
            Ok(())
        })?;
        Ok(Message { raw })
    }

    fn bytes(&self, index: usize) -> &[u8] {
        on_raw!(&self.raw, |v| nth(v, index).and_then(|b| b.binary())).unwrap_or_default()
    }

    /// The broker's 16-byte message id (see [`Message::id_hex`]).
    pub fn id(&self) -> &[u8] {
        self.bytes(MSG_ID)
    }

    /// The id as lowercase hex, the form the original plugin handed to user code.
    ///
    /// ```
    /// # use emqx_extension_sdk::Message;
    /// let msg = Message::builder().id(vec![0, 6, 0xab]).build();
    /// assert_eq!(msg.id_hex(), "0006ab");
    /// ```
    pub fn id_hex(&self) -> String {
        self.id().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// QoS 0, 1 or 2.
    pub fn qos(&self) -> u8 {
        on_raw!(&self.raw, |v| nth(v, MSG_QOS).and_then(int)).unwrap_or(0)
    }

    /// The publisher's clientid (or the name of the internal publisher).
    pub fn from(&self) -> Text<'_> {
        on_raw!(&self.raw, |v| nth(v, MSG_FROM).and_then(text)).unwrap_or_default()
    }

    /// `dup`, `retain`, `sys`.
    pub fn flags(&self) -> MessageFlags {
        let flag = |key| {
            on_raw!(&self.raw, |v| nth(v, MSG_FLAGS)
                .and_then(|f| f.get(key))
                .is_some_and(|b| b.is(Key::r#true)))
        };
        MessageFlags {
            dup: flag(Key::dup),
            retain: flag(Key::retain),
            sys: flag(Key::sys),
        }
    }

    /// The headers this SDK knows; others are kept by the broker untouched.
    pub fn headers(&self) -> MessageHeaders<'a> {
        MessageHeaders {
            raw: self.raw.element(MSG_HEADERS),
        }
    }

    /// The topic.
    pub fn topic(&self) -> Text<'_> {
        on_raw!(&self.raw, |v| nth(v, MSG_TOPIC).and_then(text)).unwrap_or_default()
    }

    /// The payload, borrowed: large payloads are never copied.
    pub fn payload(&self) -> &[u8] {
        self.bytes(MSG_PAYLOAD)
    }

    /// When the message was created, ms since the epoch.
    pub fn timestamp(&self) -> i64 {
        on_raw!(&self.raw, |v| nth(v, MSG_TIMESTAMP).and_then(int)).unwrap_or(0)
    }

    /// A view that owns its data, to keep beyond the call.
    pub fn to_owned(&self) -> Message<'static> {
        Message {
            raw: self.raw.to_owned(),
        }
    }

    #[allow(dead_code)]
    pub(crate) fn raw(&self) -> &Raw<'a> {
        &self.raw
    }

    /// A message a builder made.
    #[allow(dead_code)]
    pub(crate) fn owned_view(raw: Raw<'static>) -> Message<'static> {
        Message { raw }
    }
}

fn nth<'a, V: Value<'a>>(tuple: V, index: usize) -> Option<V> {
    tuple.element(index)
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id_hex())
            .field("qos", &self.qos())
            .field("from", &self.from())
            .field("topic", &self.topic())
            .field("payload_len", &self.payload().len())
            .field("flags", &self.flags())
            .finish()
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
/// # use emqx_extension_sdk::Message;
/// let msg = Message::builder().build();
/// assert_eq!(msg.headers().allow_publish(), None);
/// ```
#[derive(Clone)]
pub struct MessageHeaders<'a> {
    raw: Option<Raw<'a>>,
}

impl<'a> MessageHeaders<'a> {
    fn read<'s, T>(&'s self, f: impl FnOnce(&'s Raw<'a>) -> Option<T>) -> Option<T> {
        self.raw.as_ref().and_then(f)
    }

    /// The publisher's username.
    pub fn username(&self) -> Option<Text<'_>> {
        self.read(|r| text_of(r, Key::username))
    }

    /// The publisher's IP address.
    pub fn peerhost(&self) -> Option<IpAddr> {
        self.read(|r| ip_of(r, Key::peerhost))
    }

    /// The publisher's protocol (`mqtt`, ...).
    pub fn protocol(&self) -> Option<Text<'_>> {
        self.read(|r| text_of(r, Key::protocol))
    }

    /// The publisher's MQTT version.
    pub fn proto_ver(&self) -> Option<u8> {
        self.read(|r| int_of(r, Key::proto_ver))
    }

    /// `Some(false)` once a hook has blocked the message.
    pub fn allow_publish(&self) -> Option<bool> {
        self.read(|r| bool_of(r, Key::allow_publish))
    }

    /// The PUBLISH properties.
    pub fn properties(&self) -> Properties<'a> {
        Properties::lenient(self.raw.as_ref().and_then(|r| r.get(Key::properties)))
    }

    /// The header under key `key`, for headers without an accessor.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        self.raw.as_ref()?.get_named(key).map(Field::new)
    }
}

impl fmt::Debug for MessageHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageHeaders")
            .field("username", &self.username())
            .field("peerhost", &self.peerhost())
            .field("protocol", &self.protocol())
            .field("proto_ver", &self.proto_ver())
            .field("allow_publish", &self.allow_publish())
            .finish()
    }
}

map_view!(
    /// Subscription options of one topic filter: the broker's SubOpts map.
    ///
    /// ```
    /// # use emqx_extension_sdk::SubOpts;
    /// assert_eq!(SubOpts::builder().qos(1).build().qos(), 1);
    /// ```
    SubOpts,
    "SubOpts",
    [qos, nl, rap, rh, is_new, share]
);

impl SubOpts<'_> {
    /// Requested maximum QoS.
    pub fn qos(&self) -> u8 {
        int_of(&self.raw, Key::qos).unwrap_or(0)
    }

    /// No Local.
    pub fn nl(&self) -> u8 {
        int_of(&self.raw, Key::nl).unwrap_or(0)
    }

    /// Retain As Published.
    pub fn rap(&self) -> u8 {
        int_of(&self.raw, Key::rap).unwrap_or(0)
    }

    /// Retain Handling.
    pub fn rh(&self) -> u8 {
        int_of(&self.raw, Key::rh).unwrap_or(0)
    }

    /// In `session.subscribed`: whether this is a new subscription.
    pub fn is_new(&self) -> Option<bool> {
        bool_of(&self.raw, Key::is_new)
    }

    /// The shared-subscription group (`$share/GROUP/...`), if any.
    pub fn share(&self) -> Option<Text<'_>> {
        text_of(&self.raw, Key::share)
    }
}

map_view!(
    /// The session's facts: the broker's SessInfo map.
    ///
    /// ```
    /// # use emqx_extension_sdk::SessionInfo;
    /// assert!(SessionInfo::builder().build().subscriptions().is_empty());
    /// ```
    SessionInfo,
    "SessInfo",
    [subscriptions, upgrade_qos, retry_interval, await_rel_timeout, created_at]
);

impl<'a> SessionInfo<'a> {
    /// The session's subscriptions: topic filter and options.
    pub fn subscriptions(&self) -> Vec<(Text<'static>, SubOpts<'a>)> {
        let Some(subs) = self.raw.get(Key::subscriptions) else {
            return Vec::new();
        };
        subs.entries()
            .into_iter()
            .map(|(filter, opts)| {
                let filter = on_raw!(&filter, |v| decode::any_text(v)).into_owned();
                (Cow::Owned(filter), SubOpts { raw: opts })
            })
            .collect()
    }

    /// Whether QoS upgrade is on.
    pub fn upgrade_qos(&self) -> bool {
        bool_of(&self.raw, Key::upgrade_qos).unwrap_or(false)
    }

    /// Retry interval in seconds.
    pub fn retry_interval(&self) -> Option<i64> {
        int_of(&self.raw, Key::retry_interval)
    }

    /// How long a QoS 2 message awaits PUBREL, in seconds.
    pub fn await_rel_timeout(&self) -> Option<i64> {
        int_of(&self.raw, Key::await_rel_timeout)
    }

    /// When the session was created, ms since the epoch.
    pub fn created_at(&self) -> Option<i64> {
        int_of(&self.raw, Key::created_at)
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthResult {
    /// True when the login would succeed if nobody decided otherwise.
    pub success: bool,
    /// True when the client is anonymous so far (no one authenticated it).
    pub anonymous: bool,
}

/// Why something ended (a disconnect, a terminated session, a dropped
/// message): an atom such as `normal` or `takeovered`, or any term.
///
/// ```
/// # use emqx_extension_sdk::Reason;
/// let r = Reason::new("takeovered");
/// assert_eq!(r.text(), "takeovered");
/// assert!(r.is("takeovered"));
/// ```
#[derive(Clone)]
pub struct Reason<'a> {
    raw: Raw<'a>,
}

impl<'a> Reason<'a> {
    pub(crate) fn from_raw(raw: Raw<'a>) -> Reason<'a> {
        Reason { raw }
    }

    /// A reason with this text (an atom), for tests.
    pub fn new(name: &str) -> Reason<'static> {
        Reason {
            raw: Raw::Owned(std::sync::Arc::new(eetf::Term::from(eetf::Atom::from(
                name,
            )))),
        }
    }

    /// The reason as text: an atom's name, or the term printed.
    pub fn text(&self) -> Text<'_> {
        on_raw!(&self.raw, |v| decode::any_text(v))
    }

    /// Whether the reason is the atom (or text) `name`.
    pub fn is(&self, name: &str) -> bool {
        self.text() == name
    }
}

impl fmt::Debug for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}
