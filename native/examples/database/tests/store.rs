//! The handler's service on real stores: every behaviour on SQLite and on
//! a PostgreSQL server this process starts; outages by stopping that
//! server (PostgreSQL) or by another connection holding the file's locks
//! (SQLite).

mod common;

use common::{wait_until, Backend, PgServer, Store};
use emqx_example_database::acl::{Action, Subject, Verdict};
use emqx_example_database::password::{self, Cost};
use emqx_example_database::store::{ClientEvent, EventKind, NewRule, Record, StoredMessage};
use emqx_example_database::{Login, Service};
use std::time::{Duration, Instant};

const CHEAP: Cost = Cost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn add_user(store: &Store, username: &str, password: &str, superuser: bool) {
    let hash = password::hash(password.as_bytes(), CHEAP).unwrap();
    store
        .connect()
        .put_user(username, &hash, superuser)
        .unwrap();
}

fn add_rule(store: &Store, seq: i32, who: &str, action: &str, topic: &str, permission: &str) {
    let (who, name) = match who.split_once(':') {
        Some((kind, name)) => (kind.to_string(), Some(name.to_string())),
        None => (who.to_string(), None),
    };
    let rule = NewRule {
        who,
        name,
        action: action.into(),
        topic: topic.into(),
        permission: permission.into(),
    };
    store.connect().add_rule(seq, &rule).unwrap();
}

fn message(topic: &str, payload: &[u8]) -> Record {
    Record::Message(StoredMessage {
        msgid: "0006a1".into(),
        topic: topic.into(),
        qos: 1,
        payload: payload.to_vec(),
        publisher: "pubA".into(),
        username: Some("good".into()),
        retain: true,
        published_at: 1_795_654_384_903,
        node: "emqx@a".into(),
    })
}

fn event(kind: EventKind, node: &str, connected_at: i64, at: i64, reason: Option<&str>) -> Record {
    Record::Client(ClientEvent {
        kind,
        clientid: "subA".into(),
        username: Some("good".into()),
        node: node.into(),
        peer: Some("127.0.0.1:33870".into()),
        protocol: Some("mqtt".into()),
        proto_ver: Some(4),
        connected_at: Some(connected_at),
        at,
        reason: reason.map(Into::into),
    })
}

/// Flushes quickly: small batches, short waits.
const FAST: &[(&str, &str)] = &[("batch_interval", "10ms"), ("db_timeout", "1s")];

fn written(service: &Service, n: u64) {
    wait_until(&format!("{n} records written"), || {
        service.write_stats().written >= n
    });
}

on_both_stores!(
    users_log_in_with_their_own_password_only,
    acl_rules_apply_in_table_order_and_refresh,
    online_row_follows_the_newest_connection_through_a_takeover,
    messages_are_stored_with_every_field,
    a_refused_record_is_dropped_and_counted_and_the_rest_written,
    stop_writes_what_is_queued,
    writes_wait_while_the_database_is_unavailable_and_overflow_is_counted,
    schema_creation_is_idempotent_under_concurrent_connects,
);

fn users_log_in_with_their_own_password_only(backend: Backend) {
    let store = Store::new(backend);
    let service = Service::start(&store.settings(FAST)).unwrap();
    add_user(&store, "alice", "wonderland", false);
    add_user(&store, "root", "t0ps3cret", true);
    let login = |u: Option<&str>, p: Option<&str>| {
        service
            .login(u, p.map(str::as_bytes), soon())
            .expect("decided")
    };
    assert_eq!(login(Some("alice"), Some("wonderland")), Login::Allow);
    assert_eq!(login(Some("alice"), Some("Wonderland")), Login::Deny);
    assert_eq!(login(Some("alice"), Some("")), Login::Deny);
    assert_eq!(login(Some("alice"), None), Login::Deny);
    assert_eq!(
        login(Some("root"), Some("t0ps3cret")),
        Login::AllowSuperuser
    );
    assert_eq!(login(Some("mallory"), Some("wonderland")), Login::Deny);
    assert_eq!(login(None, Some("wonderland")), Login::Deny);
    // A new password replaces the old one at once (no cache).
    add_user(&store, "alice", "looking-glass", false);
    assert_eq!(login(Some("alice"), Some("wonderland")), Login::Deny);
    assert_eq!(login(Some("alice"), Some("looking-glass")), Login::Allow);
    // A row whose hash is not Argon2id is refused, not trusted.
    store
        .connect()
        .put_user("plain", "wonderland", false)
        .unwrap();
    assert_eq!(login(Some("plain"), Some("wonderland")), Login::Deny);
}

