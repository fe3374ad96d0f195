//! One view of an Erlang term, whichever way it arrived: as a term in the
//! VM (the NIF transport, through rustler) or decoded from the External
//! Term Format (the Port transport, through eetf). Decoding hook arguments
//! and encoding decisions are written once, against these traits.

use rustler::sys::ErlNifTerm;
use rustler::types::tuple::{get_tuple, make_tuple};
use rustler::{Encoder, Env, MapIterator, OwnedBinary, Term, TermType};
use std::borrow::Cow;
use std::sync::OnceLock;

macro_rules! keys {
    ($($key:ident = $name:literal,)*) => {
        /// The atoms the SDK reads or writes: map keys and known values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub(crate) enum Key {
            $($key,)*
        }

        impl Key {
            /// Every key.
            const ALL: &'static [Key] = &[$(Key::$key,)*];

            /// The atom's text.
            pub(crate) const fn name(self) -> &'static str {
                match self {
                    $(Key::$key => $name,)*
                }
            }

            /// The key whose atom has text `name`.
            fn from_name(name: &str) -> Option<Key> {
                match name {
                    $($name => Some(Key::$key),)*
                    _ => None,
                }
            }
        }

        mod nif_atoms {
            rustler::atoms! { $($key = $name,)* }
        }

        /// The VM's atom for `key`, made once per library load.
        fn nif_atom(key: Key) -> rustler::Atom {
            match key {
                $(Key::$key => nif_atoms::$key(),)*
            }
        }
    };
}

keys! {
    undefined = "undefined", r#true = "true", r#false = "false", message = "message",
    ok = "ok", stop = "stop", error = "error", allow = "allow", deny = "deny",
    success = "success", not_authorized = "not_authorized",
    publish = "publish", subscribe = "subscribe",
    zone = "zone", protocol = "protocol", peerhost = "peerhost", sockport = "sockport",
    clientid = "clientid", username = "username", password = "password",
    mountpoint = "mountpoint", is_bridge = "is_bridge", is_superuser = "is_superuser",
    anonymous = "anonymous", auth_result = "auth_result", ws_cookie = "ws_cookie",
    dn = "dn", cn = "cn", socktype = "socktype", peername = "peername", sockname = "sockname",
    conn_mod = "conn_mod", proto_name = "proto_name", proto_ver = "proto_ver",
    clean_start = "clean_start", keepalive = "keepalive", expiry_interval = "expiry_interval",
    receive_maximum = "receive_maximum", conn_props = "conn_props",
    connected_at = "connected_at", disconnected_at = "disconnected_at", peercert = "peercert",
    dup = "dup", retain = "retain", sys = "sys", properties = "properties",
    allow_publish = "allow_publish", qos = "qos", nl = "nl", rap = "rap", rh = "rh",
    is_new = "is_new", share = "share", deny_subscription = "deny_subscription",
    subscriptions = "subscriptions", upgrade_qos = "upgrade_qos",
    retry_interval = "retry_interval", await_rel_timeout = "await_rel_timeout",
    created_at = "created_at", node = "node",
    inline = "inline", dirty_cpu = "dirty_cpu", dirty_io = "dirty_io", pool = "pool",
    call = "call", cast = "cast", reply = "reply", init = "init", init_ok = "init_ok",
    init_error = "init_error", deinit = "deinit", deinit_ok = "deinit_ok",
    panic = "panic", badarg = "badarg", not_loaded = "not_loaded", queue_full = "queue_full",
    saturated = "saturated",
    dropped = "dropped", external = "external", internal = "internal", mqtt = "mqtt",
    tcp = "tcp", emqx_connection = "emqx_connection", normal = "normal",
}

/// The VM's atoms of every key, sorted by their term word, so that a map
/// key is looked up once rather than compared with each key in turn.
fn nif_key_table() -> &'static [(ErlNifTerm, Key)] {
    static TABLE: OnceLock<Vec<(ErlNifTerm, Key)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: Vec<(ErlNifTerm, Key)> = Key::ALL
            .iter()
            .map(|k| (nif_atom(*k).as_c_arg(), *k))
            .collect();
        table.sort_unstable_by_key(|(word, _)| *word);
        table
    })
}

