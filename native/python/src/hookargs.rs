//! The SDK's hook data as the original python3 driver handed it to user
//! code: erlport's data model, proplists of `(Atom(key), value)` in the
//! original's key order, text as bytes, `peerhost` as text, absent
//! username/password/mountpoint as `b""`. The one module that reads the
//! SDK's hook types.
//!
//! Every object a call reuses (key atoms, common value atoms, the `List`
//! type) is made once, when the interpreter starts.

use emqx_extension_sdk::{
    ClientInfo, ConnInfo, Message, Properties, PropertyValue, PubSub, Reason, SubOpts,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use std::net::IpAddr;
use std::sync::OnceLock;

macro_rules! keys {
    ($($key:ident),* $(,)?) => {
        /// The proplist keys the hooks use.
        #[derive(Clone, Copy)]
        #[allow(non_camel_case_types)]
        enum Key { $($key,)* }

        const KEY_NAMES: &[&str] = &[$(stringify!($key),)*];
    };
}

keys! {
    node, clientid, username, password, peerhost, sockport, protocol, mountpoint,
    is_superuser, anonymous, proto_name, proto_ver, keepalive, id, qos, from, topic,
    payload, timestamp, is_new, nl, rap, rh, share,
}

/// Python objects made once and reused by every call.
pub(crate) struct Terms {
    atom: Py<PyType>,
    list: Py<PyType>,
    keys: Vec<Py<PyAny>>,
    mqtt: Py<PyAny>,
    publish: Py<PyAny>,
    subscribe: Py<PyAny>,
    /// `exhook.Decision`, and the module's decision classes.
    pub(crate) decision: Py<PyType>,
    pub(crate) refuse: Py<PyType>,
    pub(crate) allow_superuser: Py<PyType>,
    pub(crate) deny_filter: Py<PyType>,
    pub(crate) rewrite_filter: Py<PyType>,
    pub(crate) drop: Py<PyType>,
    pub(crate) rewrite: Py<PyType>,
    /// `_emqx_python_driver.describe` and `.format_exception`.
    pub(crate) describe: Py<PyAny>,
    pub(crate) format_exception: Py<PyAny>,
}

static TERMS: OnceLock<Terms> = OnceLock::new();

impl Terms {
    /// Makes the objects; called once, when the interpreter starts.
    pub(crate) fn init(py: Python<'_>) -> PyResult<()> {
        let erlterms = py.import("erlport.erlterms")?;
        let exhook = py.import("exhook")?;
        let support = py.import(crate::interp::DRIVER_MODULE)?;
        let class = |m: &Bound<'_, PyModule>, name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        let atom = class(&erlterms, "Atom")?;
        let make = |name: &str| -> PyResult<Py<PyAny>> {
            Ok(atom
                .bind(py)
                .call1((PyBytes::new(py, name.as_bytes()),))?
                .unbind())
        };
        let terms = Terms {
            list: class(&erlterms, "List")?,
            keys: KEY_NAMES.iter().map(|k| make(k)).collect::<PyResult<_>>()?,
            mqtt: make("mqtt")?,
            publish: make("publish")?,
            subscribe: make("subscribe")?,
            decision: class(&exhook, "Decision")?,
            refuse: class(&exhook, "Refuse")?,
            allow_superuser: class(&exhook, "AllowSuperuser")?,
            deny_filter: class(&exhook, "DenyFilter")?,
            rewrite_filter: class(&exhook, "RewriteFilter")?,
            drop: class(&exhook, "Drop")?,
            rewrite: class(&exhook, "Rewrite")?,
            describe: support.getattr("describe")?.unbind(),
            format_exception: support.getattr("format_exception")?.unbind(),
            atom,
        };
        let _ = TERMS.set(terms);
        Ok(())
    }

    /// The objects; the interpreter has started (every handler exists after that).
    pub(crate) fn get() -> &'static Terms {
        TERMS
            .get()
            .expect("the interpreter starts before any driver exists")
    }

    fn key<'py>(&self, py: Python<'py>, key: Key) -> Bound<'py, PyAny> {
        self.keys[key as usize].bind(py).clone()
    }
}

/// An `Atom` named `name`.
pub(crate) fn atom<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let t = Terms::get();
    match name {
        "mqtt" => Ok(t.mqtt.bind(py).clone()),
        _ => t.atom.bind(py).call1((PyBytes::new(py, name.as_bytes()),)),
    }
}