fn acl_rules_apply_in_table_order_and_refresh(backend: Backend) {
    let store = Store::new(backend);
    add_rule(&store, 0, "all", "pubsub", "users/%u/#", "allow");
    add_rule(
        &store,
        0,
        "clientid:sensor-1",
        "publish",
        "sensors/%c/#",
        "allow",
    );
    add_rule(&store, 0, "all", "subscribe", "eq #", "deny");
    add_rule(&store, 0, "username:alice", "publish", "users/#", "deny");
    let service = Service::start(&store.settings(FAST)).unwrap();
    assert_eq!(service.acl_rules(), Some(4));
    let alice = Subject {
        username: Some("alice"),
        clientid: "c1",
    };
    let sensor = Subject {
        username: None,
        clientid: "sensor-1",
    };
    let check = |s: &Subject, a, t| service.check_acl(s, a, t).unwrap();
    assert_eq!(
        check(&alice, Action::Publish, "users/alice/x"),
        Verdict::Allow
    );
    assert_eq!(check(&alice, Action::Publish, "users/bob/x"), Verdict::Deny);
    assert_eq!(check(&alice, Action::Subscribe, "#"), Verdict::Deny);
    assert_eq!(
        check(&alice, Action::Subscribe, "public/#"),
        Verdict::Ignore
    );
    assert_eq!(
        check(&sensor, Action::Publish, "sensors/sensor-1/t"),
        Verdict::Allow
    );
    assert_eq!(
        check(&sensor, Action::Publish, "sensors/sensor-2/t"),
        Verdict::Ignore
    );
    // A rule with a lower seq goes first, once the snapshot is refreshed.
    add_rule(
        &store,
        -1,
        "username:alice",
        "publish",
        "users/alice/private",
        "deny",
    );
    assert_eq!(
        check(&alice, Action::Publish, "users/alice/private"),
        Verdict::Allow
    );
    service.refresh_acl();
    assert_eq!(
        check(&alice, Action::Publish, "users/alice/private"),
        Verdict::Deny
    );
    assert_eq!(
        check(&alice, Action::Publish, "users/alice/x"),
        Verdict::Allow
    );
}

fn online_row_follows_the_newest_connection_through_a_takeover(backend: Backend) {
    let store = Store::new(backend);
    let service = Service::start(&store.settings(FAST)).unwrap();
    let (t1, t2) = (1_000_000, 2_000_000);
    // Connected on node a; taken over by a connection on node b; the old
    // connection's disconnect arrives after the new connect, and so does a
    // stray copy of the old connect: neither may touch the new row.
    for record in [
        event(EventKind::Connected, "emqx@a", t1, t1, None),
        event(EventKind::Connected, "emqx@b", t2, t2, None),
        event(
            EventKind::Disconnected,
            "emqx@a",
            t1,
            t2 + 5,
            Some("takeovered"),
        ),
        event(EventKind::Connected, "emqx@a", t1, t1, None),
    ] {
        assert!(service.record(record));
    }
    written(&service, 4);
    let row = "SELECT CAST(online AS INTEGER), node, connected_at, disconnected_at, \
               disconnect_reason, peer, protocol, proto_ver, username \
               FROM mqtt_clients WHERE clientid = 'subA'";
    let text = |v: &[&str]| {
        v.iter()
            .map(|s| (!s.is_empty()).then(|| s.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        store.rows(row),
        vec![text(&[
            "1",
            "emqx@b",
            "2000000",
            "",
            "",
            "127.0.0.1:33870",
            "mqtt",
            "4",
            "good"
        ])]
    );
    assert!(service.record(event(
        EventKind::Disconnected,
        "emqx@b",
        t2,
        t2 + 9,
        Some("normal")
    )));
    written(&service, 5);
    assert_eq!(
        store.rows(row),
        vec![text(&[
            "0",
            "emqx@b",
            "2000000",
            "2000009",
            "normal",
            "127.0.0.1:33870",
            "mqtt",
            "4",
            "good"
        ])]
    );
    let history = store.rows(
        "SELECT event, node, at, reason FROM mqtt_client_history WHERE clientid = 'subA' ORDER BY id",
    );
    assert_eq!(
        history,
        vec![
            text(&["connected", "emqx@a", "1000000", ""]),
            text(&["connected", "emqx@b", "2000000", ""]),
            text(&["disconnected", "emqx@a", "2000005", "takeovered"]),
            text(&["connected", "emqx@a", "1000000", ""]),
            text(&["disconnected", "emqx@b", "2000009", "normal"]),
        ]
    );
}

fn messages_are_stored_with_every_field(backend: Backend) {
    let store = Store::new(backend);
    let service = Service::start(&store.settings(FAST)).unwrap();
    let binary: Vec<u8> = (0..=255).collect();
    assert!(service.record(message("sensors/1/temp", b"21.5")));
    assert!(service.record(message("sensors/1/raw", &binary)));
    written(&service, 2);
    let rows = store.rows(
        "SELECT msgid, topic, qos, payload, publisher, username, CAST(retain AS INTEGER), \
         published_at, node FROM mqtt_messages ORDER BY id",
    );
    let hex: String = binary.iter().map(|b| format!("{b:02x}")).collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        vec![
            some("0006a1"),
            some("sensors/1/temp"),
            some("1"),
            some("\\x32312e35"),
            some("pubA"),
            some("good"),
            some("1"),
            some("1795654384903"),
            some("emqx@a"),
        ]
    );
    assert_eq!(rows[1][3], Some(format!("\\x{hex}")));
}

fn a_refused_record_is_dropped_and_counted_and_the_rest_written(backend: Backend) {
    let store = Store::new(backend);
    let service =
        Service::start(&store.settings(&[("batch_interval", "200ms"), ("batch_size", "10")]))
            .unwrap();
    let refuse = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON mqtt_messages \
             WHEN NEW.topic = 'bad' BEGIN SELECT RAISE(ABORT, 'bad topic'); END"
        }
        Backend::Postgres => {
            "ALTER TABLE mqtt_messages ADD CONSTRAINT refuse_bad CHECK (topic <> 'bad')"
        }
    };
    store.connect().query_text(refuse).unwrap();
    for topic in ["good/1", "bad", "good/2"] {
        assert!(service.record(message(topic, b"x")));
    }
    wait_until("the batch is settled", || {
        let s = service.write_stats();
        s.written + s.dropped() == 3
    });
    let stats = service.write_stats();
    assert_eq!((stats.written, stats.dropped_refused), (2, 1));
    assert_eq!(
        store.rows("SELECT topic FROM mqtt_messages ORDER BY id"),
        vec![vec![Some("good/1".into())], vec![Some("good/2".into())]]
    );
}

