"""The database example's work for the Python handler (``hooks.py`` beside
this package): logins from ``mqtt_users`` (Argon2id), ACL checks from a
snapshot of ``mqtt_acl``, online status, history and messages written in
batches by a thread of its own, on Python's ``sqlite3``, with the Rust
example's schema and statements (``sql/``). ``python -m exhook_db`` adds
users and rules. README.md beside ``hooks.py`` tells the rest.
"""

from .service import ALLOW, ALLOW_SUPERUSER, DENY, Service, Undecided
from .settings import Settings, SettingsError
from .store import ClientEvent, StoredMessage, now_ms

__all__ = [
    "ALLOW",
    "ALLOW_SUPERUSER",
    "DENY",
    "Service",
    "Undecided",
    "Settings",
    "SettingsError",
    "ClientEvent",
    "StoredMessage",
    "now_ms",
]
