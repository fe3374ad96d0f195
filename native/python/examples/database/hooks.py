"""The seed article's four jobs on a database, in the article's style: a
subclass of the PyPI SDK's ``EmqxHookSdk`` whose ``@hooks_handler()``
methods decide, and ``init()`` / ``deinit()``. The Python twin of the Rust
example native/examples/database, on Python's own ``sqlite3`` and the same
tables (a database made by either works with the other):

1. logins (``client_authenticate``) against ``mqtt_users`` (Argon2id);
2. publish/subscribe permissions (``client_check_acl``) from the rules in
   ``mqtt_acl``, kept in memory and reloaded every ``acl_refresh``;
3. online status (``mqtt_clients``) and history (``mqtt_client_history``)
   from ``client_connected`` / ``client_disconnected``;
4. messages on ``store_topics`` (``message_publish``) into ``mqtt_messages``.

Rows are written by a thread of the handler's own, in batches; a hook only
queues them. Settings come from the plugin's conf
(``exhook.drivers.NAME.handler.KEY``) through ``exhook.settings()``.
README.md beside this file has the config, the commands and the rest.

``on_message_publish`` is the one method without ``@hooks_handler()``: the
decorator decodes every bytes value as UTF-8, and a payload is binary data
(a non-UTF-8 one would fail the call, and with ``failed_action = deny``
the broker would drop the message). It reads the raw arguments instead.
"""

from emqx_extension.hooks import EmqxHookSdk, hooks_handler
from emqx_extension.types import EMQX_CLIENTINFO_PARSE_T

import exhook
from exhook_db import (
    ALLOW,
    ALLOW_SUPERUSER,
    ClientEvent,
    Service,
    Settings,
    SettingsError,
    StoredMessage,
    Undecided,
    now_ms,
)

# Disconnect reasons of a connection whose session a newer connection of
# the same clientid took: the row is the newer connection's.
SUPERSEDED = ("takeovered", "discarded")


def _undecided(why) -> tuple:
    """The driver's failure policy (``failed_action``) answers the call;
    ``why`` goes to the broker's log (never a password)."""
    return (1, "cannot decide: %s" % why)


def _text(value):
    """Text for the tables: NULL for the SDK's ``''`` (absent), NUL as
    U+FFFD (as the Rust example stores it: PostgreSQL's text cannot hold it)."""
    return value.replace("\0", "\ufffd") if value else None


class DatabaseHook(EmqxHookSdk):
    service: Service = None

    @hooks_handler()
    def on_client_authenticate(self, clientinfo: EMQX_CLIENTINFO_PARSE_T, authresult, state):
        try:
            login = self.service.login(clientinfo.username, clientinfo.password)
        except Undecided as why:
            return _undecided(why)
        if login == ALLOW_SUPERUSER:
            return exhook.allow_superuser()
        return login == ALLOW

    @hooks_handler()
    def on_client_check_acl(self, clientinfo: EMQX_CLIENTINFO_PARSE_T, pubsub, topic, result, state):
        try:
            verdict = self.service.check_acl(
                clientinfo.username or None, clientinfo.clientid, pubsub, topic
            )
        except Undecided as why:
            return _undecided(why)
        if verdict == "ignore":
            return None
        return verdict == "allow"

    @hooks_handler()
    def on_client_connected(self, clientinfo: EMQX_CLIENTINFO_PARSE_T, state):
        at = now_ms()
        self.service.record(self._event("connected", clientinfo, at, connected_at=at))

    @hooks_handler()
    def on_client_disconnected(self, clientinfo: EMQX_CLIENTINFO_PARSE_T, reason, state):
        self.service.record(
            self._event(
                "disconnected",
                clientinfo,
                now_ms(),
                reason=reason,
                superseded=reason in SUPERSEDED,
            )
        )

    def _event(self, event, clientinfo, at, connected_at=None, reason=None, superseded=False):
        return ClientEvent(
            event=event,
            clientid=_text(clientinfo.clientid) or "",
            username=_text(clientinfo.username),
            node=self.service.settings.node,
            # The driver hands the peer's address without its port, and
            # neither the protocol version nor the connection's own times.
            peer=_text(clientinfo.peerhost),
            protocol=_text(clientinfo.protocol),
            proto_ver=None,
            connected_at=connected_at,
            at=at,
            reason=_text(reason),
            superseded=superseded,
        )

    def on_message_publish(self, message, state):
        """Raw arguments (see the module's docstring). Only messages on
        ``store_topics`` get here; storing never changes the message."""
        try:
            self.service.record(self._message(dict(message)))
        except Exception:
            # Storing must never cost the message: an exception here would
            # get failed_action, which drops it by default.
            self.service.log_failure("a message could not be queued for storing")
        return None

    def _message(self, fields):
        return StoredMessage(
            msgid=fields[b"id"].decode(),
            topic=_text(fields[b"topic"].decode()),
            qos=fields[b"qos"],
            payload=bytes(fields[b"payload"]),
            publisher=_text(fields[b"from"].decode("utf-8", "replace")) or "",
            # Not in the driver's message: stored as unknown, not retained.
            username=None,
            retain=False,
            published_at=fields[b"timestamp"],
            node=self.service.settings.node,
        )


emqx_hook = DatabaseHook(hook_module=f"{__name__}.emqx_hook")


def init():
    try:
        settings = Settings.from_lookup(exhook.settings().get)
    except SettingsError as e:
        return (1, str(e))
    emqx_hook.service = Service(settings)
    code, (specs, state) = emqx_hook.start(topics=settings.store_topics)
    if not settings.store_topics:
        # No topic filter would mean every message: store none instead.
        specs = [spec for spec in specs if spec[0] != "message_publish"]
    return code, (specs, state)


def deinit():
    emqx_hook.service.stop()
