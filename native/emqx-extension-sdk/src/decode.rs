//! Terms handed over by the broker, decoded into the SDK's types, for
//! either transport (see [`Value`]).
//!
//! Decoding is lenient about what the broker may vary (extra keys, missing
//! optional keys, `undefined` for a binary, IPv6) and strict only about the
//! shape a hook cannot work without (a ClientInfo that is not a map, a
//! message that is not a `#message{}` record): that is an error the runtime
//! reports, never a panic.

use crate::types::*;
use crate::value::{Key, Value};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a hook's arguments could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type Decoded<T> = Result<T, DecodeError>;

fn fail<'a, T>(what: &str, term: impl Value<'a>) -> Decoded<T> {
    Err(DecodeError(format!(
        "{what}: unexpected {}",
        term.type_name()
    )))
}

/// A binary as text (lossy), an atom as its name; `None` for `undefined`
/// and for any other shape.
pub(crate) fn text<'a>(term: impl Value<'a>) -> Option<Text<'a>> {
    if let Some(bytes) = term.binary() {
        return Some(String::from_utf8_lossy(bytes));
    }
    if term.is(Key::undefined) {
        return None;
    }
    // The atoms every ClientInfo and ConnInfo carries: no allocation.
    for known in COMMON_ATOMS {
        if term.is(known) {
            return Some(Cow::Borrowed(known.name()));
        }
    }
    term.atom_text()
}

const COMMON_ATOMS: [Key; 7] = [
    Key::external,
    Key::internal,
    Key::mqtt,
    Key::tcp,
    Key::success,
    Key::emqx_connection,
    Key::normal,
];

/// A term as text, whatever its shape: for reasons, which may be any term.
fn any_text<'a>(term: impl Value<'a>) -> Text<'a> {
    text(term).unwrap_or_else(|| Cow::Owned(term.render()))
}

fn boolean<'a>(term: impl Value<'a>) -> bool {
    term.is(Key::r#true)
}

fn opt_boolean<'a>(term: impl Value<'a>) -> Option<bool> {
    match () {
        _ if term.is(Key::r#true) => Some(true),
        _ if term.is(Key::r#false) => Some(false),
        _ => None,
    }
}

fn int<'a, T: TryFrom<i64>>(term: impl Value<'a>) -> Option<T> {
    term.int().and_then(|i| T::try_from(i).ok())
}

fn ip<'a>(term: impl Value<'a>) -> Option<IpAddr> {
    let parts = term.elements()?;
    match parts.len() {
        4 => {
            let o: Vec<u8> = parts.iter().map(|p| int(*p)).collect::<Option<_>>()?;
            Some(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])))
        }
        8 => {
            let s: Vec<u16> = parts.iter().map(|p| int(*p)).collect::<Option<_>>()?;
            Some(IpAddr::V6(Ipv6Addr::new(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            )))
        }
        _ => None,
    }
}

fn socket_addr<'a>(term: impl Value<'a>) -> Option<SocketAddr> {
    match term.elements()?.as_slice() {
        [host, port] => Some(SocketAddr::new(ip(*host)?, int(*port)?)),
        _ => None,
    }
}

/// Calls `each(key, value)` for every entry of map `term` whose key is
/// one of the SDK's keys.
fn for_each_atom_key<'a, V: Value<'a>>(
    what: &str,
    term: V,
    mut each: impl FnMut(Key, V),
) -> Decoded<()> {
    let is_map = term.for_each_entry(|k, v| {
        if let Some(key) = k.key() {
            each(key, v)
        }
    });
    if is_map {
        Ok(())
    } else {
        fail(what, term)
    }
}

