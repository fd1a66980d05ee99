"""Authentication data of Map-Register, Map-Notify, Map-Notify-Ack and Info (RFC 6833 / 9301).

Every authenticated LISP control message starts the same way::

    word0 (32) | Nonce (64)
    6830: Key ID (16)                   | Authentication Data Length (16)
    9301: Key ID (8) | Algorithm ID (8) | Authentication Data Length (16)
    Authentication Data (at byte 16, Authentication Data Length bytes) | rest of the message

The HMAC covers the whole message (the UDP payload, from the Type nibble to the last byte,
xTR-ID/Site-ID trailer included) with the Authentication Data bytes set to zero; Key ID,
Algorithm ID and the length keep their values (RFC 6833 sec. 6.1.6 / RFC 9301 sec. 5.6 [R];
LISPmob and lispers.net code [C]).

The two Key ID layouts are wire-compatible: legacy Key ID 1 (HMAC-SHA-1-96) and 2
(HMAC-SHA-256-128) are 9301 Key ID 0 with Algorithm ID 1 and 2. So the algorithm is always the
low byte of the raw 16-bit field and the 9301 Key ID (which pre-shared secret) the high byte.

Deployed implementations (LISPmob, OOR, VPP, lispers.net, tcpdump's vectors) send the full
20-byte (SHA-1) / 32-byte (SHA-256) digest although the names say 96/128 bits; both forms
are accepted and the first ``auth_len`` bytes of the computed HMAC are compared.

Algorithm 3 (HMAC-SHA256-128+HKDF-SHA256, RFC 9301) derives a per-message key with HKDF from
the nonce, a message-specific string and the pre-shared key. Its exact HKDF inputs (salt/info
split, encoding) could not be verified from a readable source, so it is NOT implemented:
:func:`verify` returns ``None`` for it and :func:`sign` refuses it.

API (all on raw message bytes, so it works for every message type above):

* :func:`verify` ``(raw, key) -> bool | None`` - True/False, or None when there is nothing to
  check (no auth data, algorithm 0, unknown or unimplemented algorithm, no key);
* :func:`check` - the same, appending the ``lisp.auth.bad_hmac`` anomaly to a list on False;
* :func:`checked` - the same on a decoded message value, returning a copy with the anomaly;
* :func:`sign` ``(raw, key) -> bytes`` - the message with its Authentication Data filled in;
* :class:`Authenticated` - mixin for the message classes: ``key_id_9301``, ``algorithm_id``,
  ``sign(key)`` (a copy with the auth data filled in), ``verify(key)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from enum import IntEnum
from typing import Any, Self, TypeVar

from dissectors.core import Anomaly, Fields, Reader, Value, anomaly_code

AUTH_OFFSET = 16  # word0 (4) + nonce (8) + key id (2) + auth length (2)


class Algorithm(IntEnum):
    """The low byte of the Key ID field (RFC 9301 Algorithm ID; RFC 6833 Key ID 0-2)."""

    NONE = 0
    HMAC_SHA_1_96 = 1
    HMAC_SHA_256_128 = 2
    HMAC_SHA_256_128_HKDF_SHA256 = 3


_HASHES: dict[int, Callable[..., Any]] = {
    Algorithm.HMAC_SHA_1_96: hashlib.sha1,
    Algorithm.HMAC_SHA_256_128: hashlib.sha256,
}
# Accepted Authentication Data lengths per algorithm: truncated (RFC name) and full digest.
VALID_LENGTHS: dict[int, tuple[int, ...]] = {
    Algorithm.HMAC_SHA_1_96: (12, 20),
    Algorithm.HMAC_SHA_256_128: (16, 32),
    Algorithm.HMAC_SHA_256_128_HKDF_SHA256: (16, 32),
}
FULL_LENGTH: dict[int, int] = {
    Algorithm.HMAC_SHA_1_96: 20,
    Algorithm.HMAC_SHA_256_128: 32,
    Algorithm.HMAC_SHA_256_128_HKDF_SHA256: 32,
}

BAD_HMAC = anomaly_code(
    "lisp.auth.bad_hmac",
    "error",
    "the Authentication Data does not match the HMAC computed with the given key",
)
BAD_AUTH_LENGTH = anomaly_code(
    "lisp.auth.bad_length",
    "warn",
    "Authentication Data Length is none of the algorithm's lengths (SHA-1: 12/20, SHA-256: 16/32)",
)
NO_ALGORITHM_WITH_DATA = anomaly_code(
    "lisp.auth.data_without_algorithm",
    "warn",
    "Key ID / Algorithm ID 0 (no authentication) but Authentication Data is present",
)
ALGORITHM_WITHOUT_DATA = anomaly_code(
    "lisp.auth.algorithm_without_data",
    "warn",
    "an authentication algorithm is named but the Authentication Data is empty",
)
UNKNOWN_ALGORITHM = anomaly_code(
    "lisp.auth.unknown_algorithm",
    "note",
    "Algorithm ID (low byte of the Key ID) is not 0-3; the data cannot be checked",
)


def algorithm_of(key_id: int) -> int:
    """The algorithm of a raw 16-bit Key ID field (its low byte)."""
    return key_id & 0xFF


def key_id_9301_of(key_id: int) -> int:
    """The RFC 9301 Key ID (which pre-shared secret) of a raw 16-bit Key ID field."""
    return key_id >> 8


def check_fields(r: Reader, key_id: int, auth_len: int, offset: int) -> None:
    """Anomalies for an inconsistent Key ID / Authentication Data Length pair (at decode)."""
    alg = algorithm_of(key_id)
    if alg == Algorithm.NONE:
        if auth_len:
            r.anomaly(NO_ALGORITHM_WITH_DATA, f"key id 0x{key_id:04x}, {auth_len} bytes", offset)
        return
    if alg not in VALID_LENGTHS:
        r.anomaly(UNKNOWN_ALGORITHM, f"key id 0x{key_id:04x}: algorithm {alg}", offset)
        return
    if auth_len == 0:
        r.anomaly(ALGORITHM_WITHOUT_DATA, f"key id 0x{key_id:04x}", offset)
    elif auth_len not in VALID_LENGTHS[alg]:
        r.anomaly(
            BAD_AUTH_LENGTH, f"algorithm {alg}: {auth_len} bytes, not {VALID_LENGTHS[alg]}", offset
        )


_AUTH_FIELDS: dict[tuple[str, ...], Fields] = {}  # Key ID + Authentication Data Length, by aliases


def read_auth(
    r: Reader, aliases: tuple[str, ...] = ("key_id_9301", "algorithm_id")
) -> tuple[int, bytes]:
    """Read Key ID, Authentication Data Length and the data; check them. (key id, data).

    ``aliases``: the names that share the Key ID's span (the 9301 Key ID / Algorithm ID views).
    """
    start = r.pos
    layout = _AUTH_FIELDS.get(aliases)
    if layout is None:
        layout = _AUTH_FIELDS[aliases] = Fields(("key_id", 2, *aliases), ("auth_len", 2))
    key_id, auth_len = r.fields(layout)
    auth_data = r.raw(auth_len, "auth_data")
    check_fields(r, key_id, auth_len, start)
    return key_id, auth_data


def build_auth(key_id: int, auth_data: bytes) -> bytes:
    """Key ID, Authentication Data Length and the data, as on the wire."""
    if len(auth_data) > 0xFFFF:
        raise ValueError("authentication data longer than 65535 bytes")
    return key_id.to_bytes(2, "big") + len(auth_data).to_bytes(2, "big") + auth_data


def _header(raw: bytes) -> tuple[int, int] | None:
    """(key id, auth length) of ``raw``, or None if the auth data does not fit."""
    if len(raw) < AUTH_OFFSET:
        return None
    key_id = int.from_bytes(raw[12:14], "big")
    auth_len = int.from_bytes(raw[14:16], "big")
    if AUTH_OFFSET + auth_len > len(raw):
        return None
    return key_id, auth_len


def zeroed(raw: bytes) -> bytes:
    """``raw`` with its Authentication Data bytes set to zero (what the HMAC covers)."""
    head = _header(raw)
    if head is None:
        raise ValueError("message too short for its Authentication Data")
    auth_len = head[1]
    return raw[:AUTH_OFFSET] + bytes(auth_len) + raw[AUTH_OFFSET + auth_len :]


def compute(raw: bytes, key: bytes, algorithm: int | None = None) -> bytes | None:
    """The full HMAC digest of ``raw`` (auth data zeroed), or None for an algorithm this module
    cannot compute (0, 3 - see the module docstring - or unknown). ``algorithm`` defaults to
    the one named in the message's Key ID field."""
    head = _header(raw)
    if head is None:
        raise ValueError("message too short for its Authentication Data")
    alg = algorithm_of(head[0]) if algorithm is None else algorithm
    digest = _HASHES.get(alg)
    if digest is None:
        return None
    return hmac.new(key, zeroed(raw), digest).digest()


