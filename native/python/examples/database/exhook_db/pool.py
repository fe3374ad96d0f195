"""A small pool of SQLite connections shared by logins (on the driver's
worker threads), the ACL refresh and the writer (the Rust example's
``src/pool.rs``).

A failed connect pauses new connects for :data:`RETRY_PAUSE` seconds, so
that while the database cannot be opened a login gets the failure policy
at once instead of each one waiting out ``db_timeout``.
"""

import sqlite3
import threading
import time
from typing import Callable, List, Optional, TypeVar

from . import store
from .store import DbError
from .throttle import Health

__all__ = ["Pool", "RETRY_PAUSE"]

RETRY_PAUSE = 0.5

T = TypeVar("T")


class Pool:
    def __init__(self, path: str, size: int, op_timeout: float, health: Health):
        self.path = path
        self.size = max(1, size)
        self.op_timeout = op_timeout
        self.health = health
        self._lock = threading.Condition()
        self._idle: List[sqlite3.Connection] = []
        self._open = 0
        self._paused_until = 0.0
        self._closed = False

    def run(self, op: Callable[[sqlite3.Connection], T], timeout: Optional[float] = None) -> T:
        """``op(conn)`` on a connection, waiting at most ``timeout`` seconds
        (``op_timeout`` by default) for one. A connection that fails with a
        transient error is closed; if it had been idle in the pool, ``op`` is
        tried once more on a new one. Raises :class:`DbError`."""
        deadline = time.monotonic() + (self.op_timeout if timeout is None else timeout)
        retried = False
        while True:
            conn, fresh = self._checkout(deadline)
            try:
                result = op(conn)
            except DbError as e:
                if not e.transient:
                    self._checkin(conn)
                    raise
                self._discard(conn)
                if fresh or retried or time.monotonic() >= deadline:
                    self.health.failed(e)
                    raise
                retried = True
                continue
            except BaseException:
                self._discard(conn)
                raise
            self._checkin(conn)
            self.health.ok()
            return result

    def _checkout(self, deadline: float):
        with self._lock:
            while True:
                if self._closed:
                    raise DbError("the handler is stopping", transient=True)
                if self._idle:
                    return self._idle.pop(), False
                if self._open < self.size:
                    if time.monotonic() < self._paused_until:
                        raise DbError(
                            "%s: not connecting for a moment after a failure" % self.health.what,
                            transient=True,
                        )
                    self._open += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DbError("no free database connection in time", transient=True)
                self._lock.wait(left)
        try:
            conn = store.connect(self.path, min(self.op_timeout, max(deadline - time.monotonic(), 0.001)))
        except DbError as e:
            with self._lock:
                self._open -= 1
                self._paused_until = time.monotonic() + RETRY_PAUSE
                self._lock.notify()
            self.health.failed(e)
            raise
        conn.execute("PRAGMA busy_timeout = %d" % int(self.op_timeout * 1000))
        return conn, True

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._closed:
                self._open -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._lock.notify()

    def _discard(self, conn: sqlite3.Connection) -> None:
        try:
            conn.close()
        except sqlite3.Error:
            pass
        with self._lock:
            self._open -= 1
            self._lock.notify()

    def close(self) -> None:
        """Closes the idle connections; those in use close when returned."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._lock.notify_all()
        for conn in idle:
            conn.close()
