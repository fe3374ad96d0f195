//! One view of an Erlang term, whichever way it arrived: as a term in the
//! VM (the NIF transport, through rustler) or decoded from the External
//! Term Format (the Port transport, through eetf). Decoding hook arguments
//! and encoding decisions are written once, against these traits.

use rustler::sys::{c_int, ErlNifTerm};
use rustler::types::tuple::{get_tuple, make_tuple};
use rustler::{Encoder, Env, MapIterator, OwnedBinary, Term, TermType};
use std::borrow::Cow;

macro_rules! keys {
    ($($key:ident = $name:literal,)*) => {
        /// The atoms the SDK reads or writes: map keys and known values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub(crate) enum Key {
            $($key,)*
        }

        impl Key {
            /// The atom's text.
            pub(crate) const fn name(self) -> &'static str {
                match self {
                    $(Key::$key => $name,)*
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
    panic = "panic", failed = "failed", badarg = "badarg", not_loaded = "not_loaded", queue_full = "queue_full",
    saturated = "saturated",
    dropped = "dropped", external = "external", internal = "internal", mqtt = "mqtt",
    tcp = "tcp", emqx_connection = "emqx_connection", normal = "normal",
}

/// A term, borrowed for `'a`.
pub(crate) trait Value<'a>: Copy + 'a {
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
    /// Element `index` (from 0) of a tuple, without copying the others.
    fn element(self, index: usize) -> Option<Self>;
    /// Whether this is a map.
    fn is_map(self) -> bool;
    /// Whether this is a tuple.
    fn is_tuple(self) -> bool;
    /// The elements of a proper list.
    fn items(self) -> Option<Vec<Self>>;
    /// Calls `each` on every entry of a map; false if this is not a map.
    fn for_each_entry(self, each: impl FnMut(Self, Self)) -> bool;
    /// The value under atom key `key` of a map.
    fn get(self, key: Key) -> Option<Self>;
    /// The value under the atom named `name` of a map (never making an atom).
    fn get_named(self, name: &str) -> Option<Self>;
    /// This term, for the SDK's typed views.
    fn raw(self) -> Raw<'a>;
    /// The term as External Term Format, owned.
    fn to_etf(self) -> Option<eetf::Term>;
    /// The term printed, for text where any term may stand (reasons).
    fn render(self) -> String;
    /// A short name of the term's type, for error messages.
    fn type_name(self) -> &'static str;
}

impl<'a> Value<'a> for Term<'a> {
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

    fn element(self, index: usize) -> Option<Self> {
        let env = self.get_env();
        let mut arity: c_int = 0;
        let mut array: *const ErlNifTerm = std::ptr::null();
        // SAFETY: enif_get_tuple only reads the term and, for a tuple,
        // points `array` at its `arity` elements, which live as long as
        // the term's environment (`'a`).
        let is_tuple = unsafe {
            rustler::sys::enif_get_tuple(env.as_c_arg(), self.as_c_arg(), &mut arity, &mut array)
        };
        if is_tuple == 0 || index >= usize::try_from(arity).unwrap_or(0) {
            return None;
        }
        // SAFETY: `index` is below the tuple's arity; the element is a term
        // of the same environment.
        Some(unsafe { Term::new(env, *array.add(index)) })
    }

    fn is_map(self) -> bool {
        self.get_type() == TermType::Map
    }

    fn is_tuple(self) -> bool {
        self.get_type() == TermType::Tuple
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

    fn get_named(self, name: &str) -> Option<Self> {
        // An atom that does not exist cannot be a key of the map.
        let atom = rustler::Atom::existing_from_bytes(self.get_env(), name.as_bytes()).ok()?;
        self.map_get(atom).ok()
    }

    fn raw(self) -> Raw<'a> {
        Raw::Nif(self)
    }

    fn to_etf(self) -> Option<eetf::Term> {
        eetf::Term::decode(self.to_binary().as_slice()).ok()
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

    fn element(self, index: usize) -> Option<Self> {
        match self {
            eetf::Term::Tuple(t) => t.elements.get(index),
            _ => None,
        }
    }

    fn is_map(self) -> bool {
        matches!(self, eetf::Term::Map(_))
    }

    fn is_tuple(self) -> bool {
        matches!(self, eetf::Term::Tuple(_))
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
        self.get_named(key.name())
    }

    fn get_named(self, name: &str) -> Option<Self> {
        match self {
            eetf::Term::Map(m) => m
                .map
                .iter()
                .find(|(k, _)| matches!(k, eetf::Term::Atom(a) if a.name == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn raw(self) -> Raw<'a> {
        Raw::Etf(self)
    }

    fn to_etf(self) -> Option<eetf::Term> {
        Some(self.clone())
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

/// A term the SDK's typed views read from: the broker's term in the VM
/// (NIF transport), one decoded from the External Term Format (Port
/// transport), or one owned by the view (kept beyond a call, or built in
/// a test).
#[derive(Clone)]
pub(crate) enum Raw<'a> {
    Nif(Term<'a>),
    Etf(&'a eetf::Term),
    Owned(std::sync::Arc<eetf::Term>),
}

/// Runs `$body` with `$v` bound to the term of `$raw` as a [`Value`],
/// whichever kind it is.
macro_rules! on_raw {
    ($raw:expr, |$v:ident| $body:expr) => {
        match $raw {
            $crate::value::Raw::Nif(t) => {
                let $v = $crate::value::NifTerm(*t);
                $body
            }
            $crate::value::Raw::Etf(t) => {
                let $v = *t;
                $body
            }
            $crate::value::Raw::Owned(t) => {
                let $v = &**t;
                $body
            }
        }
    };
}
pub(crate) use on_raw;

impl<'a> Raw<'a> {
    /// The value under key `key` of this map; an owned term's child is
    /// owned too.
    pub(crate) fn get(&self, key: Key) -> Option<Raw<'a>> {
        self.child(|v| v.get(key), |v| v.get(key))
    }

    /// The value under the atom named `name` of this map.
    pub(crate) fn get_named(&self, name: &str) -> Option<Raw<'a>> {
        self.child(|v| v.get_named(name), |v| v.get_named(name))
    }

    /// Element `index` of this tuple.
    pub(crate) fn element(&self, index: usize) -> Option<Raw<'a>> {
        self.child(|v| v.element(index), |v| v.element(index))
    }

    /// The entries of this map (none if it is not one).
    pub(crate) fn entries(&self) -> Vec<(Raw<'a>, Raw<'a>)> {
        let mut out = Vec::new();
        match self {
            Raw::Nif(t) => {
                NifTerm(*t).for_each_entry(|k, v| out.push((Raw::Nif(k.0), Raw::Nif(v.0))));
            }
            Raw::Etf(t) => {
                t.for_each_entry(|k, v| out.push((Raw::Etf(k), Raw::Etf(v))));
            }
            Raw::Owned(t) => {
                let own = |x: &eetf::Term| Raw::Owned(std::sync::Arc::new(x.clone()));
                (&**t).for_each_entry(|k, v| out.push((own(k), own(v))));
            }
        }
        out
    }

    fn child(
        &self,
        nif: impl FnOnce(NifTerm<'a>) -> Option<NifTerm<'a>>,
        etf: impl for<'e> Fn(&'e eetf::Term) -> Option<&'e eetf::Term>,
    ) -> Option<Raw<'a>> {
        match self {
            Raw::Nif(t) => nif(NifTerm(*t)).map(|c| Raw::Nif(c.0)),
            Raw::Etf(t) => etf(t).map(Raw::Etf),
            Raw::Owned(t) => etf(t).map(|c| Raw::Owned(std::sync::Arc::new(c.clone()))),
        }
    }

    /// The same term, owned.
    pub(crate) fn to_owned(&self) -> Raw<'static> {
        let owned = match self {
            Raw::Owned(t) => return Raw::Owned(t.clone()),
            Raw::Nif(t) => NifTerm(*t).to_etf(),
            Raw::Etf(t) => Some((*t).clone()),
        };
        Raw::Owned(std::sync::Arc::new(owned.unwrap_or_else(|| {
            eetf::Term::from(eetf::Atom::from(Key::undefined.name()))
        })))
    }

    /// The term printed, for debugging output.
    pub(crate) fn render(&self) -> String {
        on_raw!(self, |v| v.render())
    }
}

/// A term of the VM as the typed views read it: through functions the
/// library's NIF entry registers ([`register_nif_ops`]) rather than direct
/// calls into the VM's `enif_*` API. Those functions exist only inside the
/// VM, so code that merely reads views (a handler's own tests, the test
/// kit) then links and runs without one. Until registered (never, outside
/// the VM), every read finds nothing.
#[derive(Clone, Copy)]
pub(crate) struct NifTerm<'a>(pub(crate) Term<'a>);

macro_rules! nif_ops {
    ($($name:ident: for<$($l:lifetime),*> fn($($arg:ident: $ty:ty),*) -> $ret:ty = $call:expr;)*) => {
        /// The VM-side readers behind [`NifTerm`].
        struct NifOps {
            $($name: for<$($l),*> fn($($ty),*) -> $ret,)*
        }

        mod nif_op {
            use super::*;
            $(pub(super) fn $name<$($l),*>($($arg: $ty),*) -> $ret { $call })*
        }

        /// Registers the VM-side readers; called by the library's NIF entry.
        pub(crate) fn register_nif_ops() {
            NIF_OPS.get_or_init(|| NifOps { $($name: nif_op::$name,)* });
        }
    };
}

nif_ops! {
    binary: for<'a> fn(t: Term<'a>) -> Option<&'a [u8]> = Value::binary(t);
    atom_text: for<'a> fn(t: Term<'a>) -> Option<Cow<'a, str>> = Value::atom_text(t);
    is: for<'a> fn(t: Term<'a>, key: Key) -> bool = Value::is(t, key);
    is_atom: for<'a> fn(t: Term<'a>) -> bool = Value::is_atom(t);
    int: for<'a> fn(t: Term<'a>) -> Option<i64> = Value::int(t);
    elements: for<'a> fn(t: Term<'a>) -> Option<Vec<Term<'a>>> = Value::elements(t);
    element: for<'a> fn(t: Term<'a>, index: usize) -> Option<Term<'a>> = Value::element(t, index);
    is_map: for<'a> fn(t: Term<'a>) -> bool = Value::is_map(t);
    is_tuple: for<'a> fn(t: Term<'a>) -> bool = Value::is_tuple(t);
    items: for<'a> fn(t: Term<'a>) -> Option<Vec<Term<'a>>> = Value::items(t);
    for_each_entry: for<'a, 'f> fn(t: Term<'a>, each: &'f mut dyn FnMut(Term<'a>, Term<'a>)) -> bool
        = Value::for_each_entry(t, each);
    get: for<'a> fn(t: Term<'a>, key: Key) -> Option<Term<'a>> = Value::get(t, key);
    get_named: for<'a, 'n> fn(t: Term<'a>, name: &'n str) -> Option<Term<'a>> = Value::get_named(t, name);
    to_etf: for<'a> fn(t: Term<'a>) -> Option<eetf::Term> = Value::to_etf(t);
    render: for<'a> fn(t: Term<'a>) -> String = Value::render(t);
    type_name: for<'a> fn(t: Term<'a>) -> &'static str = Value::type_name(t);
}

