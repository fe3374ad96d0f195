//! Real stores for the tests: an SQLite file in a fresh directory, or a
//! database of its own on a PostgreSQL server that this test process
//! starts (scripts/test-postgres.sh) and stops when it exits.

#![allow(dead_code)]

use emqx_example_database::settings::{Location, Settings};
use emqx_example_database::store::{Connection, Database};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/test-postgres.sh")
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("scripts/test-postgres.sh runs");
    assert!(
        out.status.success(),
        "test-postgres.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A PostgreSQL server of this test process; removed on drop.
pub struct PgServer {
    pub dir: String,
}

impl PgServer {
    pub fn start() -> PgServer {
        PgServer {
            dir: run_script(&["new"]),
        }
    }

    pub fn url(&self, dbname: &str) -> String {
        format!("host={} user=postgres dbname={dbname}", self.dir)
    }

    /// A new, empty database on this server; its connection string.
    pub fn new_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test server");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        self.url(&name)
    }

    pub fn stop(&self) {
        run_script(&["stop", &self.dir]);
    }

    pub fn resume(&self) {
        run_script(&["start", &self.dir]);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["remove", &self.dir]).status();
    }
}

static SHARED: OnceLock<PgServer> = OnceLock::new();

extern "C" fn remove_shared_server() {
    if let Some(server) = SHARED.get() {
        let _ = Command::new(script())
            .args(["remove", &server.dir])
            .status();
    }
}

/// The server the tests of this process share, started on first use and
/// removed when the process exits (statics are never dropped).
pub fn shared_server() -> &'static PgServer {
    SHARED.get_or_init(|| {
        let server = PgServer::start();
        // SAFETY: registers a plain extern "C" function with no arguments.
        unsafe { libc::atexit(remove_shared_server) };
        server
    })
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "exhook-db-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty store of the given kind, and what keeps it alive.
pub struct Store {
    pub location: Location,
    _dir: Option<TempDir>,
}

impl Store {
    pub fn new(backend: Backend) -> Store {
        match backend {
            Backend::Sqlite => {
                let dir = TempDir::new();
                Store {
                    location: Location::Sqlite(dir.0.join("data").join("test.sqlite3")),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => Store {
                location: Location::Postgres(shared_server().new_database()),
                _dir: None,
            },
        }
    }

    pub fn on(server: &PgServer) -> Store {
        Store {
            location: Location::Postgres(server.new_database()),
            _dir: None,
        }
    }

    /// Handler settings for this store plus `extra` keys.
    pub fn settings(&self, extra: &[(&str, &str)]) -> Settings {
        let (key, value) = match &self.location {
            Location::Sqlite(path) => ("database", path.display().to_string()),
            Location::Postgres(url) => ("database_url", url.clone()),
        };
        let mut pairs: Vec<(String, String)> = vec![(key.into(), value)];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::from_lookup(|k| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        })
        .expect("valid settings")
    }

    pub fn connect(&self) -> Connection {
        Database::new(&self.location, Duration::from_secs(5))
            .unwrap()
            .connect(Duration::from_secs(5))
            .expect("connect to the test store")
    }

    /// `sql`'s rows, each value as text.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.connect().query_text(sql).expect("query").rows
    }

    /// `sql`'s single integer.
    pub fn count(&self, sql: &str) -> i64 {
        let rows = self.rows(sql);
        rows[0][0].as_deref().unwrap().parse().unwrap()
    }
}

/// Waits (up to 20 s) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a test body once per backend.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite)
                }
                #[test]
                fn postgres() {
                    super::$name($crate::common::Backend::Postgres)
                }
            }
        )*
    };
}
