"""Salted password hashes: Argon2id (RFC 9106) in the PHC string format
(``$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH``), the Rust example's scheme
(``src/password.rs``), so either tool's users log in through either
handler. Python's standard library has no Argon2; ``argon2-cffi`` (the
maintained binding of the reference C implementation, with prebuilt
wheels) verifies and makes them. Each hash carries its salt and cost; a
login is verified with the cost stored with it.
"""

from typing import NamedTuple, Union

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["Cost", "DEFAULT_COST", "MAX_COST", "HashError", "hash_password", "verify", "decoy_verify"]


class Cost(NamedTuple):
    """Argon2id parameters."""

    memory_kib: int
    iterations: int
    parallelism: int


# OWASP's minimum for Argon2id, the Rust example's default.
DEFAULT_COST = Cost(memory_kib=19 * 1024, iterations=2, parallelism=1)

# The largest cost a stored hash may ask of a login: one row must not make
# every login allocate gigabytes.
MAX_COST = Cost(memory_kib=256 * 1024, iterations=16, parallelism=8)

# The Rust example's salt and hash lengths (bytes).
_SALT_LEN, _HASH_LEN = 16, 32


class HashError(ValueError):
    """A stored hash this handler does not accept: not Argon2id,
    malformed, or above :data:`MAX_COST`."""


def _check(cost: Cost) -> None:
    if any(c > m for c, m in zip(cost, MAX_COST)):
        raise HashError("cost %s is above the limit %s" % (tuple(cost), tuple(MAX_COST)))


def _hasher(cost: Cost) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=cost.iterations,
        memory_cost=cost.memory_kib,
        parallelism=cost.parallelism,
        hash_len=_HASH_LEN,
        salt_len=_SALT_LEN,
        type=argon2.Type.ID,
    )


def hash_password(password: Union[str, bytes], cost: Cost = DEFAULT_COST) -> str:
    """A new hash of ``password`` with a fresh random salt.

    >>> hash_password("s3cret", Cost(64, 1, 1)).startswith("$argon2id$v=19$m=64,t=1,p=1$")
    True
    """
    _check(cost)
    return _hasher(cost).hash(password)


def verify(password: Union[str, bytes], stored: str) -> bool:
    """Whether ``password`` matches ``stored``; :class:`HashError` when
    ``stored`` is not a hash this handler accepts. Releases the GIL while
    it hashes (cffi), so other hooks run meanwhile."""
    try:
        params = argon2.extract_parameters(stored)
    except InvalidHashError as e:
        raise HashError("stored hash: %s" % (str(e) or "not an Argon2 PHC string")) from None
    if params.type is not argon2.Type.ID:
        raise HashError("stored hash uses argon2%s, not argon2id" % params.type.name.lower())
    _check(Cost(params.memory_cost, params.time_cost, params.parallelism))
    try:
        return argon2.PasswordHasher().verify(stored, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError) as e:
        raise HashError("verification failed: %s" % e) from None


# A hash of nothing at the default cost (the Rust example's): an unknown
# username is checked against it, so that it takes as long to refuse as a
# wrong password and the timing does not tell which usernames exist.
_DECOY = (
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZS1kZWNveS1zYWx0"
    "$GfX1Czc3LIiv0t1iijc4D9jW/DHP9dlzmYM7pqDJbN4"
)


def decoy_verify(password: Union[str, bytes]) -> None:
    """Spends what a verification at the default cost spends."""
    verify(password, _DECOY)
