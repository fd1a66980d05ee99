"""The LISP control message header and the dispatch on its Type field.

Every control message starts with a 32-bit word whose top 4 bits are the Type. Each message
class sets ``TYPE`` and registers with :func:`register_control`; :func:`parse_control`
decodes any control message, keeping an unknown type as :class:`UnknownControl` with an
anomaly rather than failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeVar

from dissectors.core import (
    RESERVED_BITS,
    TRAILING_BYTES,
    Fields,
    Malformed,
    Reader,
    Truncated,
    Value,
    anomaly_code,
    attach,
)

UNKNOWN_TYPE = anomaly_code(
    "lisp.unknown_type", "warn", "LISP control message type this decoder does not know; kept raw"
)


class MessageType(IntEnum):
    """LISP control message types (RFC 9301 sec. 5.1 registry, RFC 8111, NAT-traversal)."""

    RESERVED = 0
    MAP_REQUEST = 1
    MAP_REPLY = 2
    MAP_REGISTER = 3
    MAP_NOTIFY = 4
    MAP_NOTIFY_ACK = 5
    MAP_REFERRAL = 6
    INFO = 7
    ECM = 8
    SHARED_EXTENSION = 15


@dataclass(frozen=True, slots=True)
class ControlMessage(Value):
    """Base of the LISP control messages; ``TYPE`` is the value of the Type field."""

    TYPE: ClassVar[int] = -1

    @property
    def type(self) -> int:
        return self.TYPE


C = TypeVar("C", bound=type[ControlMessage])
CONTROL_TYPES: dict[int, type[ControlMessage]] = {}


def register_control(cls: C) -> C:
    """Class decorator: make ``cls`` the decoder of control messages of type ``cls.TYPE``."""
    CONTROL_TYPES[cls.TYPE] = cls
    return cls


_FIRST_WORDS: dict[tuple[tuple[str, ...], bool], Fields] = {}  # by (flag_names, split_count)


def read_first_word(
    r: Reader,
    msg_type: int,
    what: str,
    flag_names: Sequence[str],
    reserved_mask: int,
    reserved_what: str,
    *,
    split_count: bool = False,
) -> int:
    """Read and check the first 32-bit word of a control message of type ``msg_type``.

    ``what`` names the message in the :class:`Malformed` raised for another type ("a
    Map-Register"); set bits under ``reserved_mask`` are a ``RESERVED_BITS`` anomaly whose
    detail starts with ``reserved_what``. Spans: the whole word is ``type_flags``, shared by
    ``flag_names``; with ``split_count`` the first three bytes are ``flags`` (shared by ``type``
    and ``flag_names``) and the last byte is ``record_count``.
    """
    start = r.pos
    layout = _FIRST_WORDS.get((tuple(flag_names), split_count))
    if layout is None:
        if split_count:
            entries = [("flags", 3, "type", *flag_names), ("record_count", 1)]
        else:
            entries = [("type_flags", 4, *flag_names)]
        layout = _FIRST_WORDS[(tuple(flag_names), split_count)] = Fields(*entries)
    if split_count:
        flags, count = r.fields(layout)
        word = flags << 8 | count
    else:
        (word,) = r.fields(layout)
    if word >> 28 != msg_type:
        raise Malformed(start, f"type {word >> 28} is not {what}")
    if word & reserved_mask:
        r.anomaly(RESERVED_BITS, f"{reserved_what} 0x{word & reserved_mask:08x}", start)
    return word


@dataclass(frozen=True, slots=True)
class UnknownControl(ControlMessage):
    """A control message of a type with no decoder: the bytes after the type nibble, raw."""

    type_value: int = 0
    first_word: int = 0  # the 28 bits after the Type
    data: bytes = b""

    @property
    def type(self) -> int:
        return self.type_value

    @classmethod
    def read(cls, r: Reader) -> UnknownControl:
        start = r.pos
        word = r.u32("type_flags")
        r.anomaly(UNKNOWN_TYPE, f"type {word >> 28}", offset=start)
        return cls(type_value=word >> 28, first_word=word & 0x0FFFFFFF, data=r.rest("data"))

    def build(self) -> bytes:
        return ((self.type_value << 28) | self.first_word).to_bytes(4, "big") + self.data


def read_control(r: Reader) -> ControlMessage:
    """Decode the control message at the reader's position, whatever its type."""
    if r.remaining < 1:
        raise Truncated(r.pos, f"{r.key('type')} needs 1 byte, 0 left")
    msg_type = r.buf[r.pos] >> 4
    return CONTROL_TYPES.get(msg_type, UnknownControl).read(r)


def parse_control(buf: bytes | bytearray | memoryview) -> ControlMessage:
    """Decode a whole UDP payload as one LISP control message (trailing bytes: anomaly)."""
    r = Reader(bytes(buf))
    msg = read_control(r)
    if r.pos < r.end:
        r.anomaly(TRAILING_BYTES, f"{r.end - r.pos} bytes after the message")
    return attach(msg, r)
