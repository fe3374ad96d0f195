//! SQLite: a file next to the broker, no server. Write-ahead logging lets
//! logins read while the writer thread writes; `db_timeout` is how long a
//! statement waits for a lock another process holds.

use super::{schema, sql, ClientEvent, DbError, EventKind, NewRule, Record, TextRows, UserRow};
use crate::acl::RuleRow;
use rusqlite::types::ValueRef;
use rusqlite::{params, ErrorCode, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Sqlite {
    path: PathBuf,
    op_timeout: Duration,
}

pub struct Conn {
    conn: rusqlite::Connection,
}

/// `$N` parameters as SQLite's `?N`.
fn q(statement: &str) -> String {
    statement.replace('$', "?")
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        let refused_data = match &e {
            rusqlite::Error::SqliteFailure(f, _) => matches!(
                f.code,
                ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch
            ),
            rusqlite::Error::InvalidParameterCount(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::Utf8Error(..) => true,
            _ => false,
        };
        let message = format!("SQLite: {e}");
        if refused_data {
            DbError::permanent(message)
        } else {
            DbError::transient(message)
        }
    }
}

impl Sqlite {
    pub fn new(path: &Path, op_timeout: Duration) -> Sqlite {
        Sqlite {
            path: path.to_path_buf(),
            op_timeout,
        }
    }

    pub fn describe(&self) -> String {
        format!("SQLite database {}", self.path.display())
    }

    pub fn connect(&self, timeout: Duration) -> Result<Conn, DbError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                DbError::transient(format!("SQLite: cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = rusqlite::Connection::open(&self.path)?;
        let wait = timeout.min(self.op_timeout);
        conn.busy_timeout(wait)?;
        // While another connection turns a new file to WAL, SQLite answers
        // "database is locked" at once, without waiting in the busy handler
        // (seen with 4 first connects at once, 1 run in about 30): retried
        // within the same time.
        let until = Instant::now() + wait;
        loop {
            match prepare(&conn) {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == ErrorCode::DatabaseBusy && Instant::now() < until =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e.into()),
                Ok(mode) if !mode.eq_ignore_ascii_case("wal") => {
                    return Err(DbError::transient(format!(
                        "SQLite: journal_mode stays {mode}, not wal"
                    )))
                }
                Ok(_) => break,
            }
        }
        conn.busy_timeout(self.op_timeout)?;
        Ok(Conn { conn })
    }
}

/// WAL, the synchronous level and the schema on a new connection; the
/// journal mode it got.
fn prepare(conn: &rusqlite::Connection) -> Result<String, rusqlite::Error> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Ok(mode);
    }
    // With WAL, NORMAL loses no committed data on a process crash, only
    // the last transactions on a power loss; FULL costs an fsync each.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(&schema("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"))?;
    Ok(mode)
}

impl Conn {
    pub fn find_user(&mut self, username: &str) -> Result<Option<UserRow>, DbError> {
        let mut stmt = self.conn.prepare_cached(&q(sql::FIND_USER))?;
        Ok(stmt
            .query_row([username], |row| {
                Ok(UserRow {
                    password_hash: row.get(0)?,
                    is_superuser: row.get(1)?,
                })
            })
            .optional()?)
    }

    pub fn load_rules(&mut self) -> Result<Vec<RuleRow>, DbError> {
        let mut stmt = self.conn.prepare_cached(&q(sql::LOAD_RULES))?;
        let rows = stmt.query_map([], |row| {
            Ok(RuleRow {
                id: row.get(0)?,
                who: row.get(1)?,
                name: row.get(2)?,
                action: row.get(3)?,
                topic: row.get(4)?,
                permission: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn write(&mut self, records: &[Record]) -> Result<(), DbError> {
        let tx = self.conn.transaction()?;
        {
            let mut connected = tx.prepare_cached(&q(sql::CLIENT_CONNECTED))?;
            let mut disconnected = tx.prepare_cached(&q(sql::CLIENT_DISCONNECTED))?;
            let mut history = tx.prepare_cached(&q(sql::HISTORY))?;
            let mut message = tx.prepare_cached(&q(sql::MESSAGE))?;
            for record in records {
                match record {
                    Record::Client(e) => {
                        client_row(e, &mut connected, &mut disconnected)?;
                        history.execute(params![
                            e.clientid,
                            e.username,
                            e.kind.name(),
                            e.node,
                            e.at,
                            e.peer,
                            e.protocol,
                            e.proto_ver,
                            e.reason
                        ])?;
                    }
                    Record::Message(m) => {
                        message.execute(params![
                            m.msgid,
                            m.topic,
                            m.qos,
                            m.payload,
                            m.publisher,
                            m.username,
                            m.retain,
                            m.published_at,
                            m.node
                        ])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn put_user(
        &mut self,
        username: &str,
        hash: &str,
        superuser: bool,
        now: i64,
    ) -> Result<(), DbError> {
        self.conn
            .execute(&q(sql::PUT_USER), params![username, hash, superuser, now])?;
        Ok(())
    }

    pub fn remove_user(&mut self, username: &str) -> Result<bool, DbError> {
        Ok(self.conn.execute(&q(sql::REMOVE_USER), [username])? > 0)
    }

    pub fn add_rule(&mut self, seq: i32, rule: &NewRule) -> Result<i64, DbError> {
        Ok(self.conn.query_row(
            &q(sql::ADD_RULE),
            params![
                seq,
                rule.who,
                rule.name,
                rule.action,
                rule.topic,
                rule.permission
            ],
            |row| row.get(0),
        )?)
    }

    pub fn remove_rule(&mut self, id: i64) -> Result<bool, DbError> {
        Ok(self.conn.execute(&q(sql::REMOVE_RULE), [id])? > 0)
    }

    pub fn query_text(&mut self, sql: &str) -> Result<TextRows, DbError> {
        let mut stmt = self.conn.prepare(sql)?;
        let columns: Vec<String> = stmt.column_names().map(String::from).collect();
        let width = columns.len();
        let mut rows = Vec::new();
        let mut cursor = stmt.query([])?;
        while let Some(row) = cursor.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => None,
                    ValueRef::Integer(n) => Some(n.to_string()),
                    ValueRef::Real(x) => Some(x.to_string()),
                    ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Some(super::hex_bytea(b)),
                });
            }
            rows.push(values);
        }
        Ok(TextRows { columns, rows })
    }
}

fn client_row(
    e: &ClientEvent,
    connected: &mut rusqlite::CachedStatement,
    disconnected: &mut rusqlite::CachedStatement,
) -> Result<(), DbError> {
    match e.kind {
        EventKind::Connected => connected.execute(params![
            e.clientid,
            e.username,
            e.node,
            e.peer,
            e.protocol,
            e.proto_ver,
            e.connected_at
        ])?,
        EventKind::Disconnected => {
            disconnected.execute(params![e.at, e.reason, e.clientid, e.node, e.connected_at])?
        }
    };
    Ok(())
}
