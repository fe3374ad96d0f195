"""``python -m exhook_db``: adds users and ACL rules to the database
example's SQLite store, and queries it; the Python twin of the Rust
``exhook-db`` command, on the same tables. Run it from the broker's
working directory (the release root) so that a relative ``--database``
means the same file as the handler's ``database`` setting."""

import argparse
import sqlite3
import sys
from typing import List, Optional

from . import passwords, store
from .acl import Rule, RuleError, Snapshot
from .settings import DEFAULT_DATABASE

USAGE_EPILOG = """\
Rules apply in (seq, id) order, the first match wins. A TOPIC is a filter
that may use %u and %c as whole levels, or 'eq TOPIC'. Query output: rows
tab-separated under a header, NULL as \\N, binary as \\x and hex."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m exhook_db",
        description="The database example's SQLite store: users, ACL rules, queries.",
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--database", default=DEFAULT_DATABASE, help="the SQLite file (default %(default)s)")
    commands = p.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the tables if missing")
    user = commands.add_parser(
        "add-user",
        help="add or replace a user; the password is the first line of standard "
        "input (never an argument)",
    )
    user.add_argument("username")
    user.add_argument("--superuser", action="store_true")
    cost = passwords.DEFAULT_COST
    user.add_argument("--memory-kib", type=int, default=cost.memory_kib)
    user.add_argument("--iterations", type=int, default=cost.iterations)
    user.add_argument("--lanes", type=int, default=cost.parallelism)
    rule = commands.add_parser("add-rule", help="add an ACL rule")
    rule.add_argument("--seq", type=int, default=0)
    rule.add_argument("permission", choices=("allow", "deny"))
    rule.add_argument("who", help="all, username:NAME or clientid:ID")
    rule.add_argument("action", choices=("publish", "subscribe", "pubsub"))
    rule.add_argument("topic")
    query = commands.add_parser("query", help="run one statement and print its rows")
    query.add_argument("sql")
    commands.add_parser(
        "lock",
        help="hold the write lock until standard input closes (to see what the "
        "broker does meanwhile); prints 'locked' once held",
    )
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        conn = store.connect(args.database, timeout=5.0)
    except store.DbError as e:
        print("exhook_db: %s" % e, file=sys.stderr)
        return 1
    try:
        return COMMANDS[args.command](conn, args)
    except (store.DbError, sqlite3.Error, ValueError) as e:
        print("exhook_db: %s" % e, file=sys.stderr)
        return 1
    finally:
        conn.close()


def _init(conn, args) -> int:
    return 0


def _add_user(conn, args) -> int:
    line = sys.stdin.buffer.readline().rstrip(b"\r\n")
    if not line:
        raise ValueError("no password on standard input")
    cost = passwords.Cost(args.memory_kib, args.iterations, args.lanes)
    store.put_user(conn, args.username, passwords.hash_password(line, cost), args.superuser)
    return 0


def _add_rule(conn, args) -> int:
    kind, _, name = args.who.partition(":")
    name = name if kind != "all" and name else None
    # Checked as the handler will read it: a rule the snapshot refuses
    # would make every reload fail.
    try:
        Snapshot([Rule(0, kind, name, args.action, args.topic, args.permission)])
    except RuleError as e:
        raise ValueError(str(e).replace("ACL rule id 0: ", "")) from None
    rule_id = store.add_rule(conn, args.seq, kind, name, args.action, args.topic, args.permission)
    print(rule_id)
    return 0


def _query(conn, args) -> int:
    columns, rows = store.query_text(conn, args.sql)
    print("\t".join(columns))
    for row in rows:
        print("\t".join("\\N" if v is None else v for v in row))
    return 0


def _lock(conn, args) -> int:
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    return 0


COMMANDS = {
    "init": _init,
    "add-user": _add_user,
    "add-rule": _add_rule,
    "query": _query,
    "lock": _lock,
}

if __name__ == "__main__":
    sys.exit(main())
