//! Builders of hook data for tests: each starts from the values a real
//! EMQX 4.4.19 passed (the captured samples), so a test sets only what it
//! is about.

use crate::types::{ClientInfo, ConnInfo, Message, Properties, SessionInfo, SubOpts};
use crate::value::{Build, EtfBuild, Key, Raw};
use eetf::Term;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// An atom, for builders' `set`: `Atom("mqtt")`.
///
/// ```
/// use emqx_extension_sdk::{testing::Atom, ClientInfo};
/// let client = ClientInfo::builder().set("protocol", Atom("mqtt-sn")).build();
/// assert_eq!(client.protocol(), "mqtt-sn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Atom<'s>(pub &'s str);

/// A value builders take: text and bytes become binaries, `bool` and
/// [`Atom`] atoms, numbers integers, addresses the broker's tuples,
/// `None` the atom `undefined`.
pub trait IntoField {
    /// The broker's term for this value.
    fn into_term(self) -> Term;
}

impl IntoField for &str {
    fn into_term(self) -> Term {
        EtfBuild.binary(self.as_bytes())
    }
}

impl IntoField for String {
    fn into_term(self) -> Term {
        self.as_str().into_term()
    }
}

impl IntoField for &[u8] {
    fn into_term(self) -> Term {
        EtfBuild.binary(self)
    }
}

impl IntoField for Vec<u8> {
    fn into_term(self) -> Term {
        self.as_slice().into_term()
    }
}

impl IntoField for bool {
    fn into_term(self) -> Term {
        EtfBuild.boolean(self)
    }
}

impl IntoField for Atom<'_> {
    fn into_term(self) -> Term {
        Term::from(eetf::Atom::from(self.0))
    }
}

macro_rules! int_fields {
    ($($t:ty),*) => {
        $(impl IntoField for $t {
            fn into_term(self) -> Term {
                EtfBuild.int(i64::from(self))
            }
        })*
    };
}
int_fields!(u8, u16, u32, i32, i64);

impl IntoField for IpAddr {
    fn into_term(self) -> Term {
        let parts: Vec<Term> = match self {
            IpAddr::V4(v4) => v4
                .octets()
                .iter()
                .map(|o| EtfBuild.int(i64::from(*o)))
                .collect(),
            IpAddr::V6(v6) => v6
                .segments()
                .iter()
                .map(|s| EtfBuild.int(i64::from(*s)))
                .collect(),
        };
        EtfBuild.tuple(&parts)
    }
}

impl IntoField for SocketAddr {
    fn into_term(self) -> Term {
        EtfBuild.tuple(&[self.ip().into_term(), EtfBuild.int(i64::from(self.port()))])
    }
}

impl<T: IntoField> IntoField for Option<T> {
    fn into_term(self) -> Term {
        match self {
            Some(v) => v.into_term(),
            None => EtfBuild.atom(Key::undefined),
        }
    }
}

/// A map with atom keys, in order.
pub(crate) fn map(entries: Vec<(&str, Term)>) -> Term {
    Term::from(eetf::Map::from(
        entries
            .into_iter()
            .map(|(k, v)| (Term::from(eetf::Atom::from(k)), v))
            .collect::<std::collections::HashMap<_, _>>(),
    ))
}

/// The term behind a view, owned, for the test broker.
pub(crate) trait View {
    fn etf(&self) -> Term;
}

fn raw_etf(raw: &Raw<'_>) -> Term {
    match raw.to_owned() {
        Raw::Owned(t) => Arc::unwrap_or_clone(t),
        _ => EtfBuild.atom(Key::undefined),
    }
}

macro_rules! view {
    ($($t:ident),*) => {
        $(impl View for $t<'_> {
            fn etf(&self) -> Term {
                raw_etf(self.raw())
            }
        })*
    };
}
view!(ClientInfo, ConnInfo, Message, SubOpts, SessionInfo);

impl View for Properties<'_> {
    fn etf(&self) -> Term {
        self.raw().map_or_else(|| map(Vec::new()), raw_etf)
    }
}

/// Keys and values of a map being built; a key set twice keeps the last.
#[derive(Debug, Clone)]
struct Entries(Vec<(String, Term)>);