pub(crate) fn client_info<'a, V: Value<'a>>(term: V) -> Decoded<ClientInfo<'a>> {
    let mut c = ClientInfo::default();
    for_each_atom_key("ClientInfo", term, |k, v| match k {
        Key::clientid => {
            c.clientid = text(v).unwrap_or_default();
        }
        Key::username => {
            c.username = text(v);
        }
        Key::password => {
            c.password = v.binary();
        }
        Key::peerhost => {
            c.peerhost = ip(v);
        }
        Key::sockport => {
            c.sockport = int(v).unwrap_or(0);
        }
        Key::zone => {
            c.zone = text(v).unwrap_or_default();
        }
        Key::protocol => {
            c.protocol = text(v).unwrap_or_default();
        }
        Key::mountpoint => {
            c.mountpoint = text(v);
        }
        Key::is_bridge => {
            c.is_bridge = boolean(v);
        }
        Key::is_superuser => {
            c.is_superuser = boolean(v);
        }
        Key::anonymous => {
            c.anonymous = opt_boolean(v);
        }
        Key::auth_result => {
            c.auth_result = text(v);
        }
        Key::ws_cookie => {
            c.ws_cookie = Some(any_text(v));
        }
        Key::dn => {
            c.dn = text(v);
        }
        Key::cn => {
            c.cn = text(v);
        }
        _ => {}
    })?;
    Ok(c)
}

pub(crate) fn conn_info<'a, V: Value<'a>>(term: V) -> Decoded<ConnInfo<'a>> {
    let mut c = ConnInfo::default();
    let mut props = None;
    for_each_atom_key("ConnInfo", term, |k, v| match k {
        Key::clientid => {
            c.clientid = text(v);
        }
        Key::username => {
            c.username = text(v);
        }
        Key::socktype => {
            c.socktype = text(v).unwrap_or_default();
        }
        Key::peername => {
            c.peername = socket_addr(v);
        }
        Key::sockname => {
            c.sockname = socket_addr(v);
        }
        Key::conn_mod => {
            c.conn_mod = text(v).unwrap_or_default();
        }
        Key::proto_name => {
            c.proto_name = text(v);
        }
        Key::proto_ver => {
            c.proto_ver = int(v);
        }
        Key::clean_start => {
            c.clean_start = opt_boolean(v);
        }
        Key::keepalive => {
            c.keepalive = int(v);
        }
        Key::expiry_interval => {
            c.expiry_interval = int(v);
        }
        Key::receive_maximum => {
            c.receive_maximum = int(v);
        }
        Key::connected_at => {
            c.connected_at = int(v);
        }
        Key::disconnected_at => {
            c.disconnected_at = int(v);
        }
        Key::peercert => {
            c.has_peercert = !v.is_atom();
        }
        Key::conn_props => {
            props = Some(v);
        }
        _ => {}
    })?;
    if let Some(p) = props {
        c.conn_props = properties(p)?;
    }
    Ok(c)
}

/// MQTT 5 properties: a map keyed by atoms such as `'User-Property'`;
/// `undefined` is read as no properties.
pub(crate) fn properties<'a, V: Value<'a>>(term: V) -> Decoded<Properties<'a>> {
    if term.is(Key::undefined) {
        return Ok(Properties::default());
    }
    let mut out = Vec::new();
    if !term.for_each_entry(|k, v| out.push((any_text(k), property_value(v)))) {
        return fail("Properties", term);
    }
    Ok(Properties(out))
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

/// The fields of a `#message{}` record, tag first; `Err` for anything else.
pub(crate) fn message_fields<'a, V: Value<'a>>(term: V) -> Decoded<Vec<V>> {
    match term.elements() {
        Some(fields) if fields.len() == 9 && fields[0].is(Key::message) => Ok(fields),
        _ => fail("Message (a #message{} record)", term),
    }
}

/// The topic of a `#message{}` record, without decoding the rest.
pub(crate) fn message_topic<'a, V: Value<'a>>(term: V) -> Decoded<Text<'a>> {
    let fields = message_fields(term)?;
    text(fields[6]).map_or_else(|| fail("Message topic", fields[6]), Ok)
}

pub(crate) fn message<'a, V: Value<'a>>(term: V) -> Decoded<Message<'a>> {
    let f = message_fields(term)?;
    let mut flags = MessageFlags::default();
    for_each_atom_key("Message flags", f[4], |k, v| match k {
        Key::dup => {
            flags.dup = boolean(v);
        }
        Key::retain => {
            flags.retain = boolean(v);
        }
        Key::sys => {
            flags.sys = boolean(v);
        }
        _ => {}
    })?;
    let mut headers = MessageHeaders::default();
    let mut props = None;
    for_each_atom_key("Message headers", f[5], |k, v| match k {
        Key::username => {
            headers.username = text(v);
        }
        Key::peerhost => {
            headers.peerhost = ip(v);
        }
        Key::protocol => {
            headers.protocol = text(v);
        }
        Key::proto_ver => {
            headers.proto_ver = int(v);
        }
        Key::allow_publish => {
            headers.allow_publish = opt_boolean(v);
        }
        Key::properties => {
            props = Some(v);
        }
        _ => {}
    })?;
    if let Some(p) = props {
        headers.properties = properties(p)?;
    }
    Ok(Message {
        id: f[1].binary().unwrap_or_default(),
        qos: int(f[2]).unwrap_or(0),
        from: text(f[3]).unwrap_or_default(),
        flags,
        headers,
        topic: text(f[6]).map_or_else(|| fail("Message topic", f[6]), Ok)?,
        payload: f[7]
            .binary()
            .map_or_else(|| fail("Message payload", f[7]), Ok)?,
        timestamp: int(f[8]).unwrap_or(0),
    })
}