/// A term, borrowed for `'a`.
pub(crate) trait Value<'a>: Copy + 'a {
    /// The key this atom is, if it is one of the SDK's keys.
    fn key(self) -> Option<Key>;
    /// The bytes of a binary.
    fn binary(self) -> Option<&'a [u8]>;
    /// The text of an atom.
    fn atom_text(self) -> Option<Cow<'a, str>>;
    /// Whether this is the atom `key`.
    fn is(self, key: Key) -> bool;
    /// Whether this is any atom.
    fn is_atom(self) -> bool;
    /// An integer that fits in 64 bits.
    fn int(self) -> Option<i64>;
    /// The elements of a tuple.
    fn elements(self) -> Option<Vec<Self>>;
    /// The elements of a proper list.
    fn items(self) -> Option<Vec<Self>>;
    /// Calls `each` on every entry of a map; false if this is not a map.
    fn for_each_entry(self, each: impl FnMut(Self, Self)) -> bool;
    /// The value under atom key `key` of a map.
    fn get(self, key: Key) -> Option<Self>;
    /// The term printed, for text where any term may stand (reasons).
    fn render(self) -> String;
    /// A short name of the term's type, for error messages.
    fn type_name(self) -> &'static str;
}

impl<'a> Value<'a> for Term<'a> {
    fn key(self) -> Option<Key> {
        let word = self.as_c_arg();
        let table = nif_key_table();
        table
            .binary_search_by_key(&word, |(w, _)| *w)
            .ok()
            .map(|i| table[i].1)
    }

    fn binary(self) -> Option<&'a [u8]> {
        rustler::Binary::from_term(self).ok().map(|b| b.as_slice())
    }

    fn atom_text(self) -> Option<Cow<'a, str>> {
        self.atom_to_string().ok().map(Cow::Owned)
    }

    fn is(self, key: Key) -> bool {
        // Atoms are immediate terms: equal atoms are equal words.
        self.as_c_arg() == nif_atom(key).as_c_arg()
    }

    fn is_atom(self) -> bool {
        self.get_type() == TermType::Atom
    }

    fn int(self) -> Option<i64> {
        self.decode::<i64>().ok()
    }

    fn elements(self) -> Option<Vec<Self>> {
        get_tuple(self).ok()
    }

    fn items(self) -> Option<Vec<Self>> {
        self.decode::<Vec<Term>>().ok()
    }

    fn for_each_entry(self, mut each: impl FnMut(Self, Self)) -> bool {
        match MapIterator::new(self) {
            Some(entries) => {
                for (k, v) in entries {
                    each(k, v);
                }
                true
            }
            None => false,
        }
    }

    fn get(self, key: Key) -> Option<Self> {
        self.map_get(nif_atom(key)).ok()
    }

    fn render(self) -> String {
        format!("{self:?}")
    }

    fn type_name(self) -> &'static str {
        match self.get_type() {
            TermType::Atom => "atom",
            TermType::Binary => "binary",
            TermType::Fun => "fun",
            TermType::List => "list",
            TermType::Map => "map",
            TermType::Integer => "integer",
            TermType::Float => "float",
            TermType::Pid => "pid",
            TermType::Port => "port",
            TermType::Ref => "reference",
            TermType::Tuple => "tuple",
            _ => "unknown",
        }
    }
}