impl Entries {
    fn new(entries: Vec<(&str, Term)>) -> Entries {
        Entries(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn set(&mut self, key: &str, value: Term) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    fn term(&self) -> Term {
        map(self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect())
    }
}

fn owned(term: Term) -> Raw<'static> {
    Raw::Owned(Arc::new(term))
}

fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// Defines a builder type with `set`, `remove` and the given setters.
macro_rules! builder {
    ($(#[$meta:meta])* $builder:ident => $view:ident, { $($(#[$fmeta:meta])* $setter:ident: $arg:ty => $key:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $builder {
            entries: Entries,
        }

        impl $builder {
            $(
                $(#[$fmeta])*
                pub fn $setter(self, value: $arg) -> Self {
                    self.set($key, value)
                }
            )*

            /// Sets key `key` (any key, e.g. one a newer broker adds).
            pub fn set(mut self, key: &str, value: impl IntoField) -> Self {
                self.entries.set(key, value.into_term());
                self
            }

            /// Removes key `key`, as a broker that does not send it.
            pub fn remove(mut self, key: &str) -> Self {
                self.entries.remove(key);
                self
            }
        }
    };
}

builder!(
    /// Builds a [`ClientInfo`]; see [`ClientInfo::builder`].
    ClientInfoBuilder => ClientInfo, {
        /// The MQTT client identifier.
        clientid: &str => "clientid",
        /// The username.
        username: &str => "username",
        /// The password (as `client.authenticate` carries it).
        password: &[u8] => "password",
        /// The client's address.
        peerhost: IpAddr => "peerhost",
        /// The listener port.
        sockport: u16 => "sockport",
        /// The mountpoint.
        mountpoint: &str => "mountpoint",
        /// Whether the client is a superuser.
        is_superuser: bool => "is_superuser",
        /// Whether the client is a bridge.
        is_bridge: bool => "is_bridge",
        /// Whether the client is anonymous (after authentication).
        anonymous: bool => "anonymous",
        /// The TLS certificate's common name.
        cn: &str => "cn",
        /// The TLS certificate's distinguished name.
        dn: &str => "dn",
    }
);

impl ClientInfo<'static> {
    /// A builder of a `ClientInfo` as EMQX 4.4 passes it (client `c1` on
    /// 127.0.0.1:1883, zone `external`, protocol `mqtt`, no username,
    /// mountpoint or password), for tests.
    ///
    /// ```
    /// use emqx_extension_sdk::ClientInfo;
    /// let c = ClientInfo::builder().clientid("sensor-7").username("u").build();
    /// assert_eq!((c.clientid().as_ref(), c.username().as_deref()), ("sensor-7", Some("u")));
    /// assert_eq!(c.sockport(), 1883);
    /// assert_eq!(c.password(), None);
    /// ```
    pub fn builder() -> ClientInfoBuilder {
        ClientInfoBuilder {
            entries: Entries::new(vec![
                ("zone", super::Atom("external").into_term()),
                ("protocol", super::Atom("mqtt").into_term()),
                ("peerhost", localhost().into_term()),
                ("sockport", 1883u16.into_term()),
                ("clientid", "c1".into_term()),
                ("username", None::<&str>.into_term()),
                ("mountpoint", None::<&str>.into_term()),
                ("is_bridge", false.into_term()),
                ("is_superuser", false.into_term()),
            ]),
        }
    }
}

impl ClientInfoBuilder {
    /// The `ClientInfo`.
    pub fn build(self) -> ClientInfo<'static> {
        ClientInfo::owned_view(owned(self.entries.term()))
    }
}

builder!(
    /// Builds a [`ConnInfo`]; see [`ConnInfo::builder`].
    ConnInfoBuilder => ConnInfo, {
        /// The MQTT client identifier.
        clientid: &str => "clientid",
        /// The username.
        username: &str => "username",
        /// The client's address and port.
        peername: SocketAddr => "peername",
        /// The listener's address and port.
        sockname: SocketAddr => "sockname",
        /// 3, 4 or 5.
        proto_ver: u8 => "proto_ver",
        /// Keepalive in seconds.
        keepalive: u16 => "keepalive",
        /// The clean start flag.
        clean_start: bool => "clean_start",
    }
);