static NIF_OPS: std::sync::OnceLock<NifOps> = std::sync::OnceLock::new();

fn nif_ops() -> Option<&'static NifOps> {
    NIF_OPS.get()
}

impl<'a> Value<'a> for NifTerm<'a> {
    fn binary(self) -> Option<&'a [u8]> {
        nif_ops().and_then(|o| (o.binary)(self.0))
    }

    fn atom_text(self) -> Option<Cow<'a, str>> {
        nif_ops().and_then(|o| (o.atom_text)(self.0))
    }

    fn is(self, key: Key) -> bool {
        nif_ops().is_some_and(|o| (o.is)(self.0, key))
    }

    fn is_atom(self) -> bool {
        nif_ops().is_some_and(|o| (o.is_atom)(self.0))
    }

    fn int(self) -> Option<i64> {
        nif_ops().and_then(|o| (o.int)(self.0))
    }

    fn elements(self) -> Option<Vec<Self>> {
        let items = nif_ops().and_then(|o| (o.elements)(self.0))?;
        Some(items.into_iter().map(NifTerm).collect())
    }

    fn element(self, index: usize) -> Option<Self> {
        nif_ops()
            .and_then(|o| (o.element)(self.0, index))
            .map(NifTerm)
    }

    fn is_map(self) -> bool {
        nif_ops().is_some_and(|o| (o.is_map)(self.0))
    }

    fn is_tuple(self) -> bool {
        nif_ops().is_some_and(|o| (o.is_tuple)(self.0))
    }

    fn items(self) -> Option<Vec<Self>> {
        let items = nif_ops().and_then(|o| (o.items)(self.0))?;
        Some(items.into_iter().map(NifTerm).collect())
    }

    fn for_each_entry(self, mut each: impl FnMut(Self, Self)) -> bool {
        nif_ops()
            .is_some_and(|o| (o.for_each_entry)(self.0, &mut |k, v| each(NifTerm(k), NifTerm(v))))
    }

    fn get(self, key: Key) -> Option<Self> {
        nif_ops().and_then(|o| (o.get)(self.0, key)).map(NifTerm)
    }

    fn get_named(self, name: &str) -> Option<Self> {
        nif_ops()
            .and_then(|o| (o.get_named)(self.0, name))
            .map(NifTerm)
    }

    fn raw(self) -> Raw<'a> {
        Raw::Nif(self.0)
    }

    fn to_etf(self) -> Option<eetf::Term> {
        nif_ops().and_then(|o| (o.to_etf)(self.0))
    }

    fn render(self) -> String {
        nif_ops().map(|o| (o.render)(self.0)).unwrap_or_default()
    }

    fn type_name(self) -> &'static str {
        nif_ops().map_or("term", |o| (o.type_name)(self.0))
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
