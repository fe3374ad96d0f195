"""Reports at most once per interval: a database that is down fails every
login and every write, and one line per interval says so as well as a
thousand would (the Rust example's ``src/throttle.rs``)."""

import logging
import threading
import time
from typing import Callable

__all__ = ["Throttle", "Health", "log"]

log = logging.getLogger("exhook_db")


class Throttle:
    """Runs a report at most once per ``interval`` seconds."""

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._last = None
        self._held_back = 0

    def hit(self, report: Callable[[int], None]) -> None:
        """Calls ``report(n)``, ``n`` being the events held back since the
        last report, unless one ran less than ``interval`` ago (then this
        one is counted)."""
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._held_back += 1
                return
            self._last = now
            held_back, self._held_back = self._held_back, 0
        report(held_back)


class Health:
    """Whether the database answers, shared by logins, the ACL refresh and
    the writer, so that an outage is logged once per interval in all, and
    so is its end."""

    def __init__(self, what: str, interval: float):
        self.what = what
        self.down = False
        self._failures = Throttle(interval)
        self._recoveries = Throttle(interval)

    def failed(self, error: Exception) -> None:
        """The database did not answer (``error`` is transient)."""
        self.down = True

        def report(held_back):
            if held_back:
                log.error(
                    "%s still unavailable: %s (%d more failures since the last report)",
                    self.what,
                    error,
                    held_back,
                )
            else:
                log.error("%s unavailable: %s", self.what, error)

        self._failures.hit(report)

    def ok(self) -> None:
        """The database answered."""
        if self.down:
            self.down = False
            self._recoveries.hit(lambda _: log.warning("%s available again", self.what))
