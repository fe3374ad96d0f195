//! PostgreSQL: one database that several broker nodes share (users, ACL
//! rules, who is online where). Batches are written with one transaction
//! each, in a few round trips rather than one per row: history rows and
//! messages by binary `COPY`, the clients' rows by statements over arrays
//! (`unnest`), in rounds that hold each clientid at most once, so that one
//! client's events still apply in order.

use super::{schema, sql, ClientEvent, DbError, EventKind, NewRule, Record, TextRows, UserRow};
use crate::acl::RuleRow;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::Host;
use postgres::types::Type;
use postgres::{Client, NoTls, SimpleQueryMessage, Statement};
use std::collections::HashMap;
use std::time::Duration;

pub struct Postgres {
    config: postgres::Config,
    op_timeout: Duration,
}

pub struct Conn {
    client: Client,
    find_user: Statement,
    load_rules: Statement,
    connected: Statement,
    disconnected: Statement,
}

/// Serialises schema creation between nodes that start together.
const SCHEMA_LOCK: i64 = 0x6578_686f_6f6b_6462; // "exhookdb"

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        // Class 22 (data exception) and 23 (integrity constraint) refuse
        // the data; anything else (I/O, shutdown, too many connections, a
        // dropped table that the next connection re-creates) may pass.
        let refused_data = e
            .code()
            .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
        let message = match e.as_db_error() {
            Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
            None => format!("PostgreSQL: {e}"),
        };
        if refused_data {
            DbError::permanent(message)
        } else {
            DbError::transient(message)
        }
    }
}

impl Postgres {
    pub fn new(url: &str, op_timeout: Duration) -> Result<Postgres, String> {
        // The parse error never echoes the string, which may hold a password.
        let config: postgres::Config = url
            .parse()
            .map_err(|e| format!("database_url does not parse: {e}"))?;
        Ok(Postgres { config, op_timeout })
    }

    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!(
            "PostgreSQL database {} on {}",
            self.config.get_dbname().unwrap_or("(default)"),
            if hosts.is_empty() {
                "localhost".into()
            } else {
                hosts.join(",")
            }
        )
    }

    pub fn connect(&self, timeout: Duration) -> Result<Conn, DbError> {
        let mut config = self.config.clone();
        config.connect_timeout(timeout.max(Duration::from_millis(1)));
        if config.get_application_name().is_none() {
            config.application_name("emqx_example_database");
        }
        let mut client = config.connect(NoTls)?;
        // A statement stuck behind a lock gives up like a connect does.
        client.batch_execute(&format!(
            "SET statement_timeout = {}",
            self.op_timeout.as_millis().max(1)
        ))?;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        tx.batch_execute(&schema("BIGSERIAL PRIMARY KEY", "BYTEA"))?;
        tx.commit()?;
        Ok(Conn {
            find_user: client.prepare(sql::FIND_USER)?,
            load_rules: client.prepare(sql::LOAD_RULES)?,
            connected: client.prepare(CONNECTED_MANY)?,
            disconnected: client.prepare(DISCONNECTED_MANY)?,
            client,
        })
    }
}

/// `sql::CLIENT_CONNECTED` for many clients, each at most once.
const CONNECTED_MANY: &str = concat!(
    "
INSERT INTO mqtt_clients
    (clientid, username, online, node, peer, protocol, proto_ver, connected_at)
SELECT clientid, username, TRUE, node, peer, protocol, proto_ver, connected_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int8[])
    AS t (clientid, username, node, peer, protocol, proto_ver, connected_at)
",
    sql::connected_wins!()
);

/// `sql::CLIENT_DISCONNECTED` for many clients, each at most once.
const DISCONNECTED_MANY: &str = "
UPDATE mqtt_clients AS c
SET online = FALSE, disconnected_at = t.at, disconnect_reason = t.reason
FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[])
    AS t (at, reason, clientid, node, connected_at)
WHERE c.clientid = t.clientid AND c.node = t.node
  AND c.connected_at IS NOT DISTINCT FROM t.connected_at";

/// The client events in rounds: the n-th event of each clientid goes to
/// round n, so a round names each client once and the rounds, applied in
/// turn, keep every client's order.
fn rounds<'a>(events: impl Iterator<Item = &'a ClientEvent>) -> Vec<Vec<&'a ClientEvent>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rounds: Vec<Vec<&ClientEvent>> = Vec::new();
    for e in events {
        let n = seen.entry(e.clientid.as_str()).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(e);
        *n += 1;
    }
    rounds
}

const HISTORY_COPY: &str = "COPY mqtt_client_history \
    (clientid, username, event, node, at, peer, protocol, proto_ver, reason) FROM STDIN BINARY";
const HISTORY_TYPES: [Type; 9] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
];
const MESSAGE_COPY: &str = "COPY mqtt_messages \
    (msgid, topic, qos, payload, publisher, username, retain, published_at, node) FROM STDIN BINARY";
const MESSAGE_TYPES: [Type; 9] = [
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::INT8,
    Type::TEXT,
];

