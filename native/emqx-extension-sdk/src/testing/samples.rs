//! The real arguments of all 19 hooks, captured in an EMQX 4.4.19 broker
//! driven by mosquitto clients (`samples/emqx-4.4.19-hook-samples.txt`,
//! the file the plugin's own tests replay), read from their Erlang term
//! text.

use crate::hook::Hook;
use crate::types::{ClientInfo, ConnInfo, Message};
use crate::value::{Build, EtfBuild, Raw};
use eetf::Term;
use std::sync::Arc;

const SAMPLES: &str = include_str!("../../samples/emqx-4.4.19-hook-samples.txt");

/// One captured hook call: the hook and its arguments as a callback
/// received them (a fold hook's accumulator last).
///
/// ```
/// use emqx_extension_sdk::{testing, Hook};
/// let login = testing::sample(Hook::ClientAuthenticate);
/// assert_eq!(login.client_info(0).username().as_deref(), Some("bad"));
/// assert_eq!(testing::samples().len(), 19);
/// ```
#[derive(Debug, Clone)]
pub struct Sample {
    hook: Hook,
    args: Vec<Term>,
}

impl Sample {
    /// The hook that was called.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The number of arguments (the accumulator included).
    pub fn arity(&self) -> usize {
        self.args.len()
    }

    /// Argument `index` (from 0) as a `ClientInfo`.
    ///
    /// # Panics
    /// If that argument is not a map (a mistake in the test).
    pub fn client_info(&self, index: usize) -> ClientInfo<'static> {
        ClientInfo::from_raw(self.raw(index)).unwrap_or_else(|e| self.wrong(index, e))
    }

    /// Argument `index` (from 0) as a `ConnInfo`.
    ///
    /// # Panics
    /// If that argument is not a map.
    pub fn conn_info(&self, index: usize) -> ConnInfo<'static> {
        ConnInfo::from_raw(self.raw(index)).unwrap_or_else(|e| self.wrong(index, e))
    }

    /// Argument `index` (from 0) as a `Message`.
    ///
    /// # Panics
    /// If that argument is not a `#message{}` record.
    pub fn message(&self, index: usize) -> Message<'static> {
        Message::from_raw(self.raw(index)).unwrap_or_else(|e| self.wrong(index, e))
    }

    /// A fold hook's accumulator as the broker passed it, printed as an
    /// Erlang term (what [`TestBroker::replay`](super::TestBroker::replay)
    /// returns when the handler has no opinion); `None` for a notification.
    pub fn accumulator(&self) -> Option<String> {
        if self.hook.is_fold() {
            self.args.last().map(ToString::to_string)
        } else {
            None
        }
    }

    pub(crate) fn arg_terms(&self) -> Vec<Term> {
        self.args.clone()
    }

    fn raw(&self, index: usize) -> Raw<'static> {
        Raw::Owned(Arc::new(self.args.get(index).cloned().unwrap_or_else(
            || {
                panic!(
                    "{} has {} arguments, not {}",
                    self.hook.name(),
                    self.args.len(),
                    index + 1
                )
            },
        )))
    }

    fn wrong<T>(&self, index: usize, e: crate::decode::DecodeError) -> T {
        panic!("{} argument {index}: {e}", self.hook.name())
    }
}

/// Every captured hook call, one per hook, in the file's order.
pub fn samples() -> Vec<Sample> {
    parse(SAMPLES).unwrap_or_else(|e| panic!("the samples file does not parse: {e}"))
}

/// The captured call of `hook`.
pub fn sample(hook: Hook) -> Sample {
    samples()
        .into_iter()
        .find(|s| s.hook == hook)
        .unwrap_or_else(|| panic!("no sample of {}", hook.name()))
}

fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip();
        if p.at >= p.s.len() {
            return Ok(out);
        }
        let term = p.term()?;
        p.expect(b'.')?;
        let Term::Tuple(t) = term else {
            return Err(p.error("a {HookPoint, Args} tuple"));
        };
        let [Term::Atom(point), Term::List(args)] = t.elements.as_slice() else {
            return Err(p.error("a {HookPoint, Args} tuple"));
        };
        let hook = Hook::ALL
            .into_iter()
            .find(|h| h.name() == point.name)
            .ok_or_else(|| p.error("a hook point"))?;
        out.push(Sample {
            hook,
            args: args.elements.clone(),
        });
    }
}