impl<'a> Value<'a> for &'a eetf::Term {
    fn key(self) -> Option<Key> {
        match self {
            eetf::Term::Atom(a) => Key::from_name(&a.name),
            _ => None,
        }
    }

    fn binary(self) -> Option<&'a [u8]> {
        match self {
            eetf::Term::Binary(b) => Some(&b.bytes),
            _ => None,
        }
    }

    fn atom_text(self) -> Option<Cow<'a, str>> {
        match self {
            eetf::Term::Atom(a) => Some(Cow::Borrowed(a.name.as_str())),
            _ => None,
        }
    }

    fn is(self, key: Key) -> bool {
        matches!(self, eetf::Term::Atom(a) if a.name == key.name())
    }

    fn is_atom(self) -> bool {
        matches!(self, eetf::Term::Atom(_))
    }

    fn int(self) -> Option<i64> {
        match self {
            eetf::Term::FixInteger(i) => Some(i64::from(i.value)),
            eetf::Term::BigInteger(i) => i64::try_from(&i.value).ok(),
            _ => None,
        }
    }

    fn elements(self) -> Option<Vec<Self>> {
        match self {
            eetf::Term::Tuple(t) => Some(t.elements.iter().collect()),
            _ => None,
        }
    }

    fn items(self) -> Option<Vec<Self>> {
        match self {
            eetf::Term::List(l) => Some(l.elements.iter().collect()),
            // Short lists of small integers arrive as a byte list; nothing
            // the SDK reads has that shape.
            _ => None,
        }
    }

    fn for_each_entry(self, mut each: impl FnMut(Self, Self)) -> bool {
        match self {
            eetf::Term::Map(m) => {
                for (k, v) in &m.map {
                    each(k, v);
                }
                true
            }
            _ => false,
        }
    }

    fn get(self, key: Key) -> Option<Self> {
        match self {
            eetf::Term::Map(m) => m.map.iter().find(|(k, _)| k.is(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    fn render(self) -> String {
        self.to_string()
    }

    fn type_name(self) -> &'static str {
        match self {
            eetf::Term::Atom(_) => "atom",
            eetf::Term::FixInteger(_) | eetf::Term::BigInteger(_) => "integer",
            eetf::Term::Float(_) => "float",
            eetf::Term::Binary(_) | eetf::Term::BitBinary(_) => "binary",
            eetf::Term::List(_) | eetf::Term::ByteList(_) | eetf::Term::ImproperList(_) => "list",
            eetf::Term::Tuple(_) => "tuple",
            eetf::Term::Map(_) => "map",
            _ => "other",
        }
    }
}

/// Builds the terms a decision is answered with, from pieces of the
/// hook's arguments and new values.
pub(crate) trait Build<'a> {
    /// The arguments' terms.
    type In: Value<'a>;
    /// The terms built.
    type Out: Clone;
    /// An argument, as is.
    fn input(&self, v: Self::In) -> Self::Out;
    fn atom(&self, key: Key) -> Self::Out;
    fn int(&self, i: i64) -> Self::Out;
    fn binary(&self, bytes: &[u8]) -> Self::Out;
    fn tuple(&self, items: &[Self::Out]) -> Self::Out;
    fn list(&self, items: &[Self::Out]) -> Self::Out;
    /// `map` with `key => value`; `None` if `map` is not a map.
    fn map_put(&self, map: Self::Out, key: Key, value: Self::Out) -> Option<Self::Out>;

    fn boolean(&self, b: bool) -> Self::Out {
        self.atom(if b { Key::r#true } else { Key::r#false })
    }
}

/// Builds terms in a NIF environment.
#[derive(Clone, Copy)]
pub(crate) struct NifBuild<'a>(pub Env<'a>);

impl<'a> Build<'a> for NifBuild<'a> {
    type In = Term<'a>;
    type Out = Term<'a>;

    fn input(&self, v: Term<'a>) -> Term<'a> {
        v
    }

    fn atom(&self, key: Key) -> Term<'a> {
        nif_atom(key).encode(self.0)
    }

    fn int(&self, i: i64) -> Term<'a> {
        i.encode(self.0)
    }

    fn binary(&self, bytes: &[u8]) -> Term<'a> {
        let mut owned = OwnedBinary::new(bytes.len());
        owned.as_mut_slice().copy_from_slice(bytes);
        owned.release(self.0).encode(self.0)
    }

    fn tuple(&self, items: &[Term<'a>]) -> Term<'a> {
        make_tuple(self.0, items)
    }

    fn list(&self, items: &[Term<'a>]) -> Term<'a> {
        items.encode(self.0)
    }

    fn map_put(&self, map: Term<'a>, key: Key, value: Term<'a>) -> Option<Term<'a>> {
        map.map_put(nif_atom(key), value).ok()
    }
}

/// Builds External Term Format terms.
#[derive(Clone, Copy)]
pub(crate) struct EtfBuild;

impl<'a> Build<'a> for EtfBuild {
    type In = &'a eetf::Term;
    type Out = eetf::Term;

    fn input(&self, v: &'a eetf::Term) -> eetf::Term {
        v.clone()
    }

    fn atom(&self, key: Key) -> eetf::Term {
        eetf::Term::from(eetf::Atom::from(key.name()))
    }

    fn int(&self, i: i64) -> eetf::Term {
        match i32::try_from(i) {
            Ok(small) => eetf::Term::from(eetf::FixInteger::from(small)),
            Err(_) => eetf::Term::from(eetf::BigInteger::from(i)),
        }
    }

    fn binary(&self, bytes: &[u8]) -> eetf::Term {
        eetf::Term::from(eetf::Binary::from(bytes.to_vec()))
    }

    fn tuple(&self, items: &[eetf::Term]) -> eetf::Term {
        eetf::Term::from(eetf::Tuple::from(items.to_vec()))
    }

    fn list(&self, items: &[eetf::Term]) -> eetf::Term {
        eetf::Term::from(eetf::List::from(items.to_vec()))
    }

    fn map_put(&self, map: eetf::Term, key: Key, value: eetf::Term) -> Option<eetf::Term> {
        match map {
            eetf::Term::Map(mut m) => {
                m.map.insert(self.atom(key), value);
                Some(eetf::Term::Map(m))
            }
            _ => None,
        }
    }
}
