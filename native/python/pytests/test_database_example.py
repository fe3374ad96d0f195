"""The Python database example's own parts (native/python/examples/database):
settings, ACL rules, password hashes, the SQLite store, the write queue,
the service and the ``python -m exhook_db`` command; and ``hooks.py``
loaded as the driver loads it. Through the plugin: the common_test suite
tests/emqx_extension_hook_database_SUITE.erl (group python)."""

import io
import os
import sqlite3
import sys
import threading
import time

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "database")
sys.path.insert(0, os.path.abspath(EXAMPLE))

from erlport.erlterms import Atom, List  # noqa: E402
from exhook_db import __main__ as cli  # noqa: E402
from exhook_db import passwords, store  # noqa: E402
from exhook_db.acl import Rule, RuleError, Snapshot  # noqa: E402
from exhook_db.service import ALLOW, ALLOW_SUPERUSER, DENY, Service, Undecided  # noqa: E402
from exhook_db.settings import DEFAULT_DATABASE, Settings, SettingsError, parse_duration  # noqa: E402
from exhook_db.store import ClientEvent, DbError, StoredMessage  # noqa: E402
from exhook_db.writer import Limits, WriteQueue  # noqa: E402

CHEAP = passwords.Cost(64, 1, 1)

# ---------------------------------------------------------------------------
# Settings


def settings(**pairs):
    return Settings.from_lookup(pairs.get)


def test_default_settings_use_an_sqlite_file_under_data():
    s = settings()
    assert s.database == DEFAULT_DATABASE == "data/exhook_database.sqlite3"
    assert (s.store_topics, s.acl_refresh, s.acl_nomatch, s.batch_size) == ([], 5.0, "ignore", 500)


def test_settings_are_parsed_and_bad_ones_name_their_key():
    s = settings(store_topics="sensors/#, alerts/+ ,,", acl_refresh="250ms", batch_size="64",
                 flush_timeout="3000", node="emqx@a", database="x.db")
    assert (s.store_topics, s.acl_refresh, s.batch_size, s.flush_timeout, s.node, s.database) == (
        ["sensors/#", "alerts/+"], 0.25, 64, 3.0, "emqx@a", "x.db")
    for key, value in [("batch_size", "0"), ("write_queue", "-1"), ("acl_refresh", "soon"),
                       ("acl_nomatch", "maybe"), ("connections", "²"),
                       ("store_topics", "ok/#,a/#/b")]:
        with pytest.raises(SettingsError, match=key):
            settings(**{key: value})


def test_database_url_is_refused_the_python_version_speaks_sqlite_only():
    with pytest.raises(SettingsError, match="database_url"):
        settings(database_url="postgresql://emqx:secret@db/emqx")


def test_durations_take_units_or_milliseconds():
    assert [parse_duration(t) for t in ("5s", "2m", "1500", "100ms", "1h")] == [5, 120, 1.5, 0.1, 3600]
    assert [parse_duration(t) for t in ("0s", "5 parsecs", "", "s", "-1s")] == [None] * 5


# ---------------------------------------------------------------------------
# ACL rules (the Rust example's src/acl.rs cases)


def rules():
    """EMQX's default acl.conf, plus per-user rules with placeholders."""
    return Snapshot([
        Rule(1, "username", "dashboard", "subscribe", "$SYS/#", "allow"),
        Rule(2, "all", None, "pubsub", "users/%u/#", "allow"),
        Rule(3, "all", None, "publish", "clients/%c/status", "allow"),
        Rule(4, "clientid", "sensor-1", "publish", "sensors/#", "allow"),
        Rule(5, "all", None, "subscribe", "$SYS/#", "deny"),
        Rule(6, "all", None, "subscribe", "eq #", "deny"),
        Rule(7, "username", "alice", "publish", "users/#", "deny"),
        Rule(8, "all", None, "subscribe", "public/+", "allow"),
    ])


def check(username, clientid, action, topic):
    return rules().check(username, clientid, action, topic)