/// A reader of the Erlang term syntax the samples use: tuples, lists,
/// maps, atoms (bare and quoted), integers, binaries (text and bytes).
struct Parser<'s> {
    s: &'s [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("expected {what} at byte {}", self.at)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    /// Skips blanks and `%` comments.
    fn skip(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'%' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.at += 1;
                }
            } else if c.is_ascii_whitespace() {
                self.at += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, text: &str) -> bool {
        self.skip();
        if self.s[self.at..].starts_with(text.as_bytes()) {
            self.at += text.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(std::str::from_utf8(&[c]).unwrap_or("?")) {
            Ok(())
        } else {
            Err(self.error(&format!("'{}'", c as char)))
        }
    }

    /// Terms separated by commas up to `close`.
    fn sequence(&mut self, close: &str) -> Result<Vec<Term>, String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.term()?);
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(",") {
                return Err(self.error(&format!("',' or '{close}'")));
            }
        }
    }

    fn term(&mut self) -> Result<Term, String> {
        self.skip();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                Ok(EtfBuild.tuple(&self.sequence("}")?))
            }
            Some(b'[') => {
                self.at += 1;
                Ok(EtfBuild.list(&self.sequence("]")?))
            }
            Some(b'#') => {
                self.at += 1;
                self.expect(b'{')?;
                self.map()
            }
            Some(b'<') => self.binary(),
            Some(b'\'') => self.quoted_atom(),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.integer(),
            Some(c) if c.is_ascii_lowercase() => Ok(self.bare_atom()),
            _ => Err(self.error("a term")),
        }
    }

    fn map(&mut self) -> Result<Term, String> {
        let mut map = std::collections::HashMap::new();
        if self.eat("}") {
            return Ok(Term::from(eetf::Map::from(map)));
        }
        loop {
            let key = self.term()?;
            if !self.eat("=>") {
                return Err(self.error("'=>'"));
            }
            map.insert(key, self.term()?);
            if self.eat("}") {
                return Ok(Term::from(eetf::Map::from(map)));
            }
            if !self.eat(",") {
                return Err(self.error("',' or '}'"));
            }
        }
    }

    fn binary(&mut self) -> Result<Term, String> {
        if !self.eat("<<") {
            return Err(self.error("'<<'"));
        }
        let bytes = if self.peek() == Some(b'"') {
            let text = self.string()?;
            if !self.eat(">>") {
                return Err(self.error("'>>'"));
            }
            text
        } else {
            let mut bytes = Vec::new();
            for item in self.sequence(">>")? {
                match item {
                    Term::FixInteger(i) => {
                        bytes.push(u8::try_from(i.value).map_err(|_| self.error("a byte"))?)
                    }
                    _ => return Err(self.error("a byte")),
                }
            }
            bytes
        };
        Ok(EtfBuild.binary(&bytes))
    }

    /// A double-quoted string with `\` escapes of the next character.
    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(
                        self.peek()
                            .ok_or_else(|| self.error("an escaped character"))?,
                    );
                    self.at += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
                None => return Err(self.error("'\"'")),
            }
        }
    }

    fn quoted_atom(&mut self) -> Result<Term, String> {
        self.at += 1;
        let start = self.at;
        while self.peek().is_some_and(|c| c != b'\'') {
            self.at += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
        self.expect(b'\'')?;
        Ok(Term::from(eetf::Atom::from(name)))
    }

    fn bare_atom(&mut self) -> Term {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'@')
        {
            self.at += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
        Term::from(eetf::Atom::from(name))
    }

    fn integer(&mut self) -> Result<Term, String> {
        let start = self.at;
        self.at += 1;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let text =
            std::str::from_utf8(&self.s[start..self.at]).map_err(|_| self.error("digits"))?;
        let value: i64 = text.parse().map_err(|_| self.error("an integer"))?;
        Ok(EtfBuild.int(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_has_one_sample_with_its_arity() {
        let samples = samples();
        assert_eq!(samples.len(), 19);
        for hook in Hook::ALL {
            let s = sample(hook);
            // Fold hooks carry their accumulator as the last argument.
            let fold_acc = usize::from(hook.is_fold() && hook != Hook::MessagePublish);
            assert!(s.arity() > fold_acc, "{}", hook.name());
        }
    }

    #[test]
    fn sample_values_read_as_the_broker_sent_them() {
        let login = sample(Hook::ClientAuthenticate);
        let client = login.client_info(0);
        assert_eq!(client.clientid(), "c-bad");
        assert_eq!(client.peerhost(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(client.mountpoint(), None);
        let publish = sample(Hook::MessagePublish);
        let msg = publish.message(0);
        assert_eq!((msg.topic().as_ref(), msg.payload()), ("p/1", &b"m1"[..]));
        assert_eq!(msg.id_hex(), "000661235dc06475f443000006ae0001");
        let connect = sample(Hook::ClientConnect);
        assert_eq!(
            connect.conn_info(0).peername(),
            Some("127.0.0.1:33854".parse().unwrap())
        );
    }
}
