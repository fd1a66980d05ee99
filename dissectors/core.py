"""Shared machinery of every codec: the decode error, anomalies, field spans and the reader.

A codec is a frozen dataclass (a subclass of :class:`Value`) with

* ``read(r: Reader) -> Self``: decode at the reader's position (used for nested values);
* ``parse(buf) -> Self``: decode a whole buffer, attaching the field spans and anomalies;
* ``build() -> bytes``: encode.

Field spans and anomalies are gathered by the :class:`Reader` for the whole top-level message
(``spans["records[0].locators[1].priority"] == (offset, length)``, offsets into the parsed
buffer) and are attached to the value that ``parse`` returns. They never take part in ``==``.

Truncated or garbled input raises :class:`DecodeError` (offset + reason) and nothing else;
protocol oddities that still decode are :class:`Anomaly` values, never exceptions.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self, TypeVar

Spans = dict[str, tuple[int, int]]
Level = Literal["note", "warn", "error"]


class DecodeError(Exception):
    """The input cannot be decoded: where (byte offset into the parsed buffer) and why."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


class Truncated(DecodeError):
    """The input ends before a field that must be there."""


class Malformed(DecodeError):
    """A field holds a value that makes the rest undecodable (unknown AFI, lying length, ...)."""


@dataclass(frozen=True, slots=True)
class AnomalyCode:
    """One entry of the anomaly catalog: a stable code and what it means."""

    code: str
    level: Level
    summary: str
    wireshark: str | None = None  # the Wireshark expert-info name it mirrors, if any


ANOMALY_CODES: dict[str, AnomalyCode] = {}


def anomaly_code(code: str, level: Level, summary: str, wireshark: str | None = None) -> str:
    """Register an anomaly code in the catalog (at import of the codec that raises it)."""
    known = ANOMALY_CODES.get(code)
    entry = AnomalyCode(code, level, summary, wireshark)
    if known is not None and known != entry:
        raise ValueError(f"anomaly code {code!r} registered twice with different meanings")
    ANOMALY_CODES[code] = entry
    return code