fn bytes<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyAny> {
    PyBytes::new(py, text.as_bytes()).into_any()
}

fn boolean(py: Python<'_>, value: bool) -> Bound<'_, PyAny> {
    PyBool::new(py, value).to_owned().into_any()
}

fn int<'py>(py: Python<'py>, value: impl IntoPyObjectExt<'py>) -> PyResult<Bound<'py, PyAny>> {
    value.into_bound_py_any(py)
}

fn optional<'py>(
    py: Python<'py>,
    value: Option<impl IntoPyObjectExt<'py>>,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Some(v) => v.into_bound_py_any(py),
        None => Ok(py.None().into_bound(py)),
    }
}

/// An erlport `List` of the given items.
fn list<'py>(
    py: Python<'py>,
    items: impl IntoIterator<Item = Bound<'py, PyAny>, IntoIter: ExactSizeIterator>,
) -> PyResult<Bound<'py, PyAny>> {
    Terms::get()
        .list
        .bind(py)
        .call1((PyTuple::new(py, items)?,))
}

fn proplist<'py>(
    py: Python<'py>,
    pairs: Vec<(Key, Bound<'py, PyAny>)>,
) -> PyResult<Bound<'py, PyAny>> {
    let t = Terms::get();
    let items = pairs
        .into_iter()
        .map(|(k, v)| PyTuple::new(py, [t.key(py, k), v]).map(Bound::into_any))
        .collect::<PyResult<Vec<_>>>()?;
    list(py, items)
}

/// The address as text, an IPv4-mapped IPv6 address as IPv4 (as the original did).
fn ip_text(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        Some(ip) => ip.to_string(),
        None => String::new(),
    }
}

/// `clientinfo`: node, clientid, username, password, peerhost, sockport,
/// protocol, mountpoint, is_superuser, anonymous.
pub(crate) fn client_info<'py>(
    py: Python<'py>,
    node: &Bound<'py, PyAny>,
    c: &ClientInfo,
) -> PyResult<Bound<'py, PyAny>> {
    proplist(
        py,
        vec![
            (Key::node, node.clone()),
            (Key::clientid, bytes(py, &c.clientid())),
            (
                Key::username,
                bytes(py, c.username().as_deref().unwrap_or("")),
            ),
            (
                Key::password,
                PyBytes::new(py, c.password().unwrap_or(b"")).into_any(),
            ),
            (Key::peerhost, bytes(py, &ip_text(c.peerhost()))),
            (Key::sockport, int(py, c.sockport())?),
            (Key::protocol, atom(py, &c.protocol())?),
            (
                Key::mountpoint,
                bytes(py, c.mountpoint().as_deref().unwrap_or("")),
            ),
            (Key::is_superuser, boolean(py, c.is_superuser())),
            (Key::anonymous, boolean(py, c.anonymous().unwrap_or(true))),
        ],
    )
}

/// `conninfo`: node, clientid, username, peerhost, sockport, proto_name,
/// proto_ver, keepalive.
pub(crate) fn conn_info<'py>(
    py: Python<'py>,
    node: &Bound<'py, PyAny>,
    c: &ConnInfo,
) -> PyResult<Bound<'py, PyAny>> {
    proplist(
        py,
        vec![
            (Key::node, node.clone()),
            (
                Key::clientid,
                bytes(py, c.clientid().as_deref().unwrap_or("")),
            ),
            (
                Key::username,
                bytes(py, c.username().as_deref().unwrap_or("")),
            ),
            (
                Key::peerhost,
                bytes(py, &ip_text(c.peername().map(|p| p.ip()))),
            ),
            (
                Key::sockport,
                int(py, c.sockname().map_or(0, |s| s.port()))?,
            ),
            (
                Key::proto_name,
                bytes(py, c.proto_name().as_deref().unwrap_or("")),
            ),
            (Key::proto_ver, optional(py, c.proto_ver())?),
            (Key::keepalive, optional(py, c.keepalive())?),
        ],
    )
}

/// `message`: node, id (hex text), qos, from, topic, payload, timestamp.
pub(crate) fn message<'py>(
    py: Python<'py>,
    node: &Bound<'py, PyAny>,
    m: &Message,
) -> PyResult<Bound<'py, PyAny>> {
    proplist(
        py,
        vec![
            (Key::node, node.clone()),
            (Key::id, bytes(py, &m.id_hex())),
            (Key::qos, int(py, m.qos())?),
            (Key::from, bytes(py, &m.from())),
            (Key::topic, bytes(py, &m.topic())),
            (Key::payload, PyBytes::new(py, m.payload()).into_any()),
            (Key::timestamp, int(py, m.timestamp())?),
        ],
    )
}

