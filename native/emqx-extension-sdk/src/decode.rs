//! Terms handed over by the broker, decoded into the SDK's types.
//!
//! Decoding is lenient about what the broker may vary (extra keys, missing
//! optional keys, `undefined` for a binary, IPv6) and strict only about the
//! shape a hook cannot work without (a ClientInfo that is not a map, a
//! message that is not a `#message{}` record): that is an error the runtime
//! reports, never a panic.

use crate::types::*;
use rustler::types::tuple::get_tuple;
use rustler::{Atom, Binary, MapIterator, Term, TermType};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub(crate) mod atoms {
    rustler::atoms! {
        undefined, message, ok, stop, error, allow, deny,
        success, not_authorized, publish, subscribe,
        zone, protocol, peerhost, sockport, clientid, username, password,
        mountpoint, is_bridge, is_superuser, anonymous, auth_result, ws_cookie,
        dn, cn, socktype, peername, sockname, conn_mod, proto_name, proto_ver,
        clean_start, keepalive, expiry_interval, receive_maximum, conn_props,
        connected_at, disconnected_at, peercert,
        dup, retain, sys, properties, allow_publish,
        qos, nl, rap, rh, is_new, share, deny_subscription,
        subscriptions, upgrade_qos, retry_interval, await_rel_timeout, created_at,
        node,
    }
}

/// Why a hook's arguments could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type Decoded<T> = Result<T, DecodeError>;

fn fail<T>(what: &str, term: Term) -> Decoded<T> {
    Err(DecodeError(format!(
        "{what}: unexpected {:?}",
        term.get_type()
    )))
}

fn is_undefined(term: Term) -> bool {
    Atom::from_term(term).is_ok_and(|a| a == atoms::undefined())
}

/// A binary as text (lossy), an atom as its name; `None` for `undefined`
/// and for any other shape.
pub(crate) fn text(term: Term<'_>) -> Option<Text<'_>> {
    match term.get_type() {
        TermType::Binary => Binary::from_term(term)
            .ok()
            .map(|b| String::from_utf8_lossy(b.as_slice())),
        TermType::Atom if is_undefined(term) => None,
        TermType::Atom => term.atom_to_string().ok().map(Cow::Owned),
        _ => None,
    }
}

/// A term as text, whatever its shape: for reasons, which may be any term.
fn any_text(term: Term<'_>) -> Text<'_> {
    text(term).unwrap_or_else(|| Cow::Owned(format!("{term:?}")))
}

fn bytes(term: Term<'_>) -> Option<&[u8]> {
    Binary::from_term(term).ok().map(|b| b.as_slice())
}

fn boolean(term: Term) -> bool {
    term.decode::<bool>().unwrap_or(false)
}

fn int<'a, T: rustler::Decoder<'a>>(term: Term<'a>) -> Option<T> {
    term.decode::<T>().ok()
}

fn ip(term: Term) -> Option<IpAddr> {
    let parts = get_tuple(term).ok()?;
    match parts.len() {
        4 => {
            let o: Vec<u8> = parts
                .iter()
                .map(|p| p.decode::<u8>())
                .collect::<Result<_, _>>()
                .ok()?;
            Some(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])))
        }
        8 => {
            let s: Vec<u16> = parts
                .iter()
                .map(|p| p.decode::<u16>())
                .collect::<Result<_, _>>()
                .ok()?;
            Some(IpAddr::V6(Ipv6Addr::new(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            )))
        }
        _ => None,
    }
}

fn socket_addr(term: Term) -> Option<SocketAddr> {
    let parts = get_tuple(term).ok()?;
    match parts.as_slice() {
        [host, port] => Some(SocketAddr::new(ip(*host)?, port.decode::<u16>().ok()?)),
        _ => None,
    }
}

/// Calls `each(key, value)` for every atom-keyed entry of map `term`.
fn for_each_atom_key<'a>(
    what: &str,
    term: Term<'a>,
    mut each: impl FnMut(Atom, Term<'a>),
) -> Decoded<()> {
    let Some(entries) = MapIterator::new(term) else {
        return fail(what, term);
    };
    for (key, value) in entries {
        if let Ok(key) = Atom::from_term(key) {
            each(key, value);
        }
    }
    Ok(())
}

