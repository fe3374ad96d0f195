"""The handler's settings: ``exhook.drivers.NAME.handler.KEY = VALUE`` in
the plugin's conf, read from ``exhook.settings()`` in ``init()``. The keys,
defaults and meanings are the Rust example's (native/examples/database,
``src/settings.rs``) but for ``database_url``: this version speaks SQLite
only (Python's own ``sqlite3``). README.md beside ``hooks.py`` lists them.
"""

import socket
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from .acl import check_filter

__all__ = ["Settings", "SettingsError", "parse_duration", "DEFAULT_DATABASE"]

# The SQLite file when ``database`` is not set, relative to the broker's
# working directory (the release root): the Rust example's default.
DEFAULT_DATABASE = "data/exhook_database.sqlite3"

NO_MATCH = ("ignore", "allow", "deny")


class SettingsError(ValueError):
    """A setting has a value the handler cannot use; the text names the key."""


@dataclass(frozen=True)
class Settings:
    """Everything the handler reads from its config, checked. Durations
    are seconds (``float``)."""

    database: str = DEFAULT_DATABASE
    node: str = field(default_factory=socket.gethostname)
    connections: int = 4
    db_timeout: float = 2.0
    acl_refresh: float = 5.0
    acl_nomatch: str = "ignore"
    store_topics: List[str] = field(default_factory=list)
    batch_size: int = 500
    batch_interval: float = 0.1
    write_queue: int = 100_000
    write_queue_bytes: int = 64 << 20
    flush_timeout: float = 5.0
    error_log_interval: float = 10.0

    @classmethod
    def from_lookup(cls, get: Callable[[str], Optional[str]]) -> "Settings":
        """Settings from ``get(KEY)`` (``exhook.settings().get``); a value
        the handler cannot use raises :class:`SettingsError` naming its key.

        >>> Settings.from_lookup({"batch_size": "64", "acl_refresh": "250ms"}.get).acl_refresh
        0.25
        """

        def text(key):
            value = get(key)
            value = value.strip() if isinstance(value, str) else None
            return value or None

        if text("database_url"):
            raise SettingsError(
                "setting database_url: the Python version speaks SQLite only "
                "(set database, a file); the Rust example speaks PostgreSQL"
            )

        def duration(key, default):
            value = text(key)
            if value is None:
                return default
            seconds = parse_duration(value)
            if seconds is None:
                raise _invalid(key, value, "a duration (5s, 200ms)")
            return seconds

        def count(key, default):
            value = text(key)
            if value is None:
                return default
            if not (value.isascii() and value.isdigit()) or int(value) == 0:
                raise _invalid(key, value, "a positive integer")
            return int(value)

        nomatch = text("acl_nomatch") or "ignore"
        if nomatch not in NO_MATCH:
            raise _invalid("acl_nomatch", nomatch, "ignore, allow or deny")
        topics = [t.strip() for t in (text("store_topics") or "").split(",") if t.strip()]
        for topic in topics:
            try:
                check_filter(topic)
            except ValueError as e:
                raise SettingsError("setting store_topics: %s" % e) from None
        defaults = cls()
        return cls(
            database=text("database") or DEFAULT_DATABASE,
            node=text("node") or defaults.node,
            connections=count("connections", defaults.connections),
            db_timeout=duration("db_timeout", defaults.db_timeout),
            acl_refresh=duration("acl_refresh", defaults.acl_refresh),
            acl_nomatch=nomatch,
            store_topics=topics,
            batch_size=count("batch_size", defaults.batch_size),
            batch_interval=duration("batch_interval", defaults.batch_interval),
            write_queue=count("write_queue", defaults.write_queue),
            write_queue_bytes=count("write_queue_bytes", defaults.write_queue_bytes),
            flush_timeout=duration("flush_timeout", defaults.flush_timeout),
            error_log_interval=duration("error_log_interval", defaults.error_log_interval),
        )


def _invalid(key, value, expected):
    return SettingsError("setting %s = %r: expected %s" % (key, value, expected))


_UNITS = {"": 0.001, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> Optional[float]:
    """Seconds in ``250ms``, ``5s``, ``2m``, ``1h`` or a bare number of
    milliseconds (what cuttlefish's duration type gives); ``None`` for
    anything else, zero included.

    >>> parse_duration("1500"), parse_duration("2m"), parse_duration("0s")
    (1.5, 120.0, None)
    """
    text = text.strip()
    digits = len(text) - len(text.lstrip("0123456789"))
    number, unit = text[:digits], text[digits:].strip()
    if not number or unit not in _UNITS or int(number) == 0:
        return None
    return int(number) * _UNITS[unit]
