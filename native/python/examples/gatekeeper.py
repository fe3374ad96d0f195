"""The Python twin of native/examples/gatekeeper: every kind of decision a
python3 driver hook can take.

- CONNECT from a banned user is refused with reason code 0x8A (Banned),
  and their login denied should it get that far;
- SUBSCRIBE to ``#`` is denied, ``private/X`` becomes ``users/USERNAME/X``
  (denied without a username);
- messages published to ``blocked/#`` are dropped, ``legacy/X`` is
  republished as ``v2/X`` at QoS 1;
- each subscriber of ``p/#`` receives the payload tagged with its clientid.

Config::

    exhook.drivers = gatekeeper
    exhook.drivers.gatekeeper.kind = python3
    exhook.drivers.gatekeeper.path = /path/to/native/python/examples
    exhook.drivers.gatekeeper.init_module = gatekeeper
"""

import exhook

# Usernames refused at CONNECT (and at login, should CONNECT let them by).
BANNED_USERS = {b"bad"}

HOOKS = [
    ("client_connect", []),
    ("client_authenticate", []),
    ("client_subscribe", []),
    ("message_publish", [("topics", ["blocked/#", "legacy/#"])]),
    ("message_delivered", [("topics", ["p/#"])]),
]


def init():
    """Registers the five hooks below; no state."""
    specs = [(hook, __name__, "on_" + hook, opts) for hook, opts in HOOKS]
    return (0, (specs, None))


def deinit():
    pass


def on_client_connect(conninfo, props, state):
    """Banned users are refused before authentication."""
    if dict(conninfo)[b"username"] in BANNED_USERS:
        return exhook.refuse(exhook.BANNED)
    return None


def on_client_authenticate(clientinfo, authresult, state):
    if dict(clientinfo)[b"username"] in BANNED_USERS:
        return (0, False)
    return None


def on_client_subscribe(clientinfo, props, topic_filters, state):
    """``#`` (everything) is denied; ``private/X`` becomes ``users/USERNAME/X``.

    Called once per topic filter: ``topic_filters`` is ``[(filter, qos)]``.
    """
    [(topic_filter, _qos)] = topic_filters
    if topic_filter == b"#":
        return exhook.deny()
    if topic_filter.startswith(b"private/"):
        username = dict(clientinfo)[b"username"]
        if not username:
            return exhook.deny()
        rest = topic_filter[len(b"private/"):]
        return exhook.rewrite_filter(b"users/" + username + b"/" + rest)
    return None


def on_message_publish(message, state):
    """``blocked/#`` is dropped; ``legacy/X`` is republished as ``v2/X`` at QoS 1."""
    topic = dict(message)[b"topic"]
    if topic.startswith(b"blocked/"):
        return exhook.drop()
    if topic.startswith(b"legacy/"):
        return exhook.rewrite(topic=b"v2/" + topic[len(b"legacy/"):], qos=1)
    return None


def on_message_delivered(clientinfo, message, state):
    """Each subscriber receives the payload tagged with its clientid."""
    clientid = dict(clientinfo)[b"clientid"]
    payload = dict(message)[b"payload"]
    return exhook.rewrite(payload=payload + b" (for " + clientid + b")")
