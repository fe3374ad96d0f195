"""The handler's work in its own terms (no broker data): logins against
``mqtt_users``, ACL checks against the snapshot of ``mqtt_acl``, records for
the writer. Two threads of its own: the ACL refresh and the writer. The
Rust example's ``src/service.rs``.
"""

import os
import threading
from typing import Dict, Optional, Union

from . import passwords, store
from .acl import IGNORE, RuleError, Snapshot
from .pool import Pool
from .settings import Settings
from .store import DbError, Record
from .throttle import Health, Throttle, log
from .writer import Limits, WriteQueue

__all__ = ["Service", "Undecided", "ALLOW", "ALLOW_SUPERUSER", "DENY"]

ALLOW, ALLOW_SUPERUSER, DENY = "allow", "allow_superuser", "deny"


class Undecided(Exception):
    """The handler cannot decide (the database did not answer, the ACL
    rules were never loaded): the driver's failure policy answers."""


class Service:
    def __init__(self, settings: Settings):
        """Loads the ACL rules once (the database may be unavailable: then
        every ACL check is undecided until a refresh succeeds) and starts
        the two threads."""
        self.settings = settings
        self.pool = Pool(
            settings.database,
            settings.connections,
            settings.db_timeout,
            Health("SQLite database %s" % settings.database, settings.error_log_interval),
        )
        self.queue = WriteQueue(
            Limits(
                max_records=settings.write_queue,
                max_bytes=settings.write_queue_bytes,
                batch_size=settings.batch_size,
                batch_interval=settings.batch_interval,
                flush_timeout=settings.flush_timeout,
            ),
            settings.error_log_interval,
        )
        # Replaced whole by the refresh thread; read without a lock.
        self.snapshot: Optional[Snapshot] = None
        self._stopping = threading.Event()
        self._stopped = False
        self._bad_rules_log = Throttle(settings.error_log_interval)
        self._bad_hash_log = Throttle(settings.error_log_interval)
        self._hook_errors = Throttle(settings.error_log_interval)
        # Verifications at once: each takes a core and the hash's memory
        # for tens of milliseconds; more at once only share the cores.
        self._hashing = threading.BoundedSemaphore(os.cpu_count() or 2)
        self.refresh_acl()
        self._threads = [
            threading.Thread(target=self._refresh_loop, name="exhook-db-acl", daemon=True),
            threading.Thread(
                target=self.queue.run_writer,
                args=(self._write,),
                name="exhook-db-writer",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def login(self, username: Optional[str], password: Optional[Union[str, bytes]]) -> str:
        """``allow``, ``allow_superuser`` or ``deny`` from ``mqtt_users``.
        No username, an unknown one, or a wrong or missing password: denied.
        Raises :class:`Undecided` when the database does not answer."""
        if self._stopped:
            raise Undecided("the handler is stopping")
        if not username or not password:
            return DENY
        try:
            user = self.pool.run(lambda conn: store.find_user(conn, username))
        except DbError as e:
            raise Undecided(str(e)) from None
        if not self._hashing.acquire(timeout=self.settings.db_timeout):
            raise Undecided("no time left to verify the password")
        try:
            if user is None:
                passwords.decoy_verify(password)
                return DENY
            try:
                verified = passwords.verify(password, user.password_hash)
            except passwords.HashError as e:
                self._bad_hash_log.hit(
                    lambda held_back: log.error(
                        "user %r: %s; login denied (%d more such logins since the last report)",
                        username,
                        e,
                        held_back,
                    )
                )
                return DENY
        finally:
            self._hashing.release()
        if not verified:
            return DENY
        return ALLOW_SUPERUSER if user.is_superuser else ALLOW

    def check_acl(self, username: Optional[str], clientid: str, action: str, topic: str) -> str:
        """``allow``, ``deny`` or ``ignore`` from the snapshot; no I/O.
        Raises :class:`Undecided` while no snapshot was ever loaded."""
        snapshot = self.snapshot
        if snapshot is None:
            raise Undecided("the ACL rules could not be loaded yet")
        return snapshot.check(username, clientid, action, topic, self.settings.acl_nomatch)

    def record(self, record: Record) -> bool:
        """Queues a record for the writer; ``False`` when it was dropped (counted)."""
        return self.queue.push(record)

    def log_failure(self, what: str) -> None:
        """Logs the exception being handled, at most once per
        ``error_log_interval``, with how many were held back."""
        self._hook_errors.hit(
            lambda held_back: log.exception("%s (%d more since the last report)", what, held_back)
        )

    def write_stats(self) -> Dict[str, int]:
        return self.queue.stats()

    def refresh_acl(self) -> None:
        """Replaces the snapshot with the table's rules; on failure the
        previous one stays (and the failure is logged)."""
        try:
            rows = self.pool.run(store.load_rules)
        except DbError:
            return  # the pool's health has logged it
        try:
            self.snapshot = Snapshot(rows)
        except RuleError as e:
            self._bad_rules_log.hit(
                lambda _: log.error("ACL rules not loaded, the previous ones stay: %s", e)
            )

    def _refresh_loop(self) -> None:
        while not self._stopping.wait(self.settings.acl_refresh):
            self.refresh_acl()

    def _write(self, records) -> None:
        self.pool.run(lambda conn: store.write(conn, records))

    def stop(self) -> None:
        """Writes what is queued (for at most ``flush_timeout``), stops both
        threads and closes the connections. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self.queue.close()
        for thread in self._threads:
            thread.join()
        self.pool.close()
        stats = self.queue.stats()
        dropped = stats["dropped_queue_full"] + stats["dropped_refused"] + stats["dropped_at_stop"]
        (log.warning if dropped else log.info)(
            "stopped; %d records written, %d dropped (%d queue full, %d refused, %d at stop)",
            stats["written"],
            dropped,
            stats["dropped_queue_full"],
            stats["dropped_refused"],
            stats["dropped_at_stop"],
        )