def test_placeholders_take_the_clients_own_names():
    assert check("alice", "c1", "publish", "users/alice/x") == "allow"
    assert check("alice", "c1", "subscribe", "users/alice/#") == "allow"
    assert check("alice", "c1", "publish", "users/bob/x") == "deny"  # rule 7
    assert check("bob", "c1", "publish", "users/alice/x") == "ignore"
    assert check("bob", "c9", "publish", "clients/c9/status") == "allow"
    assert check("bob", "c9", "publish", "clients/c8/status") == "ignore"


def test_first_matching_rule_wins_in_table_order():
    assert check("dashboard", "d", "subscribe", "$SYS/brokers") == "allow"
    assert check("bob", "d", "subscribe", "$SYS/brokers") == "deny"
    assert check("alice", "c", "publish", "users/alice/1") == "allow"
    assert check(None, "sensor-1", "publish", "sensors/t") == "allow"


def test_eq_matches_the_literal_filter_only_and_plus_never_grants_hash():
    assert check("bob", "c", "subscribe", "#") == "deny"
    assert check("bob", "c", "subscribe", "public/#") == "ignore"
    assert check("bob", "c", "subscribe", "public/+/x") == "ignore"
    assert check("bob", "c", "subscribe", "public/+") == "allow"
    assert check("bob", "c", "subscribe", "public/a") == "allow"


def test_names_that_look_like_wildcards_stay_literal():
    assert check("+", "c", "publish", "users/bob/x") == "ignore"
    assert check("#", "c", "publish", "users/bob/x") == "ignore"
    assert check("a/b", "c", "publish", "users/a/b/x") == "ignore"
    assert check(None, "c", "publish", "users/%u/x") == "ignore"


def test_wildcards_do_not_match_dollar_topics_and_hash_matches_the_parent():
    s = Snapshot([Rule(1, "all", None, "pubsub", "#", "allow"),
                  Rule(2, "all", None, "pubsub", "a/#", "deny")])
    assert s.check(None, "c", "publish", "$SYS/x", "deny") == "deny"
    assert s.check(None, "c", "publish", "b", "deny") == "allow"
    s = Snapshot([Rule(1, "all", None, "pubsub", "a/#", "allow")])
    assert s.check(None, "c", "publish", "a", "deny") == "allow"
    assert s.check(None, "c", "publish", "ab", "deny") == "deny"


def test_no_match_answers_as_configured():
    for no_match in ("allow", "deny", "ignore"):
        assert Snapshot().check(None, "c", "publish", "t", no_match) == no_match


def test_a_bad_row_fails_the_whole_snapshot_naming_it():
    with pytest.raises(RuleError, match="id 9"):
        Snapshot([Rule(1, "all", None, "pubsub", "a", "allow"),
                  Rule(9, "all", None, "pubsub", "a/#/b", "deny")])
    for bad in [Rule(1, "everyone", None, "pubsub", "a", "deny"),
                Rule(1, "username", None, "pubsub", "a", "deny"),
                Rule(1, "all", None, "read", "a", "deny"),
                Rule(1, "all", None, "pubsub", "a", "maybe"),
                Rule(1, "all", None, "pubsub", "eq ", "deny"),
                Rule(1, "all", None, "pubsub", "a+", "deny")]:
        with pytest.raises(RuleError):
            Snapshot([bad])


# ---------------------------------------------------------------------------
# Passwords

# Made by the Rust example's `exhook-db add-user bob --memory-kib 64
# --iterations 1` with the password "rustpass".
RUST_HASH = "$argon2id$v=19$m=64,t=1,p=1$O2beCLPatmzoAof0u9jUvg$7HDkeOY27FBFgX6NqVr78gmn8KkBSsA554l7T0P7HsQ"


def test_a_hash_verifies_its_password_only_and_is_salted():
    a, b = passwords.hash_password("s3cret", CHEAP), passwords.hash_password(b"s3cret", CHEAP)
    assert a.startswith("$argon2id$v=19$m=64,t=1,p=1$") and a != b
    assert passwords.verify("s3cret", a) and passwords.verify(b"s3cret", b)
    assert not passwords.verify("s3cret!", a)
    assert not passwords.verify("", a)