impl ConnInfo<'static> {
    /// A builder of a `ConnInfo` as EMQX 4.4 passes it to `client.connect`
    /// (an MQTT 3.1.1 client `c1` over TCP from 127.0.0.1:33854), for tests.
    ///
    /// ```
    /// use emqx_extension_sdk::ConnInfo;
    /// let conn = ConnInfo::builder().proto_ver(5).build();
    /// assert_eq!(conn.proto_ver(), Some(5));
    /// assert_eq!(conn.socktype(), "tcp");
    /// ```
    pub fn builder() -> ConnInfoBuilder {
        ConnInfoBuilder {
            entries: Entries::new(vec![
                ("socktype", super::Atom("tcp").into_term()),
                ("peername", SocketAddr::new(localhost(), 33854).into_term()),
                ("sockname", SocketAddr::new(localhost(), 1883).into_term()),
                ("peercert", None::<&str>.into_term()),
                ("conn_mod", super::Atom("emqx_connection").into_term()),
                ("proto_name", "MQTT".into_term()),
                ("proto_ver", 4u8.into_term()),
                ("clean_start", true.into_term()),
                ("keepalive", 60u16.into_term()),
                ("clientid", "c1".into_term()),
                ("username", None::<&str>.into_term()),
                ("conn_props", map(Vec::new())),
                ("expiry_interval", 0u32.into_term()),
                ("receive_maximum", 32u32.into_term()),
            ]),
        }
    }
}

impl ConnInfoBuilder {
    /// The `ConnInfo`.
    pub fn build(self) -> ConnInfo<'static> {
        ConnInfo::owned_view(owned(self.entries.term()))
    }
}

builder!(
    /// Builds [`Properties`]; see [`Properties::builder`].
    PropertiesBuilder => Properties, {}
);

impl Properties<'static> {
    /// A builder of MQTT 5 properties (none to start with), for tests.
    ///
    /// ```
    /// use emqx_extension_sdk::{Properties, PropertyValue};
    /// let p = Properties::builder().set("Session-Expiry-Interval", 30).build();
    /// assert_eq!(p.get("Session-Expiry-Interval"), Some(PropertyValue::Integer(30)));
    /// ```
    pub fn builder() -> PropertiesBuilder {
        PropertiesBuilder {
            entries: Entries::new(Vec::new()),
        }
    }
}

impl PropertiesBuilder {
    /// Adds a `User-Property` pair.
    pub fn user_property(mut self, key: &str, value: &str) -> Self {
        let pair = EtfBuild.tuple(&[key.into_term(), value.into_term()]);
        let mut pairs = match self.entries.0.iter().find(|(k, _)| k == "User-Property") {
            Some((_, Term::List(l))) => l.elements.clone(),
            _ => Vec::new(),
        };
        pairs.push(pair);
        self.entries.set("User-Property", EtfBuild.list(&pairs));
        self
    }

    /// The properties.
    pub fn build(self) -> Properties<'static> {
        Properties::owned_view(owned(self.entries.term()))
    }
}

builder!(
    /// Builds [`SubOpts`]; see [`SubOpts::builder`].
    SubOptsBuilder => SubOpts, {
        /// The requested QoS.
        qos: u8 => "qos",
        /// No Local.
        nl: u8 => "nl",
        /// Retain As Published.
        rap: u8 => "rap",
        /// Retain Handling.
        rh: u8 => "rh",
        /// Whether the subscription is new (`session.subscribed`).
        is_new: bool => "is_new",
        /// The shared-subscription group.
        share: &str => "share",
    }
);

impl SubOpts<'static> {
    /// A builder of subscription options (QoS 0, no flags), for tests.
    ///
    /// ```
    /// use emqx_extension_sdk::SubOpts;
    /// assert_eq!(SubOpts::builder().qos(2).build().qos(), 2);
    /// ```
    pub fn builder() -> SubOptsBuilder {
        SubOptsBuilder {
            entries: Entries::new(vec![
                ("rh", 0u8.into_term()),
                ("rap", 0u8.into_term()),
                ("nl", 0u8.into_term()),
                ("qos", 0u8.into_term()),
            ]),
        }
    }
}

impl SubOptsBuilder {
    /// The options.
    pub fn build(self) -> SubOpts<'static> {
        SubOpts::owned_view(owned(self.entries.term()))
    }
}

builder!(
    /// Builds a [`SessionInfo`]; see [`SessionInfo::builder`].
    SessionInfoBuilder => SessionInfo, {
        /// When the session was created, ms since the epoch.
        created_at: i64 => "created_at",
        /// Whether QoS upgrade is on.
        upgrade_qos: bool => "upgrade_qos",
    }
);