TRAILING_BYTES = anomaly_code(
    "trailing_bytes", "warn", "bytes left over after the message was decoded"
)
RESERVED_BITS = anomaly_code(
    "reserved_bits", "note", "reserved bits are set (must be zero on send, ignored on receipt)"
)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A protocol oddity found while decoding: catalog code, byte offset, human detail."""

    code: str
    offset: int
    detail: str = ""

    @property
    def level(self) -> Level:
        return ANOMALY_CODES[self.code].level


@dataclass(frozen=True, slots=True)
class Value:
    """Base of every decoded value; ``spans``/``anomalies`` are filled by :meth:`parse`."""

    spans: Spans = field(default_factory=dict, compare=False, repr=False, kw_only=True)
    anomalies: tuple[Anomaly, ...] = field(default=(), compare=False, repr=False, kw_only=True)

    @classmethod
    def read(cls, r: Reader) -> Self:  # pragma: no cover - every codec overrides it
        raise NotImplementedError

    def build(self) -> bytes:  # pragma: no cover - every codec overrides it
        raise NotImplementedError

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview, *, allow_trailing: bool = False) -> Self:
        """Decode all of ``buf``; bytes left over are an anomaly unless ``allow_trailing``."""
        r = Reader(bytes(buf))
        value = cls.read(r)
        if not allow_trailing and r.pos < r.end:
            r.anomaly(TRAILING_BYTES, f"{r.end - r.pos} bytes after the {cls.__name__}")
        return attach(value, r)


V = TypeVar("V", bound=Value)
T = TypeVar("T")
IP = TypeVar("IP", ipaddress.IPv4Address, ipaddress.IPv6Address)

# Decoded IP addresses by their packed bytes: RLOCs, EIDs and inner addresses repeat from packet
# to packet, and building an ipaddress object costs more than reading the field. ipaddress
# objects are immutable, so sharing them is safe; the cache is emptied when it is full.
_IP_CACHE: dict[bytes, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}
IP_CACHE_SIZE = 16384  # about 3 MB at most


def ip_of(kind: type[IP], packed: bytes) -> IP:
    """``kind(packed)`` for 4 (IPv4Address) or 16 (IPv6Address) bytes, shared with earlier
    decodes of the same bytes."""
    ip = _IP_CACHE.get(packed)
    if ip is None:
        if len(_IP_CACHE) >= IP_CACHE_SIZE:
            _IP_CACHE.clear()
        ip = _IP_CACHE[packed] = kind(packed)
    return ip  # type: ignore[return-value]


def attach(value: V, r: Reader) -> V:
    """Give ``value`` the spans and anomalies the reader gathered."""
    object.__setattr__(value, "spans", r.spans)
    object.__setattr__(value, "anomalies", tuple(r.anomalies))
    return value


_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class Reader:
    """A bounds-checked cursor over a buffer that records field spans and anomalies.

    Every read names the field it reads; the name (under the current :meth:`scope`) becomes
    the key of its span. Reading past ``end`` raises :class:`Truncated` naming that field.
    """

    __slots__ = ("anomalies", "buf", "end", "pos", "prefix", "spans")
    SEP: ClassVar[str] = "."

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end
        self.spans: Spans = {}
        self.anomalies: list[Anomaly] = []
        self.prefix = ""

    # -- bookkeeping ----------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def key(self, name: str) -> str:
        return self.prefix + name

    def mark(self, name: str, start: int, end: int | None = None) -> None:
        """Record the span of ``name`` as ``start`` up to ``end`` (default: the position)."""
        self.spans[self.prefix + name] = (start, (self.pos if end is None else end) - start)

    def scope(self, name: str) -> Scope:
        """Nest the names read inside under ``name`` and record ``name``'s own span."""
        return Scope(self, name)

    def sub(self, name: str, read: Callable[..., T], *args: Any) -> T:
        """``read(self, *args)`` nested under ``name``: the call form of :meth:`scope` (cheaper;
        for the parts read per record and per locator)."""
        saved, start = self.prefix, self.pos
        key = saved + name
        self.prefix = key + self.SEP
        try:
            return read(self, *args)
        finally:
            self.prefix = saved
            self.spans[key] = (start, self.pos - start)

    def anomaly(self, code: str, detail: str = "", offset: int | None = None) -> None:
        if code not in ANOMALY_CODES:
            raise KeyError(f"unregistered anomaly code {code!r}")
        self.anomalies.append(Anomaly(code, self.pos if offset is None else offset, detail))

    def need(self, n: int, name: str) -> int:
        """Check that ``n`` bytes of ``name`` are there; return the start offset."""
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise self._truncated(n, name)
        return pos

    def _truncated(self, n: int, name: str) -> Truncated:
        pos = self.pos
        return Truncated(
            pos, f"{self.prefix + name} needs {n} bytes, {max(self.end - pos, 0)} left"
        )

    # -- reads ------------------------------------------------------------------------------
    # (the bounds check of need() is repeated inline: these run for every field)
    def u8(self, name: str) -> int:
        pos = self.pos
        if pos + 1 > self.end:
            raise self._truncated(1, name)
        self.pos = pos + 1
        self.spans[self.prefix + name] = (pos, 1)
        return self.buf[pos]

    def u16(self, name: str) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise self._truncated(2, name)
        self.pos = pos + 2
        self.spans[self.prefix + name] = (pos, 2)
        return _U16.unpack_from(self.buf, pos)[0]

    def u24(self, name: str) -> int:
        pos = self.need(3, name)
        self.pos = pos + 3
        self.spans[self.prefix + name] = (pos, 3)
        return int.from_bytes(self.buf[pos : pos + 3], "big")

    def u32(self, name: str) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise self._truncated(4, name)
        self.pos = pos + 4
        self.spans[self.prefix + name] = (pos, 4)
        return _U32.unpack_from(self.buf, pos)[0]

    def u64(self, name: str) -> int:
        pos = self.pos
        if pos + 8 > self.end:
            raise self._truncated(8, name)
        self.pos = pos + 8
        self.spans[self.prefix + name] = (pos, 8)
        return _U64.unpack_from(self.buf, pos)[0]

    def raw(self, n: int, name: str) -> bytes:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise self._truncated(n, name)
        self.pos = pos + n
        self.spans[self.prefix + name] = (pos, n)
        return self.buf[pos : pos + n]

    def fields(self, run: Fields) -> tuple[int, ...]:
        """Read a run of fixed-size fields at once (see :class:`Fields`): spans, aliases and
        errors exactly as reading them one by one with u8/u16/u32/u64 and :meth:`alias`."""
        pos = self.pos
        if pos + run.size > self.end:  # some field does not fit: let the field reads say which
            values = []
            for name, size, aliases in run.entries:
                values.append(_READ_UINT[size](self, name))
                if aliases:
                    self.alias(name, *aliases)
            return tuple(values)
        self.pos = pos + run.size
        spans, prefix = self.spans, self.prefix
        keyed = run.by_prefix.get(prefix) or run.keyed(prefix)
        for key, offset, size in keyed:
            spans[key] = (pos + offset, size)
        values = run.struct.unpack_from(self.buf, pos)
        if run.u24:  # struct has no 3-byte integer: those come as bytes
            ints = list(values)
            for i in run.u24:
                ints[i] = int.from_bytes(ints[i], "big")
            return tuple(ints)
        return values

    def rest(self, name: str) -> bytes:
        """All bytes up to ``end`` (possibly none)."""
        return self.raw(self.end - self.pos, name)

    def alias(self, name: str, *others: str) -> None:
        """Give fields that share ``name``'s bytes (flag bits in one word) the same span."""
        span = self.spans[self.prefix + name]
        for other in others:
            self.spans[self.prefix + other] = span

    @contextmanager
    def limit(self, length: int, name: str) -> Iterator[None]:
        """Read a length-delimited part: inside, ``end`` is ``length`` bytes ahead.

        Afterwards the position is the end of the part, whatever the inside consumed; bytes
        the inside left unread are reported as trailing bytes of ``name``.
        """
        start = self.need(length, name)
        saved_end, self.end = self.end, start + length
        try:
            yield
            if self.pos < self.end:
                self.anomaly(TRAILING_BYTES, f"{self.end - self.pos} unread bytes in {name}")
        finally:
            self.end = saved_end
        self.pos = start + length

    def within(self, length: int, name: str, read: Callable[..., T], *args: Any) -> T:
        """``read(self, *args)`` inside a length-delimited part: the call form of :meth:`limit`."""
        start = self.need(length, name)
        saved_end, self.end = self.end, start + length
        try:
            value = read(self, *args)
            if self.pos < self.end:
                self.anomaly(TRAILING_BYTES, f"{self.end - self.pos} unread bytes in {name}")
        finally:
            self.end = saved_end
        self.pos = start + length
        return value


