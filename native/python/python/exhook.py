"""Decisions a python3 driver hook can return beyond the original three.

The original driver let a hook decide three things: ``(0, True|False)`` from
``on_client_authenticate`` and ``on_client_check_acl``, and ``(0, proplist)``
from ``on_message_publish`` to rewrite a message. This module, which the
driver puts on the interpreter's path, adds the others the broker allows:

======================  ==============================================
hook                    may return
======================  ==============================================
client_connect          :func:`refuse`
client_authenticate     :func:`allow_superuser`
client_subscribe        :func:`deny`, :func:`rewrite_filter`
message_publish         :func:`drop`, :func:`rewrite`
message_delivered       :func:`rewrite`
======================  ==============================================

``None`` still means "no opinion" everywhere, ``(1, reason)`` is still a
failure (the driver's failure policy answers), and a decision returned
from a hook it does not fit is a failure too.

``client_subscribe`` is called once for each topic filter of a SUBSCRIBE,
with a one-item list ``[(filter, qos)]``, so a decision applies to that
filter alone.

>>> import exhook
>>> def on_client_connect(conninfo, props, state):
...     if dict(conninfo).get(b"username") == b"mallory":
...         return exhook.refuse(exhook.BANNED)

:func:`settings` gives the driver's settings (``exhook.drivers.NAME.handler.KEY``
among them) to ``init()`` and ``deinit()``.
"""

import threading

__all__ = [
    "Decision",
    "Refuse",
    "AllowSuperuser",
    "DenyFilter",
    "RewriteFilter",
    "Drop",
    "Rewrite",
    "refuse",
    "allow_superuser",
    "deny",
    "rewrite_filter",
    "drop",
    "rewrite",
    "settings",
    "UNSPECIFIED_ERROR",
    "CLIENT_IDENTIFIER_NOT_VALID",
    "BAD_USERNAME_OR_PASSWORD",
    "NOT_AUTHORIZED",
    "SERVER_UNAVAILABLE",
    "SERVER_BUSY",
    "BANNED",
    "CONNECTION_RATE_EXCEEDED",
]

# MQTT 5 CONNACK reason codes; the broker maps them for MQTT 3.1.1 clients.
UNSPECIFIED_ERROR = 0x80
CLIENT_IDENTIFIER_NOT_VALID = 0x85
BAD_USERNAME_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87
SERVER_UNAVAILABLE = 0x88
SERVER_BUSY = 0x89
BANNED = 0x8A
CONNECTION_RATE_EXCEEDED = 0x9F


class Decision:
    """Base class of the decisions below; build them with the functions."""

    __slots__ = ()

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, s) == getattr(other, s) for s in self.__slots__
        )

    def __hash__(self):
        return hash((type(self),) + tuple(getattr(self, s) for s in self.__slots__))

    def __repr__(self):
        fields = ", ".join("%s=%r" % (s, getattr(self, s)) for s in self.__slots__)
        return "%s(%s)" % (type(self).__name__, fields)


class Refuse(Decision):
    """``client_connect``: refuse the connection with ``reason_code``."""

    __slots__ = ("reason_code",)

    def __init__(self, reason_code: int):
        if isinstance(reason_code, bool) or not isinstance(reason_code, int):
            raise TypeError("a reason code is an int")
        if not 0x80 <= reason_code <= 0xFF:
            raise ValueError("a CONNACK reason code that refuses is 0x80..0xFF")
        self.reason_code = reason_code


class AllowSuperuser(Decision):
    """``client_authenticate``: let the client in as a superuser (the
    broker then skips its ACL checks)."""

    __slots__ = ()


class DenyFilter(Decision):
    """``client_subscribe``: refuse this topic filter (0x80 in the SUBACK)."""

    __slots__ = ()


class RewriteFilter(Decision):
    """``client_subscribe``: subscribe to ``topic_filter`` instead, same options."""

    __slots__ = ("topic_filter",)

    def __init__(self, topic_filter: str):
        self.topic_filter = _text(topic_filter, "topic_filter")


class Drop(Decision):
    """``message_publish``: deliver the message to no one."""

    __slots__ = ()


class Rewrite(Decision):
    """``message_publish`` / ``message_delivered``: change the message
    (for one subscriber, in ``message_delivered``); ``None`` keeps a field."""

    __slots__ = ("topic", "payload", "qos")

    def __init__(self, topic=None, payload=None, qos=None):
        self.topic = None if topic is None else _text(topic, "topic")
        if payload is not None and not isinstance(payload, (bytes, str)):
            raise TypeError("payload must be bytes or str")
        self.payload = payload.encode() if isinstance(payload, str) else payload
        if qos is not None and (
            isinstance(qos, bool) or not isinstance(qos, int) or not 0 <= qos <= 2
        ):
            raise ValueError("qos must be 0, 1 or 2")
        self.qos = qos


def refuse(reason_code: int = NOT_AUTHORIZED) -> Refuse:
    """Refuse a connection (from ``on_client_connect``) with an MQTT reason code.

    >>> refuse(BANNED).reason_code == 0x8A
    True
    """
    return Refuse(reason_code)


def allow_superuser() -> AllowSuperuser:
    """Let a client in as a superuser (from ``on_client_authenticate``);
    ``(0, True)`` lets it in as an ordinary client.

    >>> allow_superuser()
    AllowSuperuser()
    """
    return _ALLOW_SUPERUSER


def deny() -> DenyFilter:
    """Refuse one topic filter of a SUBSCRIBE (from ``on_client_subscribe``).

    >>> deny()
    DenyFilter()
    """
    return _DENY


def rewrite_filter(topic_filter: str) -> RewriteFilter:
    """Subscribe to another topic filter (from ``on_client_subscribe``).

    >>> rewrite_filter("users/alice/inbox").topic_filter
    'users/alice/inbox'
    """
    return RewriteFilter(topic_filter)


def drop() -> Drop:
    """Drop a published message (from ``on_message_publish``).

    >>> drop()
    Drop()
    """
    return _DROP


def rewrite(topic=None, payload=None, qos=None) -> Rewrite:
    """Change a message's topic, payload (bytes or str) or QoS; from
    ``on_message_publish`` for everyone, from ``on_message_delivered`` for
    the one subscriber it is delivered to.

    >>> rewrite(topic="v2/a", qos=1)
    Rewrite(topic='v2/a', payload=None, qos=1)
    """
    return Rewrite(topic, payload, qos)


def _text(value, what):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError("%s must be str or bytes" % what)


def settings() -> dict:
    """The settings of the driver whose module is being loaded: what a
    Rust handler's ``Config`` holds, as a ``dict`` of text. The handler's
    own settings (``exhook.drivers.NAME.handler.KEY = VALUE`` in the
    plugin's conf) under their own names (``KEY``), the driver's keys
    (``path``, ``init_module``, ``call_timeout``, ...) and ``node``, the
    broker's node name. Where a key appears twice, the first value counts.

    Only while the driver imports its module, runs ``init()`` or runs
    ``deinit()``: keep what a hook needs in your State.

    Raises :class:`RuntimeError` anywhere else.
    """
    current = getattr(_loading, "settings", None)
    if current is None:
        raise RuntimeError(
            "exhook.settings() is only available while a driver's module is "
            "imported, in init() and in deinit()"
        )
    return dict(current)


# The settings of the driver this thread is loading or unloading, set by
# the driver's support code.
_loading = threading.local()

_ALLOW_SUPERUSER = AllowSuperuser()
_DENY = DenyFilter()
_DROP = Drop()