fn stop_writes_what_is_queued(backend: Backend) {
    let store = Store::new(backend);
    // Batches would wait an hour to fill: only stop() writes them.
    let service =
        Service::start(&store.settings(&[("batch_interval", "1h"), ("batch_size", "1000")]))
            .unwrap();
    for i in 0..10 {
        assert!(service.record(message(&format!("t/{i}"), b"x")));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(service.write_stats().written, 0);
    service.stop();
    assert_eq!(service.write_stats().written, 10);
    assert_eq!(store.count("SELECT COUNT(*) FROM mqtt_messages"), 10);
    // After stop nothing is queued; it is counted.
    assert!(!service.record(message("late", b"x")));
    assert_eq!(service.write_stats().dropped_at_stop, 1);
}

/// What makes a store unavailable for a while.
enum Outage {
    /// The PostgreSQL server is stopped.
    Server(PgServer),
    /// Another connection holds the SQLite file's write lock (a backup,
    /// a shell left in a transaction): writes wait, reads go on (WAL).
    Lock(rusqlite::Connection),
}

fn outage_store(backend: Backend) -> (Store, Option<PgServer>) {
    match backend {
        Backend::Sqlite => (Store::new(backend), None),
        Backend::Postgres => {
            let server = PgServer::start();
            (Store::on(&server), Some(server))
        }
    }
}

fn begin_outage(store: &Store, server: Option<PgServer>) -> Outage {
    match server {
        Some(server) => {
            server.stop();
            Outage::Server(server)
        }
        None => {
            let emqx_example_database::settings::Location::Sqlite(path) = &store.location else {
                unreachable!()
            };
            let holder = rusqlite::Connection::open(path).unwrap();
            holder.busy_timeout(Duration::from_secs(5)).unwrap();
            holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
            Outage::Lock(holder)
        }
    }
}

fn end_outage(outage: Outage) -> Option<PgServer> {
    match outage {
        Outage::Server(server) => {
            server.resume();
            Some(server)
        }
        Outage::Lock(holder) => {
            drop(holder);
            None
        }
    }
}

fn writes_wait_while_the_database_is_unavailable_and_overflow_is_counted(backend: Backend) {
    let (store, server) = outage_store(backend);
    add_user(&store, "alice", "wonderland", false);
    let service = Service::start(&store.settings(&[
        ("batch_interval", "10ms"),
        ("batch_size", "20"),
        ("write_queue", "50"),
        ("db_timeout", "300ms"),
        ("error_log_interval", "1h"),
    ]))
    .unwrap();
    assert!(service.record(message("before", b"x")));
    written(&service, 1);
    let outage = begin_outage(&store, server);

    let login = service.login(Some("alice"), Some(b"wonderland"), soon());
    match backend {
        // Logins cannot be decided: the broker applies the failure policy.
        Backend::Postgres => assert!(login.is_err(), "{login:?}"),
        // A write lock leaves readers alone: logins are still decided.
        Backend::Sqlite => assert_eq!(login, Ok(Login::Allow)),
    }
    // Records queue up to the bound (the batch in hand counts), then drop.
    let accepted = (0..80)
        .filter(|i| service.record(message(&format!("during/{i}"), b"x")))
        .count();
    assert_eq!(accepted, 50);
    wait_until("a write failed", || service.write_stats().failed_writes > 0);
    let stats = service.write_stats();
    assert_eq!(
        (stats.waiting, stats.dropped_queue_full, stats.written),
        (50, 30, 1)
    );
    assert!(service.database_down());
    // The ACL snapshot still answers from memory.
    let who = Subject {
        username: Some("alice"),
        clientid: "c",
    };
    assert_eq!(
        service.check_acl(&who, Action::Publish, "t"),
        Ok(Verdict::Ignore)
    );

    let _server = end_outage(outage);
    // No restart: the writer catches up, logins are decided again.
    written(&service, 51);
    assert_eq!(service.write_stats().waiting, 0);
    assert_eq!(
        service.login(Some("alice"), Some(b"wonderland"), soon()),
        Ok(Login::Allow)
    );
    assert!(!service.database_down());
    assert_eq!(store.count("SELECT COUNT(*) FROM mqtt_messages"), 51);
    assert_eq!(
        store.count("SELECT COUNT(*) FROM mqtt_messages WHERE topic = 'during/49'"),
        1,
        "the first 50 records were kept, in order"
    );
    assert_eq!(
        store.count("SELECT COUNT(*) FROM mqtt_messages WHERE topic = 'during/50'"),
        0
    );
}

fn schema_creation_is_idempotent_under_concurrent_connects(backend: Backend) {
    let store = Store::new(backend);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                store.connect();
            });
        }
    });
    add_user(&store, "alice", "x", false);
    store.connect();
    assert_eq!(store.count("SELECT COUNT(*) FROM mqtt_users"), 1);
}

