//! Reading the broker's terms, for either transport (see [`Value`]): the
//! pieces the typed views (`types.rs`) are read with, and the few hook
//! arguments that are read whole.
//!
//! Reading is lenient about what the broker may vary (extra keys, missing
//! optional keys, `undefined` for a binary, IPv6) and strict only about the
//! shape a hook cannot work without (a ClientInfo that is not a map, a
//! message that is not a `#message{}` record): that is an error the runtime
//! reports, never a panic.

use crate::types::{AuthResult, PubSub, Text};
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

pub(crate) fn fail<'a, T>(what: &str, term: impl Value<'a>) -> Decoded<T> {
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
pub(crate) fn any_text<'a>(term: impl Value<'a>) -> Text<'a> {
    text(term).unwrap_or_else(|| Cow::Owned(term.render()))
}

pub(crate) fn opt_boolean<'a>(term: impl Value<'a>) -> Option<bool> {
    match () {
        _ if term.is(Key::r#true) => Some(true),
        _ if term.is(Key::r#false) => Some(false),
        _ => None,
    }
}

pub(crate) fn int<'a, T: TryFrom<i64>>(term: impl Value<'a>) -> Option<T> {
    term.int().and_then(|i| T::try_from(i).ok())
}

pub(crate) fn ip<'a>(term: impl Value<'a>) -> Option<IpAddr> {
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

pub(crate) fn socket_addr<'a>(term: impl Value<'a>) -> Option<SocketAddr> {
    match term.elements()?.as_slice() {
        [host, port] => Some(SocketAddr::new(ip(*host)?, int(*port)?)),
        _ => None,
    }
}

/// The fields of a `#message{}` record, tag first; `Err` for anything else.
pub(crate) fn message_fields<'a, V: Value<'a>>(term: V) -> Decoded<Vec<V>> {
    match term.elements() {
        Some(fields) if fields.len() == 9 && fields[0].is(Key::message) => Ok(fields),
        _ => fail("Message (a #message{} record)", term),
    }
}

/// Whether `term` is a `#message{}` record, without copying its fields.
pub(crate) fn is_message<'a, V: Value<'a>>(term: V) -> bool {
    term.element(0).is_some_and(|tag| tag.is(Key::message))
        && term.element(8).is_some()
        && term.element(9).is_none()
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
    if !term.is_map() {
        return fail("auth result", term);
    }
    r.success = term
        .get(Key::auth_result)
        .is_some_and(|v| v.is(Key::success));
    r.anonymous = term.get(Key::anonymous).is_some_and(|v| v.is(Key::r#true));
    Ok(r)
}

/// A topic or topic filter: a binary (or atom); `Err` otherwise.
pub(crate) fn topic<'a>(term: impl Value<'a>) -> Decoded<Text<'a>> {
    text(term).map_or_else(|| fail("topic", term), Ok)
}
