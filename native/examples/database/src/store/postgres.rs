//! PostgreSQL: one database that several broker nodes share (users, ACL
//! rules, who is online where). Batches are written with one transaction
//! each; history rows and messages go in by binary `COPY`, one round trip
//! per batch rather than one per row.

use super::{schema, sql, DbError, EventKind, NewRule, Record, TextRows, UserRow};
use crate::acl::RuleRow;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::Host;
use postgres::types::Type;
use postgres::{Client, NoTls, SimpleQueryMessage, Statement};
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
            connected: client.prepare_typed(
                sql::CLIENT_CONNECTED,
                &[
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT4,
                    Type::INT8,
                ],
            )?,
            disconnected: client.prepare_typed(
                sql::CLIENT_DISCONNECTED,
                &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8],
            )?,
            client,
        })
    }
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
        let mut history = 0;
        let mut messages = 0;
        for record in records {
            match record {
                Record::Client(e) => {
                    history += 1;
                    match e.kind {
                        EventKind::Connected => tx.execute(
                            &self.connected,
                            &[
                                &e.clientid,
                                &e.username,
                                &e.node,
                                &e.peer,
                                &e.protocol,
                                &e.proto_ver,
                                &e.connected_at,
                            ],
                        )?,
                        EventKind::Disconnected => tx.execute(
                            &self.disconnected,
                            &[&e.at, &e.reason, &e.clientid, &e.node, &e.connected_at],
                        )?,
                    };
                }
                Record::Message(_) => messages += 1,
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