#[test]
fn two_nodes_on_one_postgres_share_users_rules_and_online_state() {
    let store = Store::new(Backend::Postgres);
    let a =
        Service::start(&store.settings(&[("node", "emqx@a"), ("batch_interval", "10ms")])).unwrap();
    let b =
        Service::start(&store.settings(&[("node", "emqx@b"), ("batch_interval", "10ms")])).unwrap();
    add_user(&store, "alice", "wonderland", false);
    add_rule(&store, 0, "all", "publish", "users/%u/#", "allow");
    a.refresh_acl();
    b.refresh_acl();
    for node in [&a, &b] {
        assert_eq!(
            node.login(Some("alice"), Some(b"wonderland"), soon()),
            Ok(Login::Allow)
        );
        let who = Subject {
            username: Some("alice"),
            clientid: "c",
        };
        assert_eq!(
            node.check_acl(&who, Action::Publish, "users/alice/1"),
            Ok(Verdict::Allow)
        );
    }
    // The client moves from a to b; a's disconnect lands last.
    assert!(a.record(event(EventKind::Connected, "emqx@a", 10, 10, None)));
    written(&a, 1);
    assert!(b.record(event(EventKind::Connected, "emqx@b", 20, 20, None)));
    written(&b, 1);
    assert!(a.record(event(
        EventKind::Disconnected,
        "emqx@a",
        10,
        25,
        Some("takeovered")
    )));
    written(&a, 2);
    assert_eq!(
        store.rows("SELECT node, CAST(online AS INTEGER) FROM mqtt_clients"),
        vec![vec![Some("emqx@b".into()), Some("1".into())]]
    );
    assert_eq!(store.count("SELECT COUNT(*) FROM mqtt_client_history"), 3);
}

#[test]
fn the_first_login_after_a_postgres_restart_is_decided() {
    let server = PgServer::start();
    let store = Store::on(&server);
    add_user(&store, "alice", "wonderland", false);
    let service = Service::start(&store.settings(&[("connections", "4")])).unwrap();
    let theirs = "SELECT COUNT(*) FROM pg_stat_activity \
                  WHERE application_name = 'emqx_example_database' AND pid <> pg_backend_pid()";
    // Concurrent logins leave several connections idle in the pool.
    wait_until("two pooled connections", || {
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let _ = service.login(Some("alice"), Some(b"wonderland"), soon());
                    }
                });
            }
        });
        store.count(theirs) >= 2
    });
    server.stop();
    server.resume();
    // Every pooled connection is dead now; the login still gets an answer.
    assert_eq!(
        service.login(Some("alice"), Some(b"wonderland"), soon()),
        Ok(Login::Allow)
    );
}