impl Conn {
    pub fn is_broken(&self) -> bool {
        self.client.is_closed()
    }

    pub fn find_user(&mut self, username: &str) -> Result<Option<UserRow>, DbError> {
        let row = self.client.query_opt(&self.find_user, &[&username])?;
        Ok(match row {
            Some(row) => Some(UserRow {
                password_hash: row.try_get(0)?,
                is_superuser: row.try_get(1)?,
            }),
            None => None,
        })
    }

    pub fn load_rules(&mut self) -> Result<Vec<RuleRow>, DbError> {
        let rows = self.client.query(&self.load_rules, &[])?;
        rows.iter()
            .map(|row| {
                Ok(RuleRow {
                    id: row.try_get(0)?,
                    who: row.try_get(1)?,
                    name: row.try_get(2)?,
                    action: row.try_get(3)?,
                    topic: row.try_get(4)?,
                    permission: row.try_get(5)?,
                })
            })
            .collect()
    }

    pub fn write(&mut self, records: &[Record]) -> Result<(), DbError> {
        let mut tx = self.client.transaction()?;
        let events = records.iter().filter_map(|r| match r {
            Record::Client(e) => Some(e),
            Record::Message(_) => None,
        });
        let history = events.clone().count();
        let messages = records.len() - history;
        for round in rounds(events) {
            let (on, off): (Vec<&ClientEvent>, Vec<&ClientEvent>) = round
                .into_iter()
                .partition(|e| e.kind == EventKind::Connected);
            if !on.is_empty() {
                tx.execute(
                    &self.connected,
                    &[
                        &on.iter().map(|e| e.clientid.as_str()).collect::<Vec<_>>(),
                        &on.iter().map(|e| e.username.as_deref()).collect::<Vec<_>>(),
                        &on.iter().map(|e| e.node.as_str()).collect::<Vec<_>>(),
                        &on.iter().map(|e| e.peer.as_deref()).collect::<Vec<_>>(),
                        &on.iter().map(|e| e.protocol.as_deref()).collect::<Vec<_>>(),
                        &on.iter().map(|e| e.proto_ver).collect::<Vec<_>>(),
                        &on.iter().map(|e| e.connected_at).collect::<Vec<_>>(),
                    ],
                )?;
            }
            if !off.is_empty() {
                tx.execute(
                    &self.disconnected,
                    &[
                        &off.iter().map(|e| e.at).collect::<Vec<_>>(),
                        &off.iter().map(|e| e.reason.as_deref()).collect::<Vec<_>>(),
                        &off.iter().map(|e| e.clientid.as_str()).collect::<Vec<_>>(),
                        &off.iter().map(|e| e.node.as_str()).collect::<Vec<_>>(),
                        &off.iter().map(|e| e.connected_at).collect::<Vec<_>>(),
                    ],
                )?;
            }
        }
        if history > 0 {
            let mut copy = BinaryCopyInWriter::new(tx.copy_in(HISTORY_COPY)?, &HISTORY_TYPES);
            for record in records {
                if let Record::Client(e) = record {
                    copy.write(&[
                        &e.clientid,
                        &e.username,
                        &e.kind.name(),
                        &e.node,
                        &e.at,
                        &e.peer,
                        &e.protocol,
                        &e.proto_ver,
                        &e.reason,
                    ])?;
                }
            }
            copy.finish()?;
        }
        if messages > 0 {
            let mut copy = BinaryCopyInWriter::new(tx.copy_in(MESSAGE_COPY)?, &MESSAGE_TYPES);
            for record in records {
                if let Record::Message(m) = record {
                    copy.write(&[
                        &m.msgid,
                        &m.topic,
                        &m.qos,
                        &m.payload,
                        &m.publisher,
                        &m.username,
                        &m.retain,
                        &m.published_at,
                        &m.node,
                    ])?;
                }
            }
            copy.finish()?;
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
        self.client
            .execute(sql::PUT_USER, &[&username, &hash, &superuser, &now])?;
        Ok(())
    }

    pub fn remove_user(&mut self, username: &str) -> Result<bool, DbError> {
        Ok(self.client.execute(sql::REMOVE_USER, &[&username])? > 0)
    }

    pub fn add_rule(&mut self, seq: i32, rule: &NewRule) -> Result<i64, DbError> {
        let row = self.client.query_one(
            sql::ADD_RULE,
            &[
                &seq,
                &rule.who,
                &rule.name,
                &rule.action,
                &rule.topic,
                &rule.permission,
            ],
        )?;
        Ok(row.try_get(0)?)
    }

    pub fn remove_rule(&mut self, id: i64) -> Result<bool, DbError> {
        Ok(self.client.execute(sql::REMOVE_RULE, &[&id])? > 0)
    }

    pub fn query_text(&mut self, sql: &str) -> Result<TextRows, DbError> {
        let mut out = TextRows::default();
        for message in self.client.simple_query(sql)? {
            match message {
                SimpleQueryMessage::RowDescription(columns) if out.columns.is_empty() => {
                    out.columns = columns.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => {
                    out.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(String::from))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        Ok(out)
    }
}
