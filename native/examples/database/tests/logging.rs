//! What the handler logs while its database is down: one line per
//! interval, however many logins fail, and never a password. A process of
//! its own: the logger is global. Only the handler's own records are
//! checked: tokio-postgres logs every statement's parameters at debug
//! level (target `tokio_postgres::query`), which the broker's logger must
//! keep out (README, "Logging").

mod common;

use common::{PgServer, Store};
use emqx_example_database::password::{self, Cost};
use emqx_example_database::{Login, Service};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("emqx_example_database") {
            let line = record.args().to_string();
            self.0.lock().unwrap().push((record.level(), line));
        }
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture(Mutex::new(Vec::new()));

fn lines(level: log::Level, containing: &str) -> usize {
    let log = LOG.0.lock().unwrap();
    log.iter()
        .filter(|(l, text)| *l == level && text.contains(containing))
        .count()
}

#[test]
fn an_outage_is_logged_once_per_interval_without_passwords() {
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let server = PgServer::start();
    let store = Store::on(&server);
    let cheap = Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let hash = password::hash(b"wonderland", cheap).unwrap();
    store.connect().put_user("alice", &hash, false).unwrap();
    let service =
        Service::start(&store.settings(&[("error_log_interval", "1h"), ("db_timeout", "300ms")]))
            .unwrap();
    let login = || {
        service.login(
            Some("alice"),
            Some(b"wonderland"),
            Instant::now() + Duration::from_secs(5),
        )
    };
    assert_eq!(login(), Ok(Login::Allow));

    server.stop();
    for _ in 0..50 {
        assert!(login().is_err());
    }
    assert_eq!(
        lines(log::Level::Error, "unavailable"),
        1,
        "{:?}",
        LOG.0.lock().unwrap()
    );
    server.resume();
    std::thread::sleep(Duration::from_millis(600)); // past the connect pause
    assert_eq!(login(), Ok(Login::Allow));
    assert_eq!(lines(log::Level::Warn, "available again"), 1);
    service.stop();

    let log = LOG.0.lock().unwrap();
    assert!(!log.is_empty());
    for (_, line) in log.iter() {
        assert!(
            !line.contains("wonderland"),
            "a password in the log: {line}"
        );
        assert!(!line.contains("$argon2"), "a hash in the log: {line}");
    }
}