/// MQTT 5 properties: `(Atom(name), value)`, `User-Property` as a list of
/// `(key, value)` bytes pairs.
pub(crate) fn properties<'py>(py: Python<'py>, p: &Properties) -> PyResult<Bound<'py, PyAny>> {
    let items = p
        .iter()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                PropertyValue::Integer(i) => int(py, i)?,
                PropertyValue::Binary(b) => PyBytes::new(py, b).into_any(),
                PropertyValue::Pairs(pairs) => list(
                    py,
                    pairs
                        .iter()
                        .map(|(k, v)| {
                            PyTuple::new(py, [bytes(py, k), bytes(py, v)]).map(Bound::into_any)
                        })
                        .collect::<PyResult<Vec<_>>>()?,
                )?,
                PropertyValue::Other(text) => bytes(py, &text),
            };
            PyTuple::new(py, [atom(py, &name)?, value]).map(Bound::into_any)
        })
        .collect::<PyResult<Vec<_>>>()?;
    list(py, items)
}

/// Subscription options, keys in the order `maps:to_list` gives them.
pub(crate) fn sub_opts<'py>(py: Python<'py>, o: &SubOpts) -> PyResult<Bound<'py, PyAny>> {
    let mut pairs = Vec::with_capacity(6);
    if let Some(is_new) = o.is_new() {
        pairs.push((Key::is_new, boolean(py, is_new)));
    }
    pairs.push((Key::nl, int(py, o.nl())?));
    pairs.push((Key::qos, int(py, o.qos())?));
    pairs.push((Key::rap, int(py, o.rap())?));
    pairs.push((Key::rh, int(py, o.rh())?));
    if let Some(share) = o.share() {
        pairs.push((Key::share, bytes(py, &share)));
    }
    proplist(py, pairs)
}

/// A SUBSCRIBE's (or UNSUBSCRIBE's) topic filter as the one-item list
/// `[(filter, qos)]` the original's `topicfilters` made.
pub(crate) fn topic_filters<'py>(
    py: Python<'py>,
    filter: &str,
    qos: u8,
) -> PyResult<Bound<'py, PyAny>> {
    let item = PyTuple::new(py, [bytes(py, filter), int(py, qos)?])?.into_any();
    list(py, [item])
}

/// A topic or topic filter.
pub(crate) fn topic<'py>(py: Python<'py>, topic: &str) -> Bound<'py, PyAny> {
    bytes(py, topic)
}

/// `publish` or `subscribe`.
pub(crate) fn pubsub(py: Python<'_>, pubsub: PubSub) -> Bound<'_, PyAny> {
    let t = Terms::get();
    match pubsub {
        PubSub::Publish => t.publish.bind(py).clone(),
        PubSub::Subscribe => t.subscribe.bind(py).clone(),
    }
}

/// A boolean argument (the result so far of authenticate and check_acl).
pub(crate) fn flag(py: Python<'_>, value: bool) -> Bound<'_, PyAny> {
    boolean(py, value)
}

/// A reason: an `Atom` when the broker's reason was an atom (`normal`,
/// `takeovered`, ...), else its text as bytes.
pub(crate) fn reason<'py>(py: Python<'py>, reason: &Reason) -> PyResult<Bound<'py, PyAny>> {
    reason_text(py, &reason.text())
}

/// As [`reason`], from text (connack's reason code name).
pub(crate) fn reason_text<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    if looks_like_atom(text) {
        atom(py, text)
    } else {
        Ok(bytes(py, text))
    }
}

fn looks_like_atom(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some('a'..='z'))
        && text.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_are_shown_as_ipv4() {
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_text(Some(mapped)), "10.0.0.7");
        assert_eq!(ip_text(Some("::1".parse().unwrap_or(mapped))), "::1");
        assert_eq!(ip_text(None), "");
    }

    #[test]
    fn only_atom_shaped_reasons_become_atoms() {
        assert!(looks_like_atom("normal"));
        assert!(looks_like_atom("not_authorized"));
        assert!(!looks_like_atom("{shutdown,tcp_closed}"));
        assert!(!looks_like_atom("Normal"));
        assert!(!looks_like_atom(""));
    }
}