pub(crate) fn client_info(term: Term<'_>) -> Decoded<ClientInfo<'_>> {
    let mut c = ClientInfo::default();
    for_each_atom_key("ClientInfo", term, |k, v| {
        if k == atoms::clientid() {
            c.clientid = text(v).unwrap_or_default();
        } else if k == atoms::username() {
            c.username = text(v);
        } else if k == atoms::password() {
            c.password = bytes(v);
        } else if k == atoms::peerhost() {
            c.peerhost = ip(v);
        } else if k == atoms::sockport() {
            c.sockport = int(v).unwrap_or(0);
        } else if k == atoms::zone() {
            c.zone = text(v).unwrap_or_default();
        } else if k == atoms::protocol() {
            c.protocol = text(v).unwrap_or_default();
        } else if k == atoms::mountpoint() {
            c.mountpoint = text(v);
        } else if k == atoms::is_bridge() {
            c.is_bridge = boolean(v);
        } else if k == atoms::is_superuser() {
            c.is_superuser = boolean(v);
        } else if k == atoms::anonymous() {
            c.anonymous = v.decode::<bool>().ok();
        } else if k == atoms::auth_result() {
            c.auth_result = text(v);
        } else if k == atoms::ws_cookie() {
            c.ws_cookie = Some(any_text(v));
        } else if k == atoms::dn() {
            c.dn = text(v);
        } else if k == atoms::cn() {
            c.cn = text(v);
        }
    })?;
    Ok(c)
}

pub(crate) fn conn_info(term: Term<'_>) -> Decoded<ConnInfo<'_>> {
    let mut c = ConnInfo::default();
    let mut props = None;
    for_each_atom_key("ConnInfo", term, |k, v| {
        if k == atoms::clientid() {
            c.clientid = text(v);
        } else if k == atoms::username() {
            c.username = text(v);
        } else if k == atoms::socktype() {
            c.socktype = text(v).unwrap_or_default();
        } else if k == atoms::peername() {
            c.peername = socket_addr(v);
        } else if k == atoms::sockname() {
            c.sockname = socket_addr(v);
        } else if k == atoms::conn_mod() {
            c.conn_mod = text(v).unwrap_or_default();
        } else if k == atoms::proto_name() {
            c.proto_name = text(v);
        } else if k == atoms::proto_ver() {
            c.proto_ver = int(v);
        } else if k == atoms::clean_start() {
            c.clean_start = v.decode::<bool>().ok();
        } else if k == atoms::keepalive() {
            c.keepalive = int(v);
        } else if k == atoms::expiry_interval() {
            c.expiry_interval = int(v);
        } else if k == atoms::receive_maximum() {
            c.receive_maximum = int(v);
        } else if k == atoms::connected_at() {
            c.connected_at = int(v);
        } else if k == atoms::disconnected_at() {
            c.disconnected_at = int(v);
        } else if k == atoms::peercert() {
            c.has_peercert = !is_undefined(v) && v.get_type() != TermType::Atom;
        } else if k == atoms::conn_props() {
            props = Some(v);
        }
    })?;
    if let Some(p) = props {
        c.conn_props = properties(p)?;
    }
    Ok(c)
}

/// MQTT 5 properties: a map keyed by atoms such as `'User-Property'`;
/// `undefined` is read as no properties.
pub(crate) fn properties(term: Term<'_>) -> Decoded<Properties<'_>> {
    if is_undefined(term) {
        return Ok(Properties::default());
    }
    let Some(entries) = MapIterator::new(term) else {
        return fail("Properties", term);
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        out.push((any_text(key), property_value(value)));
    }
    Ok(Properties(out))
}

fn property_value(term: Term<'_>) -> PropertyValue<'_> {
    if let Ok(i) = term.decode::<i64>() {
        return PropertyValue::Integer(i);
    }
    if let Some(b) = bytes(term) {
        return PropertyValue::Binary(b);
    }
    if let Ok(list) = term.decode::<Vec<Term>>() {
        let pairs: Option<Vec<_>> = list
            .into_iter()
            .map(|pair| match get_tuple(pair).ok()?.as_slice() {
                [k, v] => Some((text(*k)?, text(*v)?)),
                _ => None,
            })
            .collect();
        if let Some(pairs) = pairs {
            return PropertyValue::Pairs(pairs);
        }
    }
    PropertyValue::Other(format!("{term:?}"))
}

/// The fields of a `#message{}` record, tag first; `Err` for anything else.
pub(crate) fn message_fields(term: Term<'_>) -> Decoded<Vec<Term<'_>>> {
    match get_tuple(term) {
        Ok(fields)
            if fields.len() == 9
                && Atom::from_term(fields[0]).is_ok_and(|t| t == atoms::message()) =>
        {
            Ok(fields)
        }
        _ => fail("Message (a #message{} record)", term),
    }
}

/// The topic of a `#message{}` record, without decoding the rest.
pub(crate) fn message_topic(term: Term<'_>) -> Decoded<Text<'_>> {
    let fields = message_fields(term)?;
    text(fields[6]).map_or_else(|| fail("Message topic", fields[6]), Ok)
}

pub(crate) fn message(term: Term<'_>) -> Decoded<Message<'_>> {
    let f = message_fields(term)?;
    let mut flags = MessageFlags::default();
    for_each_atom_key("Message flags", f[4], |k, v| {
        if k == atoms::dup() {
            flags.dup = boolean(v);
        } else if k == atoms::retain() {
            flags.retain = boolean(v);
        } else if k == atoms::sys() {
            flags.sys = boolean(v);
        }
    })?;
    let mut headers = MessageHeaders::default();
    let mut props = None;
    for_each_atom_key("Message headers", f[5], |k, v| {
        if k == atoms::username() {
            headers.username = text(v);
        } else if k == atoms::peerhost() {
            headers.peerhost = ip(v);
        } else if k == atoms::protocol() {
            headers.protocol = text(v);
        } else if k == atoms::proto_ver() {
            headers.proto_ver = int(v);
        } else if k == atoms::allow_publish() {
            headers.allow_publish = v.decode::<bool>().ok();
        } else if k == atoms::properties() {
            props = Some(v);
        }
    })?;
    if let Some(p) = props {
        headers.properties = properties(p)?;
    }
    Ok(Message {
        id: bytes(f[1]).unwrap_or_default(),
        qos: int(f[2]).unwrap_or(0),
        from: text(f[3]).unwrap_or_default(),
        flags,
        headers,
        topic: text(f[6]).map_or_else(|| fail("Message topic", f[6]), Ok)?,
        payload: bytes(f[7]).map_or_else(|| fail("Message payload", f[7]), Ok)?,
        timestamp: int(f[8]).unwrap_or(0),
    })
}

pub(crate) fn sub_opts(term: Term<'_>) -> Decoded<SubOpts> {
    let mut o = SubOpts::default();
    for_each_atom_key("SubOpts", term, |k, v| {
        if k == atoms::qos() {
            o.qos = int(v).unwrap_or(0);
        } else if k == atoms::nl() {
            o.nl = int(v).unwrap_or(0);
        } else if k == atoms::rap() {
            o.rap = int(v).unwrap_or(0);
        } else if k == atoms::rh() {
            o.rh = int(v).unwrap_or(0);
        } else if k == atoms::is_new() {
            o.is_new = v.decode::<bool>().ok();
        } else if k == atoms::share() {
            o.share = text(v).map(Cow::into_owned);
        }
    })?;
    Ok(o)
}

pub(crate) fn session_info(term: Term<'_>) -> Decoded<SessionInfo<'_>> {
    let mut s = SessionInfo::default();
    let mut subs = None;
    for_each_atom_key("SessInfo", term, |k, v| {
        if k == atoms::subscriptions() {
            subs = Some(v);
        } else if k == atoms::upgrade_qos() {
            s.upgrade_qos = boolean(v);
        } else if k == atoms::retry_interval() {
            s.retry_interval = int(v);
        } else if k == atoms::await_rel_timeout() {
            s.await_rel_timeout = int(v);
        } else if k == atoms::created_at() {
            s.created_at = int(v);
        }
    })?;
    if let Some(subs) = subs {
        let Some(entries) = MapIterator::new(subs) else {
            return fail("SessInfo subscriptions", subs);
        };
        for (filter, opts) in entries {
            s.subscriptions.push((any_text(filter), sub_opts(opts)?));
        }
    }
    Ok(s)
}

/// `[{TopicFilter, SubOpts}]`, as `client.subscribe` and `client.unsubscribe` carry.
pub(crate) fn topic_filters(term: Term<'_>) -> Decoded<Vec<(Term<'_>, Term<'_>)>> {
    let Ok(list) = term.decode::<Vec<Term>>() else {
        return fail("topic filter list", term);
    };
    list.into_iter()
        .map(|item| match get_tuple(item).ok().as_deref() {
            Some([filter, opts]) => Ok((*filter, *opts)),
            _ => fail("{TopicFilter, SubOpts}", item),
        })
        .collect()
}

pub(crate) fn pubsub(term: Term) -> Decoded<PubSub> {
    match Atom::from_term(term) {
        Ok(a) if a == atoms::publish() => Ok(PubSub::Publish),
        Ok(a) if a == atoms::subscribe() => Ok(PubSub::Subscribe),
        _ => fail("publish | subscribe", term),
    }
}

pub(crate) fn auth_result(term: Term) -> Decoded<AuthResult> {
    let mut r = AuthResult {
        success: false,
        anonymous: false,
    };
    for_each_atom_key("auth result", term, |k, v| {
        if k == atoms::auth_result() {
            r.success = Atom::from_term(v).is_ok_and(|a| a == atoms::success());
        } else if k == atoms::anonymous() {
            r.anonymous = boolean(v);
        }
    })?;
    Ok(r)
}

pub(crate) fn reason(term: Term<'_>) -> Reason<'_> {
    Reason(any_text(term))
}

/// `Some(text)` for a binary or atom topic, `Err` otherwise.
pub(crate) fn topic(term: Term<'_>) -> Decoded<Text<'_>> {
    text(term).map_or_else(|| fail("topic", term), Ok)
}