impl SessionInfo<'static> {
    /// A builder of a session with no subscriptions, for tests.
    ///
    /// ```
    /// use emqx_extension_sdk::{SessionInfo, SubOpts};
    /// let s = SessionInfo::builder().subscription("p/#", SubOpts::builder().qos(1).build()).build();
    /// assert_eq!(s.subscriptions()[0].0, "p/#");
    /// ```
    pub fn builder() -> SessionInfoBuilder {
        SessionInfoBuilder {
            entries: Entries::new(vec![
                ("subscriptions", map(Vec::new())),
                ("upgrade_qos", false.into_term()),
                ("retry_interval", 30i64.into_term()),
                ("await_rel_timeout", 300i64.into_term()),
                ("created_at", 1_795_654_383_898i64.into_term()),
            ]),
        }
    }
}

impl SessionInfoBuilder {
    /// Adds a subscription.
    pub fn subscription(mut self, filter: &str, opts: SubOpts) -> Self {
        let mut subs = match self.entries.0.iter().find(|(k, _)| k == "subscriptions") {
            Some((_, Term::Map(m))) => m.map.clone(),
            _ => Default::default(),
        };
        subs.insert(filter.into_term(), opts.etf());
        self.entries
            .set("subscriptions", Term::from(eetf::Map { map: subs }));
        self
    }

    /// The session.
    pub fn build(self) -> SessionInfo<'static> {
        SessionInfo::owned_view(owned(self.entries.term()))
    }
}

/// Builds a [`Message`]; see [`Message::builder`].
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    id: Vec<u8>,
    qos: u8,
    from: String,
    flags: Entries,
    headers: Entries,
    topic: String,
    payload: Vec<u8>,
    timestamp: i64,
}

impl Message<'static> {
    /// A builder of a message as EMQX 4.4 passes it to `message.publish`
    /// (QoS 0, from client `c1` with username `u`, on `t/1`, empty
    /// payload), for tests.
    ///
    /// ```
    /// use emqx_extension_sdk::Message;
    /// let m = Message::builder().topic("sensors/1").payload(b"21.5".to_vec()).qos(1).build();
    /// assert_eq!((m.topic().as_ref(), m.payload(), m.qos()), ("sensors/1", &b"21.5"[..], 1));
    /// assert_eq!(m.headers().username().as_deref(), Some("u"));
    /// ```
    pub fn builder() -> MessageBuilder {
        MessageBuilder {
            id: vec![0, 6, 97, 35, 93, 192, 100, 117, 244, 67, 0, 0, 6, 174, 0, 1],
            qos: 0,
            from: "c1".into(),
            flags: Entries::new(vec![
                ("dup", false.into_term()),
                ("retain", false.into_term()),
            ]),
            headers: Entries::new(vec![
                ("proto_ver", 4u8.into_term()),
                ("protocol", super::Atom("mqtt").into_term()),
                ("username", "u".into_term()),
                ("peerhost", localhost().into_term()),
            ]),
            topic: "t/1".into(),
            payload: Vec::new(),
            timestamp: 1_795_654_384_902,
        }
    }
}

impl MessageBuilder {
    /// The 16-byte id.
    pub fn id(mut self, id: Vec<u8>) -> Self {
        self.id = id;
        self
    }

    /// The QoS.
    pub fn qos(mut self, qos: u8) -> Self {
        self.qos = qos;
        self
    }

    /// The publisher's clientid.
    pub fn from(mut self, from: &str) -> Self {
        self.from = from.into();
        self
    }

    /// The topic.
    pub fn topic(mut self, topic: &str) -> Self {
        self.topic = topic.into();
        self
    }

    /// The payload.
    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// The retain flag.
    pub fn retain(mut self, retain: bool) -> Self {
        self.flags.set("retain", retain.into_term());
        self
    }

    /// The publisher's username (header).
    pub fn username(self, username: &str) -> Self {
        self.header("username", username)
    }

    /// Sets header `key`.
    pub fn header(mut self, key: &str, value: impl IntoField) -> Self {
        self.headers.set(key, value.into_term());
        self
    }

    /// When the message was created, ms since the epoch.
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The message.
    pub fn build(self) -> Message<'static> {
        let record = EtfBuild.tuple(&[
            EtfBuild.atom(Key::message),
            EtfBuild.binary(&self.id),
            EtfBuild.int(i64::from(self.qos)),
            self.from.into_term(),
            self.flags.term(),
            self.headers.term(),
            self.topic.into_term(),
            EtfBuild.binary(&self.payload),
            EtfBuild.int(self.timestamp),
        ]);
        Message::owned_view(owned(record))
    }
}
