//! `exhook-db-bench [--quick]`: what the database example costs, printed
//! (never asserted): logins per second against SQLite (1 and 64 callers,
//! the default Argon2id cost and a cheap one, against the user lookup
//! alone as the baseline), the cost of one ACL check from the snapshot,
//! and sustained stored messages and connect/disconnect events per second
//! into SQLite and into PostgreSQL (a throwaway server started with
//! scripts/test-postgres.sh, fsync on).

use emqx_example_database::acl::{Action, Subject};
use emqx_example_database::password::{self, Cost};
use emqx_example_database::settings::{Location, Settings};
use emqx_example_database::store::{
    ClientEvent, Connection, Database, EventKind, NewRule, Record, StoredMessage,
};
use emqx_example_database::Service;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The writer's queue bound in these runs (the default `write_queue`).
const QUEUE: u64 = 100_000;

struct Scale {
    login_secs: f64,
    acl_checks: u64,
    messages: u64,
    events: u64,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick {
        Scale {
            login_secs: 0.3,
            acl_checks: 200_000,
            messages: 20_000,
            events: 5_000,
        }
    } else {
        Scale {
            login_secs: 3.0,
            acl_checks: 5_000_000,
            messages: 300_000,
            events: 50_000,
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "exhook-db-bench ({} run, {cores} cores)",
        if quick { "quick" } else { "full" }
    );
    let dir = std::env::temp_dir().join(format!("exhook-db-bench-{}", std::process::id()));
    let sqlite = Location::Sqlite(dir.join("bench.sqlite3"));

    logins(&sqlite, &scale);
    acl(&sqlite, &scale);
    println!("\n## Writes (batched by the writer thread; 64-byte payloads)\n");
    println!("| store | messages/s | connect+disconnect events/s |");
    println!("|---|---:|---:|");
    writes("SQLite (WAL, synchronous=NORMAL)", &sqlite, &scale);
    match PgServer::start() {
        Ok(server) => {
            let location = Location::Postgres(server.url());
            writes("PostgreSQL 15 (Unix socket, fsync on)", &location, &scale);
        }
        Err(e) => println!("| PostgreSQL | not measured: {e} | |"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn settings(location: &Location, extra: &[(&str, &str)]) -> Settings {
    let (key, value) = match location {
        Location::Sqlite(path) => ("database", path.display().to_string()),
        Location::Postgres(url) => ("database_url", url.clone()),
    };
    Settings::from_lookup(|k| {
        if k == key {
            Some(value.as_str())
        } else {
            extra.iter().find(|(name, _)| *name == k).map(|(_, v)| *v)
        }
    })
    .expect("bench settings")
}

fn connect(location: &Location) -> Connection {
    Database::new(location, Duration::from_secs(10))
        .and_then(|db| {
            db.connect(Duration::from_secs(10))
                .map_err(|e| e.to_string())
        })
        .expect("connect to the bench store")
}

/// Calls `op` from `threads` threads for `secs`; calls per second.
fn rate(threads: usize, secs: f64, op: impl Fn(u64) + Sync) -> f64 {
    let calls = AtomicU64::new(0);
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (calls, op) = (&calls, &op);
            s.spawn(move || {
                let mut i = t as u64;
                while Instant::now() < until {
                    op(i);
                    i += threads as u64;
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    calls.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn logins(location: &Location, scale: &Scale) {
    let cheap = Cost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let mut conn = connect(location);
    for (user, cost) in [("owasp", Cost::default()), ("device", cheap)] {
        let hash = password::hash(b"correct horse", cost).expect("hash");
        conn.put_user(user, &hash, false).expect("add user");
    }
    let service = Service::start(&settings(location, &[])).expect("service");
    let deadline = || Instant::now() + Duration::from_secs(30);
    println!("\n## Logins against SQLite (Argon2id verification dominates)\n");
    println!("| what | 1 caller /s | 64 callers /s | vs lookup only (1 caller) |");
    println!("|---|---:|---:|---:|");
    // A user whose stored hash does not parse is refused right after the
    // lookup: the database's share of a login.
    conn.put_user("lookup", "not-a-hash", false)
        .expect("add user");
    let lookup = |_| {
        black_box(service.login(Some("lookup"), Some(b"x"), deadline()).ok());
    };
    let base = rate(1, scale.login_secs, lookup);
    let base64 = rate(64, scale.login_secs, lookup);
    println!("| user lookup only (baseline) | {base:.0} | {base64:.0} | 1 |");
    for (user, label) in [
        ("owasp", "Argon2id m=19 MiB t=2 p=1 (default)"),
        ("device", "Argon2id m=1 MiB t=1 p=1 (device secrets)"),
    ] {
        let login = |_| {
            let r = service.login(Some(user), Some(b"correct horse"), deadline());
            assert_eq!(r, Ok(emqx_example_database::Login::Allow));
        };
        let one = rate(1, scale.login_secs, login);
        let many = rate(64, scale.login_secs, login);
        println!("| {label} | {one:.0} | {many:.0} | {:.4} |", one / base);
    }
    service.stop();
}

fn acl(location: &Location, scale: &Scale) {
    let mut conn = connect(location);
    // 2,000 rules: 20 for everyone, the rest for 1,000 users (2 each).
    for i in 0..20 {
        rule(&mut conn, "all", None, &format!("shared/{i}/+"), "allow");
    }
    for u in 0..1000 {
        let name = format!("user{u}");
        rule(&mut conn, "username", Some(&name), "users/%u/#", "allow");
        rule(&mut conn, "username", Some(&name), "admin/#", "deny");
    }
    let service = Service::start(&settings(location, &[])).expect("service");
    let subject = Subject {
        username: Some("user500"),
        clientid: "client-500",
    };
    let topics = [
        "users/user500/telemetry",
        "shared/7/x",
        "admin/reset",
        "nowhere/at/all",
    ];
    let time = |threads: usize| {
        let per_thread = scale.acl_checks / threads as u64;
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for i in 0..per_thread {
                        let topic = topics[(i % 4) as usize];
                        black_box(
                            service
                                .check_acl(&subject, Action::Publish, black_box(topic))
                                .ok(),
                        );
                    }
                });
            }
        });
        started.elapsed().as_nanos() as f64 / (per_thread * threads as u64) as f64
    };
    println!(
        "\n## ACL check from the snapshot ({} rules; 1 user's 2 + 20 for all)\n",
        service.acl_rules().unwrap_or(0)
    );
    println!("| callers | ns per check (wall / checks) |");
    println!("|---:|---:|");
    for threads in [1, 2] {
        println!("| {threads} | {:.0} |", time(threads));
    }
    service.stop();
}

fn rule(conn: &mut Connection, who: &str, name: Option<&str>, topic: &str, permission: &str) {
    let rule = NewRule {
        who: who.into(),
        name: name.map(Into::into),
        action: "pubsub".into(),
        topic: topic.into(),
        permission: permission.into(),
    };
    conn.add_rule(0, &rule).expect("add rule");
}

/// Records per second from the first queued to the last written.
fn sustained(service: &Service, records: impl Iterator<Item = Record>, n: u64) -> f64 {
    let before = service.write_stats().written;
    let started = Instant::now();
    for record in records {
        // A full queue drops; wait for room instead (one producer, so the
        // room seen is still there at the push).
        while service.write_stats().waiting >= QUEUE - 1 {
            std::thread::sleep(Duration::from_micros(200));
        }
        assert!(service.record(record), "queued");
    }
    while service.write_stats().written < before + n {
        std::thread::sleep(Duration::from_millis(1));
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn writes(label: &str, location: &Location, scale: &Scale) {
    let service = Service::start(&settings(location, &[])).expect("service");
    let payload = vec![b'x'; 64];
    let messages = (0..scale.messages).map(|i| {
        Record::Message(StoredMessage {
            msgid: format!("{i:032x}"),
            topic: format!("sensors/{}/temp", i % 1000),
            qos: 1,
            payload: payload.clone(),
            publisher: format!("client-{}", i % 1000),
            username: Some("bench".into()),
            retain: false,
            published_at: 1_795_654_384_903 + i as i64,
            node: "emqx@bench".into(),
        })
    });
    let msgs = sustained(&service, messages, scale.messages);
    let events = (0..scale.events).map(|i| {
        let client = i / 2;
        Record::Client(ClientEvent {
            kind: if i % 2 == 0 {
                EventKind::Connected
            } else {
                EventKind::Disconnected
            },
            clientid: format!("client-{client}"),
            username: Some("bench".into()),
            node: "emqx@bench".into(),
            peer: Some("127.0.0.1:40000".into()),
            protocol: Some("mqtt".into()),
            proto_ver: Some(4),
            connected_at: Some(1_795_654_384_903 + client as i64),
            at: 1_795_654_384_903 + i as i64,
            reason: (i % 2 == 1).then(|| "normal".into()),
        })
    });
    let evs = sustained(&service, events, scale.events);
    println!("| {label} | {msgs:.0} | {evs:.0} |");
    service.stop();
}

/// A PostgreSQL server for this run, removed on drop.
struct PgServer {
    dir: String,
}

impl PgServer {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/test-postgres.sh")
    }

    fn start() -> Result<PgServer, String> {
        let out = Command::new(Self::script())
            .args(["new", "--durable"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(PgServer {
            dir: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }

    fn url(&self) -> String {
        format!("host={} user=postgres dbname=postgres", self.dir)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["remove", &self.dir])
            .status();
    }
}
