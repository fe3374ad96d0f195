//! The database: one schema and one set of operations on SQLite (a file,
//! the default) and PostgreSQL (when `database_url` is set).
//!
//! Tables (created when a connection opens, if missing):
//!
//! | table | what |
//! |---|---|
//! | `mqtt_users` | username, Argon2id `password_hash`, `is_superuser` |
//! | `mqtt_acl` | rules in `(seq, id)` order: `who` (all, username, clientid) and `name`, `action` (publish, subscribe, pubsub), `topic`, `permission` (allow, deny) |
//! | `mqtt_clients` | one row per clientid: `online`, `node`, `peer`, `protocol`, `proto_ver`, last `connected_at` / `disconnected_at` (ms since the epoch), `disconnect_reason` |
//! | `mqtt_client_history` | every connect and disconnect: `clientid`, `event`, `node`, `at`, ... |
//! | `mqtt_messages` | stored messages: `topic`, `qos`, `payload`, `publisher` (clientid), `username`, `retain`, `published_at`, `node` |

mod postgres;
mod sqlite;

use crate::acl::RuleRow;
use crate::settings::Location;
use std::fmt;
use std::time::Duration;

/// What went wrong, and whether trying again later may succeed (the
/// database is unreachable, locked, restarting) or not (the data itself
/// is refused: a constraint, a value out of range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub transient: bool,
    pub message: String,
}

impl DbError {
    pub fn transient(message: impl Into<String>) -> DbError {
        DbError {
            transient: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> DbError {
        DbError {
            transient: false,
            message: message.into(),
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A user's row, for a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub password_hash: String,
    pub is_superuser: bool,
}

/// A connect or a disconnect, for `mqtt_clients` and `mqtt_client_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEvent {
    pub kind: EventKind,
    pub clientid: String,
    pub username: Option<String>,
    pub node: String,
    /// `ip:port`.
    pub peer: Option<String>,
    pub protocol: Option<String>,
    pub proto_ver: Option<i32>,
    /// When this connection was accepted: it names the connection, so a
    /// late disconnect of an older connection (a takeover, another node)
    /// leaves a newer connection's row alone.
    pub connected_at: Option<i64>,
    /// When the event happened, ms since the epoch.
    pub at: i64,
    /// Why the connection closed (disconnects only).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Connected,
    Disconnected,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Connected => "connected",
            EventKind::Disconnected => "disconnected",
        }
    }
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The broker's message id, hex.
    pub msgid: String,
    pub topic: String,
    pub qos: i16,
    pub payload: Vec<u8>,
    /// The publisher's clientid.
    pub publisher: String,
    pub username: Option<String>,
    pub retain: bool,
    /// ms since the epoch.
    pub published_at: i64,
    pub node: String,
}

/// One write the writer thread batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Client(ClientEvent),
    Message(StoredMessage),
}

impl Record {
    /// Roughly the memory the record holds while it waits, for the
    /// queue's byte bound.
    pub fn size(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<Record>()
            + match self {
                Record::Client(e) => {
                    e.clientid.len()
                        + text(&e.username)
                        + e.node.len()
                        + text(&e.peer)
                        + text(&e.protocol)
                        + text(&e.reason)
                }
                Record::Message(m) => {
                    m.msgid.len()
                        + m.topic.len()
                        + m.payload.len()
                        + m.publisher.len()
                        + text(&m.username)
                        + m.node.len()
                }
            }
    }
}

/// The result of an ad hoc query, every value as text (`None` for NULL;
/// blobs as `\x` and hex, as PostgreSQL prints `bytea`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Where to connect, checked.
pub enum Database {
    Sqlite(sqlite::Sqlite),
    Postgres(Box<postgres::Postgres>),
}

/// An open connection with its prepared statements.
pub enum Connection {
    Sqlite(sqlite::Conn),
    Postgres(Box<postgres::Conn>),
}

impl Database {
    /// Checks `location` (a PostgreSQL connection string must parse);
    /// connects nothing yet.
    pub fn new(location: &Location, op_timeout: Duration) -> Result<Database, String> {
        Ok(match location {
            Location::Sqlite(path) => Database::Sqlite(sqlite::Sqlite::new(path, op_timeout)),
            Location::Postgres(url) => {
                Database::Postgres(Box::new(postgres::Postgres::new(url, op_timeout)?))
            }
        })
    }

