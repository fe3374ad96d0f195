"""ACL rules as EMQX's ``acl.conf`` has them, from the table ``mqtt_acl``,
compiled into an in-memory snapshot: who (all, a username, a clientid),
action (publish, subscribe, pubsub), a topic filter, allow or deny; the
first rule in ``(seq, id)`` order that applies decides.

The same rules, matched the same way, as the Rust example's
``src/acl.rs``: ``%u`` and ``%c`` stand for whole levels and compare as
literal text (a username ``+`` is no wildcard; a rule with ``%u`` never
matches a client without a username); ``eq TOPIC`` matches that exact
filter only; a wildcard first level never matches a ``$`` topic; a rule's
``+`` does not grant a subscription's ``#``.
"""

from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

__all__ = ["Rule", "RuleError", "Snapshot", "check_filter", "ALLOW", "DENY", "IGNORE"]

ALLOW, DENY, IGNORE = "allow", "deny", "ignore"

_WHO = ("all", "username", "clientid")
_ACTIONS = ("publish", "subscribe", "pubsub")
_PERMISSIONS = (ALLOW, DENY)

# Levels of a compiled filter besides literal words.
_PLUS, _HASH, _USERNAME, _CLIENTID = object(), object(), object(), object()
_SPECIAL = {"+": _PLUS, "#": _HASH, "%u": _USERNAME, "%c": _CLIENTID}


class RuleError(ValueError):
    """A rule that does not parse; the text names its id."""


class Rule(NamedTuple):
    """A row of ``mqtt_acl``, as the table holds it."""

    id: int
    who: str
    name: Optional[str]
    action: str
    topic: str
    permission: str


def check_filter(topic_filter: str) -> None:
    """Raises :class:`ValueError` unless ``topic_filter`` is a valid MQTT
    topic filter (the Rust SDK's ``TopicFilter::parse`` rules: not empty,
    no NUL, ``+`` and ``#`` alone in their level, ``#`` last)."""
    if not topic_filter:
        raise ValueError("empty topic filter")
    if "\0" in topic_filter:
        raise ValueError("topic filter %r holds NUL" % topic_filter)
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if ("+" in level or "#" in level) and len(level) > 1:
            raise ValueError("topic filter %r: a wildcard must be a whole level" % topic_filter)
        if level == "#" and i + 1 != len(levels):
            raise ValueError("topic filter %r: # must be the last level" % topic_filter)


def _pattern(topic: str):
    """A compiled topic: ``str`` for ``eq TOPIC``, else a tuple of levels."""
    if topic.startswith("eq "):
        exact = topic[3:]
        if not exact:
            raise ValueError("eq needs a topic")
        return exact
    check_filter(topic)
    return tuple(_SPECIAL.get(level, level) for level in topic.split("/"))


def _matches(pattern, username: Optional[str], clientid: str, topic: str) -> bool:
    if isinstance(pattern, str):
        return pattern == topic
    if topic.startswith("$") and pattern and pattern[0] in (_PLUS, _HASH):
        return False
    words = topic.split("/")
    for i, level in enumerate(pattern):
        if level is _HASH:
            return True
        if i >= len(words):
            return False
        word = words[i]
        if level is _PLUS:
            if word == "#":
                return False
        elif level is _USERNAME:
            if username != word:
                return False
        elif level is _CLIENTID:
            if clientid != word:
                return False
        elif level != word:
            return False
    return len(words) == len(pattern)


class Snapshot:
    """The rules in table order, indexed by who they apply to. Immutable
    once compiled: the refresh thread replaces the whole snapshot, and a
    check reads whichever snapshot it found, without a lock."""

    __slots__ = ("_rules", "_for_all", "_by_username", "_by_clientid")

    def __init__(self, rows: Sequence[Rule] = ()):
        """Compiles rows already in table order. A row that does not parse
        fails the whole snapshot (skipping a deny rule would open access)
        with :class:`RuleError` naming the row."""
        self._rules: List[Tuple[bool, bool, object, bool]] = []
        self._for_all: List[int] = []
        self._by_username: Dict[str, List[int]] = {}
        self._by_clientid: Dict[str, List[int]] = {}
        for index, row in enumerate(rows):
            try:
                if row.who not in _WHO:
                    raise ValueError("who = %r: expected all, username or clientid" % row.who)
                if row.who != "all" and row.name is None:
                    raise ValueError("who = %s needs a name" % row.who)
                if row.action not in _ACTIONS:
                    raise ValueError(
                        "action = %r: expected publish, subscribe or pubsub" % row.action
                    )
                if row.permission not in _PERMISSIONS:
                    raise ValueError("permission = %r: expected allow or deny" % row.permission)
                try:
                    pattern = _pattern(row.topic)
                except ValueError as e:
                    raise ValueError("topic: %s" % e) from None
            except ValueError as e:
                raise RuleError("ACL rule id %s: %s" % (row.id, e)) from None
            publish = row.action in ("publish", "pubsub")
            subscribe = row.action in ("subscribe", "pubsub")
            self._rules.append((publish, subscribe, pattern, row.permission == ALLOW))
            if row.who == "all":
                self._for_all.append(index)
            elif row.who == "username":
                self._by_username.setdefault(row.name, []).append(index)
            else:
                self._by_clientid.setdefault(row.name, []).append(index)

    def __len__(self) -> int:
        return len(self._rules)

    def check(
        self,
        username: Optional[str],
        clientid: str,
        action: str,
        topic: str,
        no_match: str = IGNORE,
    ) -> str:
        """``allow`` or ``deny`` from the first rule, in table order, that
        applies to the client, covers ``action`` (``publish`` or
        ``subscribe``) and matches ``topic``; ``no_match`` when none does.

        >>> s = Snapshot([Rule(1, "all", None, "pubsub", "users/%u/#", "allow")])
        >>> s.check("alice", "c1", "publish", "users/alice/x"), s.check("bob", "c1", "publish", "users/alice/x")
        ('allow', 'ignore')
        """
        publish = action == "publish"
        candidates = self._for_all
        own = []
        if username is not None and username in self._by_username:
            own.extend(self._by_username[username])
        if clientid in self._by_clientid:
            own.extend(self._by_clientid[clientid])
        if own:
            candidates = sorted(candidates + own)
        for index in candidates:
            for_publish, for_subscribe, pattern, allow = self._rules[index]
            if (for_publish if publish else for_subscribe) and _matches(
                pattern, username, clientid, topic
            ):
                return ALLOW if allow else DENY
        return no_match