class Scope:
    """The context manager of :meth:`Reader.scope` (a class: cheaper than a generator)."""

    __slots__ = ("name", "r", "saved", "start")

    def __init__(self, r: Reader, name: str) -> None:
        self.r = r
        self.name = name

    def __enter__(self) -> None:
        r = self.r
        self.saved, self.start = r.prefix, r.pos
        r.prefix = self.saved + self.name + r.SEP

    def __exit__(self, *exc: object) -> None:
        r = self.r
        r.prefix = self.saved
        r.spans[self.saved + self.name] = (self.start, r.pos - self.start)


_FORMATS = {1: "B", 2: "H", 3: "3s", 4: "I", 8: "Q"}
_READ_UINT: dict[int, Callable[[Reader, str], int]] = {
    1: Reader.u8,
    2: Reader.u16,
    3: Reader.u24,
    4: Reader.u32,
    8: Reader.u64,
}


class Fields:
    """A run of consecutive fixed-size unsigned fields, read by :meth:`Reader.fields` with one
    ``struct`` unpack. Each entry is ``(name, size)`` or ``(name, size, *aliases)``: size 1, 2,
    3, 4 or 8 bytes; the aliases are the names that share the field's span (flag bits in one
    word), as :meth:`Reader.alias` gives them.
    """

    __slots__ = ("by_prefix", "entries", "size", "spans", "struct", "u24")

    def __init__(self, *entries: tuple[Any, ...]) -> None:
        self.entries: tuple[tuple[str, int, tuple[str, ...]], ...] = tuple(
            (name, size, tuple(aliases)) for name, size, *aliases in entries
        )
        self.struct = struct.Struct("!" + "".join(_FORMATS[size] for _, size, _ in self.entries))
        self.size = self.struct.size
        self.u24 = tuple(i for i, (_, size, _) in enumerate(self.entries) if size == 3)
        spans: list[tuple[str, int, int]] = []
        offset = 0
        for name, size, aliases in self.entries:
            spans += [(n, offset, size) for n in (name, *aliases)]
            offset += size
        self.spans = tuple(spans)
        self.by_prefix: dict[str, tuple[tuple[str, int, int], ...]] = {}

    def keyed(self, prefix: str) -> tuple[tuple[str, int, int], ...]:
        """:attr:`spans` with their names under ``prefix`` (the span keys), remembered in
        :attr:`by_prefix`."""
        if len(self.by_prefix) >= 4096:  # fuzzed input can make many prefixes: stay bounded
            self.by_prefix.clear()
        keyed = self.by_prefix[prefix] = tuple((prefix + n, o, size) for n, o, size in self.spans)
        return keyed