    /// How logs name it (never with a password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(s) => s.describe(),
            Database::Postgres(p) => p.describe(),
        }
    }

    /// Opens a connection and creates the schema if it is missing.
    pub fn connect(&self, timeout: Duration) -> Result<Connection, DbError> {
        Ok(match self {
            Database::Sqlite(s) => Connection::Sqlite(s.connect(timeout)?),
            Database::Postgres(p) => Connection::Postgres(Box::new(p.connect(timeout)?)),
        })
    }
}

macro_rules! each {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Connection::Sqlite($c) => $e,
            Connection::Postgres($c) => $e,
        }
    };
}

impl Connection {
    /// The user's hash and superuser flag, if the user exists.
    pub fn find_user(&mut self, username: &str) -> Result<Option<UserRow>, DbError> {
        each!(self, c => c.find_user(username))
    }

    /// Every ACL rule, in `(seq, id)` order.
    pub fn load_rules(&mut self) -> Result<Vec<RuleRow>, DbError> {
        each!(self, c => c.load_rules())
    }

    /// Writes `records` in one transaction, in order: all or nothing.
    pub fn write(&mut self, records: &[Record]) -> Result<(), DbError> {
        each!(self, c => c.write(records))
    }

    /// Adds the user, or replaces its hash and flag.
    pub fn put_user(&mut self, username: &str, hash: &str, superuser: bool) -> Result<(), DbError> {
        each!(self, c => c.put_user(username, hash, superuser, now_ms()))
    }

    /// Whether a user was removed.
    pub fn remove_user(&mut self, username: &str) -> Result<bool, DbError> {
        each!(self, c => c.remove_user(username))
    }

    /// Adds a rule (checked by the caller); returns its id.
    pub fn add_rule(&mut self, seq: i32, rule: &NewRule) -> Result<i64, DbError> {
        each!(self, c => c.add_rule(seq, rule))
    }

    /// Whether a rule was removed.
    pub fn remove_rule(&mut self, id: i64) -> Result<bool, DbError> {
        each!(self, c => c.remove_rule(id))
    }

    /// Runs `sql` (one statement) and returns its rows as text.
    pub fn query_text(&mut self, sql: &str) -> Result<TextRows, DbError> {
        each!(self, c => c.query_text(sql))
    }

    /// True once the connection cannot be used again.
    pub fn is_broken(&self) -> bool {
        match self {
            Connection::Sqlite(_) => false,
            Connection::Postgres(c) => c.is_broken(),
        }
    }
}

/// A rule to add, as its table columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    pub who: String,
    pub name: Option<String>,
    pub action: String,
    pub topic: String,
    pub permission: String,
}

/// Bytes as PostgreSQL prints `bytea`: `\x` and lowercase hex.
fn hex_bytea(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(2 + 2 * bytes.len());
    text.push_str("\\x");
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The schema in both dialects: `{id}` is the auto-increment key's type,
/// `{blob}` the binary type. The SQL lives in `sql/` beside this crate,
/// one file per statement, so that the Python version of this example
/// (native/python/examples/database) runs the very same statements.
fn schema(id: &str, blob: &str) -> String {
    include_str!("../../sql/schema.sql")
        .replace("{id}", id)
        .replace("{blob}", blob)
}

/// The statements both dialects share, with PostgreSQL's `$N` parameters
/// (SQLite reads them as `?N`).
mod sql {
    pub const FIND_USER: &str = include_str!("../../sql/find_user.sql");
    pub const LOAD_RULES: &str = include_str!("../../sql/load_rules.sql");
    /// A connect wins over the row unless the row names a newer connection.
    macro_rules! connected_wins {
        () => {
            include_str!("../../sql/connected_wins.sql")
        };
    }
    pub(crate) use connected_wins;
    pub const CLIENT_CONNECTED: &str = concat!(
        include_str!("../../sql/client_connected.sql"),
        connected_wins!()
    );
    /// A disconnect changes the row only while it still names the same
    /// connection (node and connect time).
    pub const CLIENT_DISCONNECTED: &str = include_str!("../../sql/client_disconnected.sql");
    pub const HISTORY: &str = include_str!("../../sql/history.sql");
    pub const MESSAGE: &str = include_str!("../../sql/message.sql");
    pub const PUT_USER: &str = include_str!("../../sql/put_user.sql");
    pub const REMOVE_USER: &str = include_str!("../../sql/remove_user.sql");
    pub const ADD_RULE: &str = include_str!("../../sql/add_rule.sql");
    pub const REMOVE_RULE: &str = include_str!("../../sql/remove_rule.sql");
}