pub(crate) fn sub_opts<'a, V: Value<'a>>(term: V) -> Decoded<SubOpts> {
    let mut o = SubOpts::default();
    for_each_atom_key("SubOpts", term, |k, v| match k {
        Key::qos => {
            o.qos = int(v).unwrap_or(0);
        }
        Key::nl => {
            o.nl = int(v).unwrap_or(0);
        }
        Key::rap => {
            o.rap = int(v).unwrap_or(0);
        }
        Key::rh => {
            o.rh = int(v).unwrap_or(0);
        }
        Key::is_new => {
            o.is_new = opt_boolean(v);
        }
        Key::share => {
            o.share = text(v).map(Cow::into_owned);
        }
        _ => {}
    })?;
    Ok(o)
}

pub(crate) fn session_info<'a, V: Value<'a>>(term: V) -> Decoded<SessionInfo<'a>> {
    let mut s = SessionInfo::default();
    let mut subs = None;
    for_each_atom_key("SessInfo", term, |k, v| match k {
        Key::subscriptions => {
            subs = Some(v);
        }
        Key::upgrade_qos => {
            s.upgrade_qos = boolean(v);
        }
        Key::retry_interval => {
            s.retry_interval = int(v);
        }
        Key::await_rel_timeout => {
            s.await_rel_timeout = int(v);
        }
        Key::created_at => {
            s.created_at = int(v);
        }
        _ => {}
    })?;
    if let Some(subs) = subs {
        let mut entries = Vec::new();
        if !subs.for_each_entry(|filter, opts| entries.push((filter, opts))) {
            return fail("SessInfo subscriptions", subs);
        }
        for (filter, opts) in entries {
            s.subscriptions.push((any_text(filter), sub_opts(opts)?));
        }
    }
    Ok(s)
}

/// `[{TopicFilter, SubOpts}]`, as `client.subscribe` and `client.unsubscribe` carry.
pub(crate) fn topic_filters<'a, V: Value<'a>>(term: V) -> Decoded<Vec<(V, V)>> {
    let Some(list) = term.items() else {
        return fail("topic filter list", term);
    };
    list.into_iter()
        .map(|item| match item.elements().as_deref() {
            Some([filter, opts]) => Ok((*filter, *opts)),
            _ => fail("{TopicFilter, SubOpts}", item),
        })
        .collect()
}

pub(crate) fn pubsub<'a>(term: impl Value<'a>) -> Decoded<PubSub> {
    if term.is(Key::publish) {
        Ok(PubSub::Publish)
    } else if term.is(Key::subscribe) {
        Ok(PubSub::Subscribe)
    } else {
        fail("publish | subscribe", term)
    }
}

pub(crate) fn auth_result<'a>(term: impl Value<'a>) -> Decoded<AuthResult> {
    let mut r = AuthResult {
        success: false,
        anonymous: false,
    };
    for_each_atom_key("auth result", term, |k, v| match k {
        Key::auth_result => {
            r.success = v.is(Key::success);
        }
        Key::anonymous => {
            r.anonymous = boolean(v);
        }
        _ => {}
    })?;
    Ok(r)
}

pub(crate) fn reason<'a>(term: impl Value<'a>) -> Reason<'a> {
    Reason(any_text(term))
}

/// A topic or topic filter: a binary (or atom); `Err` otherwise.
pub(crate) fn topic<'a>(term: impl Value<'a>) -> Decoded<Text<'a>> {
    text(term).map_or_else(|| fail("topic", term), Ok)
}