def test_the_rust_examples_hashes_verify_and_the_defaults_match_its_own():
    assert passwords.verify("rustpass", RUST_HASH)
    assert not passwords.verify("rustpass ", RUST_HASH)
    assert passwords.DEFAULT_COST == (19456, 2, 1)
    assert passwords.hash_password("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_malformed_foreign_or_too_costly_hashes_are_errors():
    for stored, why in [("plain-text-password", "PHC"),
                        ("$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$Rl1yvY7zw4kTrdvpS2Vg9A", "argon2i"),
                        ("$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$Rl1yvY7zw4kTrdvpS2Vg9A", "limit")]:
        with pytest.raises(passwords.HashError, match=why):
            passwords.verify("x", stored)
    with pytest.raises(passwords.HashError):
        passwords.hash_password("x", passwords.Cost(1 << 30, 1, 1))


# ---------------------------------------------------------------------------
# The store


def db(tmp_path):
    return store.connect(str(tmp_path / "data" / "db.sqlite3"), timeout=1.0)


def event(kind, clientid, at, connected_at=None, reason=None, node="emqx@a", superseded=False):
    return ClientEvent(kind, clientid, "good", node, "127.0.0.1", "mqtt", None, connected_at, at,
                       reason, superseded)


def message(topic, payload=b"m", msgid="0001"):
    return StoredMessage(msgid, topic, 1, payload, "pubA", None, False, 1795654384903, "emqx@a")


def test_the_store_has_the_rust_examples_tables_in_wal_mode(tmp_path):
    conn = db(tmp_path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'mqtt%' ORDER BY name")]
    assert tables == ["mqtt_acl", "mqtt_client_history", "mqtt_clients", "mqtt_messages", "mqtt_users"]
    columns = [r[1] for r in conn.execute("PRAGMA table_info(mqtt_messages)")]
    assert columns == ["id", "msgid", "topic", "qos", "payload", "publisher", "username", "retain",
                       "published_at", "node"]
    store.connect(str(tmp_path / "data" / "db.sqlite3"), timeout=1.0)  # again: no error


def test_connects_and_disconnects_keep_rows_and_history(tmp_path):
    conn = db(tmp_path)
    store.write(conn, [event("connected", "subA", 100, connected_at=100),
                       event("connected", "subA", 200, connected_at=200),
                       # The old connection's late disconnect: history only.
                       event("disconnected", "subA", 201, reason="takeovered", superseded=True),
                       event("connected", "pubA", 300, connected_at=300),
                       event("disconnected", "pubA", 305, reason="normal")])
    rows = conn.execute("SELECT clientid, online, connected_at, disconnected_at, disconnect_reason "
                        "FROM mqtt_clients ORDER BY clientid").fetchall()
    assert rows == [("pubA", 0, 300, 305, "normal"), ("subA", 1, 200, None, None)]
    history = conn.execute("SELECT clientid, event, at, reason FROM mqtt_client_history ORDER BY id")
    assert [tuple(r) for r in history][-3:] == [("subA", "disconnected", 201, "takeovered"),
                                                ("pubA", "connected", 300, None),
                                                ("pubA", "disconnected", 305, "normal")]
    # Another node holds the client now: this node's disconnect leaves the row.
    store.write(conn, [event("connected", "pubA", 400, connected_at=400, node="emqx@b"),
                       event("disconnected", "pubA", 401, reason="normal")])
    assert conn.execute("SELECT node, online FROM mqtt_clients WHERE clientid = 'pubA'").fetchone() == (
        "emqx@b", 1)


def test_messages_keep_binary_payloads_and_a_refused_record_spoils_its_transaction(tmp_path):
    conn = db(tmp_path)
    store.write(conn, [message("p/1", bytes(range(256)))])
    assert conn.execute("SELECT payload FROM mqtt_messages").fetchone() == (bytes(range(256)),)
    with pytest.raises(DbError) as refused:
        store.write(conn, [message("p/2"), message(None)])
    assert not refused.value.transient
    for unstorable in (message("\ud800"), message("p", msgid=2 ** 70)):
        with pytest.raises(DbError) as refused:
            store.write(conn, [unstorable])
        assert not refused.value.transient, "tried again forever"
    assert conn.execute("SELECT COUNT(*) FROM mqtt_messages").fetchone() == (1,)
    assert store.query_text(conn, "SELECT topic, payload FROM mqtt_messages")[1] == [
        ["p/1", "\\x" + bytes(range(256)).hex()]]


def test_a_store_that_cannot_be_opened_is_a_transient_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DbError) as e:
        store.connect(str(tmp_path / "file" / "db.sqlite3"), timeout=0.1)
    assert e.value.transient


# ---------------------------------------------------------------------------
# The write queue


def limits(**kw):
    base = dict(max_records=100, max_bytes=1 << 20, batch_size=10, batch_interval=0.02,
                flush_timeout=1.0)
    base.update(kw)
    return Limits(**base)


class FlakyDatabase:
    """A write function that fails (transiently) while ``down`` is set, and
    refuses the records whose topic is ``"refused"``."""

    def __init__(self):
        self.down = threading.Event()
        self.batches = []

    def write(self, records):
        if self.down.is_set():
            raise DbError("down", transient=True)
        if any(getattr(r, "topic", None) == "refused" for r in records):
            raise DbError("refused", transient=False)
        self.batches.append([r.topic for r in records])


def writer(queue, database):
    thread = threading.Thread(target=queue.run_writer, args=(database.write,))
    thread.start()
    return thread


def await_true(predicate, seconds=5.0):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_records_are_written_in_batches_in_order_and_a_refused_one_alone_is_dropped():
    queue, database = WriteQueue(limits(batch_size=3), 10), FlakyDatabase()
    thread = writer(queue, database)
    for topic in ["a", "b", "refused", "c", "d"]:
        assert queue.push(message(topic))
    await_true(lambda: queue.stats()["written"] == 4)
    queue.close()
    thread.join()
    assert [t for batch in database.batches for t in batch] == ["a", "b", "c", "d"]
    assert max(len(b) for b in database.batches) <= 3
    stats = queue.stats()
    assert (stats["dropped_refused"], stats["waiting"]) == (1, 0)


def test_while_the_database_is_down_records_wait_up_to_the_bound_and_the_rest_are_counted():
    queue, database = WriteQueue(limits(max_records=5), 10), FlakyDatabase()
    database.down.set()
    thread = writer(queue, database)
    pushed = [queue.push(message("p/%d" % i)) for i in range(12)]
    assert pushed == [True] * 5 + [False] * 7
    await_true(lambda: queue.stats()["failed_writes"] >= 2)
    database.down.clear()
    await_true(lambda: queue.stats()["written"] == 5)
    queue.close()
    thread.join()
    stats = queue.stats()
    assert (stats["dropped_queue_full"], stats["waiting"]) == (7, 0)
    assert [t for b in database.batches for t in b] == ["p/%d" % i for i in range(5)]


def test_the_byte_bound_counts_payloads():
    queue = WriteQueue(limits(max_bytes=10_000), 10)
    assert queue.push(message("p", b"x" * 5000))
    assert not queue.push(message("p", b"x" * 5000))
    assert queue.stats()["dropped_queue_full"] == 1


def test_close_flushes_what_is_queued_and_gives_up_after_flush_timeout():
    queue, database = WriteQueue(limits(batch_interval=3600), 10), FlakyDatabase()
    thread = writer(queue, database)
    queue.push(message("a"))
    queue.close()
    thread.join(5)
    assert database.batches == [["a"]]
    assert not queue.push(message("late"))
    assert queue.stats()["dropped_at_stop"] == 1

    queue, database = WriteQueue(limits(flush_timeout=0.2), 10), FlakyDatabase()
    database.down.set()
    thread = writer(queue, database)
    queue.push(message("never"))
    queue.close()
    thread.join(5)
    assert not thread.is_alive()
    assert queue.stats()["dropped_at_stop"] == 1 and database.batches == []


# ---------------------------------------------------------------------------
# The service


def service(tmp_path, **pairs):
    pairs.setdefault("database", str(tmp_path / "data" / "db.sqlite3"))
    pairs.setdefault("batch_interval", "10ms")
    pairs.setdefault("acl_refresh", "50ms")
    pairs.setdefault("db_timeout", "300ms")
    return Service(settings(**pairs))


def add_user(path, name, password, superuser=False):
    conn = store.connect(path, timeout=1.0)
    store.put_user(conn, name, passwords.hash_password(password, CHEAP), superuser)
    conn.close()


def test_logins_allowed_superuser_and_denied(tmp_path):
    s = service(tmp_path)
    path = s.settings.database
    add_user(path, "alice", "wonderland")
    add_user(path, "root", "t0ps3cret", superuser=True)
    conn = store.connect(path, timeout=1.0)
    store.put_user(conn, "bob", RUST_HASH, False)
    store.put_user(conn, "eve", "plain-text", False)
    try:
        assert s.login("alice", "wonderland") == ALLOW
        assert s.login("root", b"t0ps3cret") == ALLOW_SUPERUSER
        assert s.login("bob", "rustpass") == ALLOW
        assert [s.login(*c) for c in [("alice", "Wonderland"), ("mallory", "x"), ("alice", ""),
                                       ("", "wonderland"), (None, None), ("eve", "plain-text")]] == [DENY] * 6
    finally:
        s.stop()


def test_a_database_that_cannot_be_opened_leaves_logins_and_acl_undecided_until_it_can(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the database's directory should be")
    s = service(tmp_path, database=str(blocked / "db.sqlite3"))
    try:
        with pytest.raises(Undecided):
            s.login("alice", "wonderland")
        with pytest.raises(Undecided):
            s.check_acl("alice", "c", "publish", "t")
        blocked.unlink()
        time.sleep(0.6)  # the pool's pause after a failed connect
        assert s.login("alice", "wonderland") == DENY
        await_true(lambda: s.snapshot is not None)
        assert s.check_acl("alice", "c", "publish", "t") == "ignore"
    finally:
        s.stop()


def test_acl_rules_refresh_and_a_bad_rule_keeps_the_previous_ones(tmp_path):
    s = service(tmp_path)
    conn = store.connect(s.settings.database, timeout=1.0)
    try:
        assert s.check_acl("alice", "c", "publish", "t/1") == "ignore"
        store.add_rule(conn, 0, "username", "alice", "publish", "t/+", "deny")
        await_true(lambda: s.check_acl("alice", "c", "publish", "t/1") == "deny")
        conn.execute("INSERT INTO mqtt_acl (seq, who, action, topic, permission) "
                      "VALUES (-1, 'all', 'pubsub', 'a/#/b', 'allow')")
        time.sleep(0.2)
        assert s.check_acl("alice", "c", "publish", "t/1") == "deny"
    finally:
        s.stop()


def test_stop_flushes_what_is_queued(tmp_path):
    s = service(tmp_path, batch_interval="1h")
    s.record(message("p/1"))
    s.record(event("connected", "subA", 1, connected_at=1))
    s.stop()
    conn = store.connect(s.settings.database, timeout=1.0)
    assert conn.execute("SELECT COUNT(*) FROM mqtt_messages").fetchone() == (1,)
    assert conn.execute("SELECT clientid, online FROM mqtt_clients").fetchall() == [("subA", 1)]
    assert s.write_stats()["written"] == 2
    assert not any(t.name.startswith("exhook-db") for t in threading.enumerate())


# ---------------------------------------------------------------------------
# python -m exhook_db


def run_cli(monkeypatch, capsys, args, stdin=b""):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_adds_users_and_rules_and_queries(tmp_path, monkeypatch, capsys):
    d = ["--database", str(tmp_path / "db.sqlite3")]
    assert run_cli(monkeypatch, capsys, d + ["add-user", "alice", "--memory-kib", "64",
                                             "--iterations", "1"], b"wonderland\n")[0] == 0
    code, out, _ = run_cli(monkeypatch, capsys, d + ["add-rule", "allow", "username:alice",
                                                     "pubsub", "users/%u/#"])
    assert (code, out) == (0, "1\n")
    code, _, err = run_cli(monkeypatch, capsys, d + ["add-rule", "deny", "all", "pubsub", "a/#/b"])
    assert code == 1 and "# must be the last level" in err
    code, out, _ = run_cli(monkeypatch, capsys, d + ["query", "SELECT username, password_hash, NULL "
                                                     "AS x FROM mqtt_users"])
    header, row = out.splitlines()
    name, stored, null = row.split("\t")
    assert (header, name, null) == ("username\tpassword_hash\tx", "alice", "\\N")
    assert passwords.verify("wonderland", stored)
    assert run_cli(monkeypatch, capsys, d + ["add-user", "bob"], b"\n")[0] == 1


# ---------------------------------------------------------------------------
# hooks.py, loaded as the driver loads it


def clientinfo(username, password, clientid="c1"):
    return List([(Atom(b"node"), Atom(b"emqx@a")), (Atom(b"clientid"), clientid),
                 (Atom(b"username"), username), (Atom(b"password"), password),
                 (Atom(b"peerhost"), b"127.0.0.1"), (Atom(b"sockport"), 1883),
                 (Atom(b"protocol"), Atom(b"mqtt")), (Atom(b"mountpoint"), b""),
                 (Atom(b"is_superuser"), False), (Atom(b"anonymous"), False)])


def test_hooks_py_decides_through_the_pypi_sdk(tmp_path):
    import exhook
    import _emqx_python_driver as support
    path = str(tmp_path / "db.sqlite3")
    add_user(path, "root", "t0ps3cret", superuser=True)
    sys.meta_path.insert(0, support.USER_CODE)
    driver = support.Driver("db", [os.path.abspath(EXAMPLE)], "hooks", settings=[
        ("database", path), ("node", "emqx@a"), ("store_topics", "p/#")])
    try:
        hooks, state = driver.load()
        by_name = {name: function for name, function, _, _ in hooks}
        assert {name: topics for name, _, topics, _ in hooks}["message_publish"] == ["p/#"]
        authenticate = by_name["client_authenticate"]
        assert authenticate(clientinfo(b"root", b"t0ps3cret"), False, state) == exhook.allow_superuser()
        assert authenticate(clientinfo(b"root", b"wrong"), False, state) == (0, False)
        assert by_name["client_check_acl"](clientinfo(b"root", b""), Atom(b"publish"), b"t", False,
                                           state) is None
        payload = bytes(range(256))
        assert by_name["message_publish"](List([
            (Atom(b"node"), Atom(b"emqx@a")), (Atom(b"id"), b"0001"), (Atom(b"qos"), 1),
            (Atom(b"from"), b"pubA"), (Atom(b"topic"), b"p/1"), (Atom(b"payload"), payload),
            (Atom(b"timestamp"), 5)]), state) is None
    finally:
        driver.unload()
        sys.meta_path.remove(support.USER_CODE)
    conn = store.connect(path, timeout=1.0)
    assert conn.execute("SELECT topic, payload, published_at FROM mqtt_messages").fetchall() == [
        ("p/1", payload, 5)]


def test_hooks_py_registers_no_message_hook_without_store_topics(tmp_path):
    import _emqx_python_driver as support
    sys.meta_path.insert(0, support.USER_CODE)
    driver = support.Driver("db", [os.path.abspath(EXAMPLE)], "hooks",
                            settings=[("database", str(tmp_path / "db.sqlite3"))])
    try:
        hooks, _ = driver.load()
        assert sorted(name for name, _, _, _ in hooks) == [
            "client_authenticate", "client_check_acl", "client_connected", "client_disconnected"]
    finally:
        driver.unload()
        sys.meta_path.remove(support.USER_CODE)