def verify(raw: bytes | bytearray | memoryview, key: bytes | None) -> bool | None:
    """Check the Authentication Data of a whole message against ``key``.

    True/False when it can be checked; None when there is no key, no auth data, algorithm 0,
    an unknown or unimplemented (3) algorithm, an auth length the algorithm cannot produce,
    or a message too short to hold its auth data. Never guessed.
    """
    raw = bytes(raw)
    head = _header(raw)
    if key is None or head is None:
        return None
    key_id, auth_len = head
    alg = algorithm_of(key_id)
    if auth_len == 0 or alg not in _HASHES or auth_len not in VALID_LENGTHS[alg]:
        return None
    mac = compute(raw, key, alg)
    assert mac is not None
    return hmac.compare_digest(mac[:auth_len], raw[AUTH_OFFSET : AUTH_OFFSET + auth_len])


def check(
    raw: bytes | bytearray | memoryview, key: bytes | None, anomalies: list[Anomaly]
) -> bool | None:
    """:func:`verify`, appending a ``lisp.auth.bad_hmac`` anomaly to ``anomalies`` on False."""
    result = verify(raw, key)
    if result is False:
        anomalies.append(Anomaly(BAD_HMAC, AUTH_OFFSET, "HMAC mismatch"))
    return result


def sign(raw: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """``raw`` with its Authentication Data replaced by the HMAC (first ``auth_len`` bytes).

    Key ID and length are taken from the message; raises ValueError when the algorithm cannot
    be computed here or the length is not one of the algorithm's.
    """
    raw = bytes(raw)
    head = _header(raw)
    if head is None:
        raise ValueError("message too short for its Authentication Data")
    key_id, auth_len = head
    alg = algorithm_of(key_id)
    if alg not in _HASHES:
        raise ValueError(f"cannot sign with algorithm {alg} (key id 0x{key_id:04x})")
    if auth_len not in VALID_LENGTHS[alg]:
        raise ValueError(f"auth length {auth_len} is not one of {VALID_LENGTHS[alg]}")
    mac = compute(raw, key, alg)
    assert mac is not None
    return raw[:AUTH_OFFSET] + mac[:auth_len] + raw[AUTH_OFFSET + auth_len :]


M = TypeVar("M", bound=Value)


def checked(msg: M, key: bytes | None) -> tuple[bool | None, M]:
    """Verify a decoded message; on False return a copy carrying the bad-HMAC anomaly."""
    result = verify(msg.build(), key)
    if result is False:
        bad = Anomaly(BAD_HMAC, AUTH_OFFSET, "HMAC mismatch")
        copy = dataclasses.replace(msg, anomalies=(*msg.anomalies, bad))  # type: ignore[type-var]
        object.__setattr__(copy, "spans", msg.spans)
        return result, copy
    return result, msg


class Authenticated:
    """Mixin for messages with ``key_id`` and ``auth_data`` fields (slots-compatible)."""

    __slots__ = ()
    key_id: int
    auth_data: bytes

    @property
    def key_id_9301(self) -> int:
        """RFC 9301 Key ID: the high byte of the 16-bit field (which pre-shared secret)."""
        return key_id_9301_of(self.key_id)

    @property
    def algorithm_id(self) -> int:
        """RFC 9301 Algorithm ID: the low byte (= the RFC 6833 Key ID 0/1/2)."""
        return algorithm_of(self.key_id)

    @property
    def auth_len(self) -> int:
        return len(self.auth_data)

    def sign(self, key: bytes, length: int | None = None) -> Self:
        """A copy whose Authentication Data is the HMAC of the message under ``key``.

        ``length``: digest bytes to send; default the current auth data's length, or the full
        digest (20 for SHA-1, 32 for SHA-256) when the message has no auth data yet.
        """
        alg = self.algorithm_id
        if alg not in _HASHES:
            raise ValueError(f"cannot sign with algorithm {alg} (key id 0x{self.key_id:04x})")
        n = length if length is not None else (len(self.auth_data) or FULL_LENGTH[alg])
        blank = dataclasses.replace(self, auth_data=bytes(n))  # type: ignore[type-var]
        raw = sign(blank.build(), key)  # type: ignore[attr-defined]
        return dataclasses.replace(self, auth_data=raw[AUTH_OFFSET : AUTH_OFFSET + n])  # type: ignore[type-var]

    def verify(self, key: bytes | None) -> bool | None:
        """:func:`verify` on this message's bytes."""
        return verify(self.build(), key)  # type: ignore[attr-defined]
