"""Online status, history and messages are written by a thread of the
handler's own, in batches, off the broker's path: a hook only queues a
record (a lock and an append, no I/O). The Rust example's ``src/writer.rs``.

The queue is bounded by records and by bytes, counting the batch being
written: while the database is down records wait, in order, up to the
bound, and the ones that find it full are dropped and counted. When the
database answers again the writer catches up by itself. Closing writes
what is queued, trying for at most ``flush_timeout``.
"""

import collections
import sqlite3
import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from .store import DbError, Record, record_size
from .throttle import Throttle, log

__all__ = ["Limits", "WriteQueue", "COUNTERS"]

# The counters, as the Rust example's WriteStats names them.
COUNTERS = (
    "waiting",
    "written",
    "dropped_queue_full",
    "dropped_refused",
    "dropped_at_stop",
    "failed_writes",
)


class Limits(NamedTuple):
    max_records: int
    max_bytes: int
    batch_size: int
    batch_interval: float
    flush_timeout: float


# Writes one batch in one transaction; raises DbError.
WriteBatch = Callable[[Sequence[Record]], None]


class WriteQueue:
    def __init__(self, limits: Limits, log_interval: float):
        self.limits = limits
        self._cond = threading.Condition()
        self._items: "collections.deque" = collections.deque()
        self._waiting = 0  # queued or being written
        self._waiting_bytes = 0
        self._flush_until: Optional[float] = None
        self._counts = dict.fromkeys(COUNTERS[1:], 0)
        self._full_log = Throttle(log_interval)
        self._refused_log = Throttle(log_interval)

    def push(self, record: Record) -> bool:
        """Queues ``record``; ``False`` (and counted) when the queue is full
        or closed. Never blocks beyond the queue's lock, never does I/O."""
        size = record_size(record)
        with self._cond:
            if self._flush_until is not None:
                self._counts["dropped_at_stop"] += 1
                return False
            if (
                self._waiting >= self.limits.max_records
                or self._waiting_bytes + size > self.limits.max_bytes
            ):
                self._counts["dropped_queue_full"] += 1
                dropped = self._counts["dropped_queue_full"]
            else:
                self._items.append((record, size))
                self._waiting += 1
                self._waiting_bytes += size
                if len(self._items) >= self.limits.batch_size:
                    self._cond.notify()
                return True
        self._full_log.hit(
            lambda held_back: log.warning(
                "write queue full (%d records or %d bytes waiting): records are dropped, "
                "%d so far",
                self.limits.max_records,
                self.limits.max_bytes,
                dropped,
            )
        )
        return False

    def stats(self) -> Dict[str, int]:
        """The counters (:data:`COUNTERS`): records waiting, written, and
        dropped (queue full, refused by the database, left at stop), and
        batch writes that failed and were tried again."""
        with self._cond:
            return dict(self._counts, waiting=self._waiting)

    def close(self) -> None:
        """Stops taking records; the writer writes what is queued (for at
        most ``flush_timeout``) and returns."""
        with self._cond:
            if self._flush_until is None:
                self._flush_until = time.monotonic() + self.limits.flush_timeout
            self._cond.notify_all()

    def _next_batch(self) -> Optional[List]:
        """Waits until ``batch_size`` records are queued or
        ``batch_interval`` passed; ``None`` once closed and empty."""
        with self._cond:
            until = time.monotonic() + self.limits.batch_interval
            while len(self._items) < self.limits.batch_size and self._flush_until is None:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if not self._items and self._flush_until is not None:
                return None
            n = min(len(self._items), self.limits.batch_size)
            return [self._items.popleft() for _ in range(n)]

    def run_writer(self, write: WriteBatch) -> None:
        """The writer thread's body: batches until closed and flushed."""
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                records = [record for record, _ in batch]
                try:
                    self._write_batch(write, records)
                except Exception:
                    # A bug must not end the writer: nothing would be
                    # written again, silently.
                    self._count("dropped_refused", len(records))
                    log.exception("writing a batch failed; its %d records are dropped", len(records))
            with self._cond:
                self._waiting -= len(batch)
                self._waiting_bytes -= sum(size for _, size in batch)

    def _write_batch(self, write: WriteBatch, records: List[Record]) -> None:
        outcome = self._write_with_retry(write, records)
        if outcome is None:
            self._count("written", len(records))
        elif outcome == "gave up":
            self._count("dropped_at_stop", len(records))
        else:
            # One record spoils the transaction: one by one, to keep the others.
            for record in records:
                outcome = self._write_with_retry(write, [record])
                if outcome is None:
                    self._count("written", 1)
                elif outcome == "gave up":
                    self._count("dropped_at_stop", 1)
                else:
                    self._count("dropped_refused", 1)
                    self._refused_log.hit(
                        lambda held_back, e=outcome: log.error(
                            "the database refused a record, dropped: %s "
                            "(%d more since the last report)",
                            e,
                            held_back,
                        )
                    )

    def _write_with_retry(self, write: WriteBatch, records: List[Record]):
        """``None`` once written, the :class:`DbError` when refused, or
        ``"gave up"`` when closing and past ``flush_timeout``."""
        pause = 0.05
        while True:
            try:
                write(records)
                return None
            except DbError as e:
                if not e.transient:
                    return e
            except sqlite3.Error as e:  # raised outside store.write: a bug, but transient
                log.error("writing a batch: %s", e)
            self._count("failed_writes", 1)
            if not self._pause(pause):
                return "gave up"
            pause = min(pause * 2, 2.0)

    def _pause(self, pause: float) -> bool:
        """Waits ``pause`` before trying again (less when closing);
        ``False`` once closing and past the flush deadline."""
        with self._cond:
            if self._flush_until is None:
                self._cond.wait(pause)
                return True
            left = self._flush_until - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        return True

    def _count(self, counter: str, n: int) -> None:
        with self._cond:
            self._counts[counter] += n
