//! The handler's settings, read from the driver's `Config`
//! (`exhook.drivers.NAME.handler.KEY = VALUE` in the plugin's conf).
//! README.md lists every key with its default.

use crate::acl::NoMatch;
use std::path::PathBuf;
use std::time::Duration;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (relative paths from the node's working directory).
    Sqlite(PathBuf),
    /// A PostgreSQL connection string: a URL or `key=value` pairs.
    Postgres(String),
}

/// Everything the handler reads from its config, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub location: Location,
    /// This broker node's name, written with every online row and event.
    pub node: String,
    /// Database connections the handler keeps open at most.
    pub connections: usize,
    /// How long one operation may wait to connect, or for a lock.
    pub db_timeout: Duration,
    /// How often the ACL snapshot is reloaded from the rules table.
    pub acl_refresh: Duration,
    /// The answer when no ACL rule matches.
    pub acl_nomatch: NoMatch,
    /// Topic filters whose messages are stored; none by default.
    pub store_topics: Vec<String>,
    /// Records written per transaction at most.
    pub batch_size: usize,
    /// How long a record may wait for its batch to fill.
    pub batch_interval: Duration,
    /// Records waiting to be written (queued or being written) at most.
    pub write_queue: usize,
    /// Bytes of waiting records at most.
    pub write_queue_bytes: usize,
    /// How long `deinit` keeps trying to write what is queued.
    pub flush_timeout: Duration,
    /// At most one database error report per this interval.
    pub error_log_interval: Duration,
}

/// The SQLite file used when neither `database` nor `database_url` is set.
pub const DEFAULT_DATABASE: &str = "data/exhook_database.sqlite3";

impl Settings {
    /// Settings from `get(KEY)`; an unknown value is an error naming the key.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Settings, String> {
        let text = |key: &str| get(key).map(str::trim).filter(|v| !v.is_empty());
        let location = match (text("database_url"), text("database")) {
            (Some(url), _) => Location::Postgres(url.to_string()),
            (None, Some(path)) => Location::Sqlite(PathBuf::from(path)),
            (None, None) => Location::Sqlite(PathBuf::from(DEFAULT_DATABASE)),
        };
        let duration = |key: &str, default: Duration| match text(key) {
            None => Ok(default),
            Some(v) => parse_duration(v).ok_or_else(|| invalid(key, v, "a duration (5s, 200ms)")),
        };
        let count = |key: &str, default: usize| match text(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(key, v, "a positive integer")),
        };
        let acl_nomatch = match text("acl_nomatch") {
            None => NoMatch::Ignore,
            Some("ignore") => NoMatch::Ignore,
            Some("allow") => NoMatch::Allow,
            Some("deny") => NoMatch::Deny,
            Some(v) => return Err(invalid("acl_nomatch", v, "ignore, allow or deny")),
        };
        let store_topics = text("store_topics")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Settings {
            location,
            node: text("node").map_or_else(default_node, String::from),
            connections: count("connections", 4)?,
            db_timeout: duration("db_timeout", Duration::from_secs(2))?,
            acl_refresh: duration("acl_refresh", Duration::from_secs(5))?,
            acl_nomatch,
            store_topics,
            batch_size: count("batch_size", 500)?,
            batch_interval: duration("batch_interval", Duration::from_millis(100))?,
            write_queue: count("write_queue", 100_000)?,
            write_queue_bytes: count("write_queue_bytes", 64 << 20)?,
            flush_timeout: duration("flush_timeout", Duration::from_secs(5))?,
            error_log_interval: duration("error_log_interval", Duration::from_secs(10))?,
        })
    }
}

impl Settings {
    /// Where the data lives, for logs: never the connection string, which
    /// may hold a password.
    pub fn location_text(&self) -> String {
        match &self.location {
            Location::Sqlite(path) => format!("SQLite {}", path.display()),
            Location::Postgres(_) => "PostgreSQL (database_url)".into(),
        }
    }
}

fn invalid(key: &str, value: &str, expected: &str) -> String {
    format!("setting {key} = {value:?}: expected {expected}")
}

/// `250ms`, `5s`, `2m`, `1h`, or a bare number of milliseconds (what
/// cuttlefish's duration type produces).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n.checked_mul(1_000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// The host's name, for a handler run outside the plugin (which passes the
/// broker's node name as `node`): it tells machines apart.
fn default_node() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::from_lookup(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v))
    }

    #[test]
    fn defaults_use_an_sqlite_file_under_data() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.location, Location::Sqlite(DEFAULT_DATABASE.into()));
        assert!(s.store_topics.is_empty());
        assert_eq!(s.acl_refresh, Duration::from_secs(5));
        assert_eq!(s.acl_nomatch, NoMatch::Ignore);
    }

    #[test]
    fn database_url_selects_postgres_over_a_file() {
        let s = settings(&[("database", "x.db"), ("database_url", "host=/tmp")]).unwrap();
        assert_eq!(s.location, Location::Postgres("host=/tmp".into()));
    }

    #[test]
    fn values_are_parsed_and_bad_ones_name_their_key() {
        let s = settings(&[
            ("store_topics", "sensors/#, alerts/+ ,,"),
            ("acl_refresh", "250ms"),
            ("batch_size", "64"),
            ("flush_timeout", "3000"),
            ("node", "emqx@a"),
        ])
        .unwrap();
        assert_eq!(s.store_topics, vec!["sensors/#", "alerts/+"]);
        assert_eq!(s.acl_refresh, Duration::from_millis(250));
        assert_eq!(s.batch_size, 64);
        assert_eq!(s.flush_timeout, Duration::from_secs(3));
        assert_eq!(s.node, "emqx@a");
        let e = settings(&[("batch_size", "0")]).unwrap_err();
        assert!(e.contains("batch_size"), "{e}");
        let e = settings(&[("acl_refresh", "soon")]).unwrap_err();
        assert!(e.contains("acl_refresh"), "{e}");
        assert!(settings(&[("acl_nomatch", "maybe")]).is_err());
    }

    #[test]
    fn durations_take_units_or_milliseconds() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
    }
}
