"""The SQLite store: the Rust example's schema and statements, read from
the same files (``sql/``, the Rust example's ``native/examples/database/sql``),
so that a database made by either works with the other.

Write-ahead logging lets logins read while the writer writes; a statement
waits ``db_timeout`` for a lock another connection holds. Times are
milliseconds since the epoch.
"""

import os
import sqlite3
import time
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

from .acl import Rule

__all__ = [
    "ClientEvent",
    "StoredMessage",
    "Record",
    "DbError",
    "UserRow",
    "connect",
    "find_user",
    "load_rules",
    "write",
    "put_user",
    "add_rule",
    "query_text",
    "now_ms",
    "SQL",
]

_SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")


def _read(name: str) -> str:
    with open(os.path.join(_SQL_DIR, name + ".sql"), encoding="utf-8") as f:
        return f.read()


def _statement(*names: str) -> str:
    """The statements ``names`` (one statement split over files, in order)
    with PostgreSQL's ``$N`` parameters as SQLite's ``?N``, as the Rust
    store reads them."""
    return "".join(_read(n) for n in names).replace("$", "?")


class _Sql:
    """The statements, read once when the module is imported."""

    def __init__(self):
        self.schema = _read("schema").replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT").replace(
            "{blob}", "BLOB"
        )
        self.find_user = _statement("find_user")
        self.load_rules = _statement("load_rules")
        self.client_connected = _statement("client_connected", "connected_wins")
        self.client_disconnected = _statement("client_disconnected")
        self.client_disconnected_on_node = _statement("client_disconnected_on_node")
        self.history = _statement("history")
        self.message = _statement("message")
        self.put_user = _statement("put_user")
        self.add_rule = _statement("add_rule")


SQL = _Sql()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class DbError(Exception):
    """A database operation failed. ``transient``: the database is locked,
    unreachable or broken, and trying again later may succeed; otherwise
    the data itself was refused (a constraint, a value it cannot store)."""

    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


def db_error(e: Exception) -> DbError:
    """``e`` (from ``sqlite3`` or from binding a value) as a :class:`DbError`."""
    refused = isinstance(
        e,
        (
            sqlite3.IntegrityError,
            sqlite3.DataError,
            sqlite3.InterfaceError,
            OverflowError,
            TypeError,
            ValueError,  # text SQLite cannot take (a lone surrogate)
        ),
    )
    return DbError("SQLite: %s" % e, transient=not refused)


class ClientEvent(NamedTuple):
    """A connect or a disconnect, for ``mqtt_clients`` and ``mqtt_client_history``.

    ``connected_at`` names the connection when it is known (the Rust
    handler reads it from the broker's ConnInfo); the Python driver's hook
    arguments do not have it, so this handler leaves it ``None`` on a
    disconnect and the row is matched by node (see :func:`write`).
    """

    event: str  # "connected" or "disconnected"
    clientid: str
    username: Optional[str]
    node: str
    peer: Optional[str]
    protocol: Optional[str]
    proto_ver: Optional[int]
    connected_at: Optional[int]
    at: int
    reason: Optional[str] = None
    # A disconnect of a connection whose session a newer connection took
    # (takeovered, discarded): history only, the row is the newer one's.
    superseded: bool = False


class StoredMessage(NamedTuple):
    msgid: str
    topic: str
    qos: int
    payload: bytes
    publisher: str
    username: Optional[str]
    retain: bool
    published_at: int
    node: str


Record = Union[ClientEvent, StoredMessage]


class UserRow(NamedTuple):
    password_hash: str
    is_superuser: bool


def connect(path: str, timeout: float) -> sqlite3.Connection:
    """Opens ``path`` (creating its directory), in WAL mode, and creates
    the tables if missing. Raises :class:`DbError`."""
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as e:
        raise DbError("SQLite: cannot open %s: %s" % (path, e), transient=True) from None
    try:
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode.lower() != "wal":
            raise DbError("SQLite: journal_mode stays %s, not wal" % mode, transient=True)
        # With WAL, NORMAL loses no committed data on a process crash, only
        # the last transactions on a power loss; FULL costs an fsync each.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SQL.schema)
    except sqlite3.Error as e:
        conn.close()
        raise db_error(e) from None
    except DbError:
        conn.close()
        raise
    return conn


def find_user(conn: sqlite3.Connection, username: str) -> Optional[UserRow]:
    """The user's hash and superuser flag, if the user exists."""
    try:
        row = conn.execute(SQL.find_user, (username,)).fetchone()
    except (sqlite3.Error, ValueError) as e:
        raise db_error(e) from None
    return None if row is None else UserRow(row[0], bool(row[1]))


def load_rules(conn: sqlite3.Connection) -> List[Rule]:
    """Every ACL rule, in ``(seq, id)`` order."""
    try:
        return [Rule(*row) for row in conn.execute(SQL.load_rules)]
    except sqlite3.Error as e:
        raise db_error(e) from None


def write(conn: sqlite3.Connection, records: Sequence[Record]) -> None:
    """Writes ``records`` in one transaction, in order: all or nothing."""
    try:
        conn.execute("BEGIN")
        try:
            for record in records:
                if isinstance(record, StoredMessage):
                    conn.execute(SQL.message, record)
                else:
                    _client(conn, record)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except (sqlite3.Error, OverflowError, TypeError, ValueError) as e:
        raise db_error(e) from None


def _client(conn: sqlite3.Connection, e: ClientEvent) -> None:
    if e.event == "connected":
        conn.execute(
            SQL.client_connected,
            (e.clientid, e.username, e.node, e.peer, e.protocol, e.proto_ver, e.connected_at),
        )
    elif e.superseded:
        pass
    elif e.connected_at is None:
        conn.execute(SQL.client_disconnected_on_node, (e.at, e.reason, e.clientid, e.node))
    else:
        conn.execute(
            SQL.client_disconnected, (e.at, e.reason, e.clientid, e.node, e.connected_at)
        )
    conn.execute(
        SQL.history,
        (e.clientid, e.username, e.event, e.node, e.at, e.peer, e.protocol, e.proto_ver, e.reason),
    )


def put_user(conn: sqlite3.Connection, username: str, password_hash: str, superuser: bool) -> None:
    """Adds the user, or replaces its hash and flag."""
    conn.execute(SQL.put_user, (username, password_hash, superuser, now_ms()))


def add_rule(
    conn: sqlite3.Connection, seq: int, who: str, name: Optional[str], action: str, topic: str, permission: str
) -> int:
    """Adds a rule (checked by the caller); its id."""
    (rule_id,) = conn.execute(SQL.add_rule, (seq, who, name, action, topic, permission)).fetchone()
    return rule_id


def query_text(conn: sqlite3.Connection, sql: str) -> Tuple[List[str], List[List[Optional[str]]]]:
    """Runs one statement; its column names and rows, every value as text
    (``None`` for NULL, blobs as ``\\x`` and hex, as PostgreSQL prints
    ``bytea`` and the Rust ``exhook-db query`` does)."""
    cursor = conn.execute(sql)
    columns = [d[0] for d in cursor.description or ()]
    rows = [[_text(v) for v in row] for row in cursor]
    return columns, rows


def _text(value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)


# Roughly what a queued record holds beyond its text (the tuple, its fields).
_RECORD_OVERHEAD = 200


def record_size(record: Record) -> int:
    """Roughly the memory ``record`` holds while it waits, for the queue's
    byte bound."""
    return _RECORD_OVERHEAD + sum(
        len(v) for v in record if isinstance(v, (str, bytes))
    )
