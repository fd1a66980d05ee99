"""AFI-encoded addresses (RFC 6830 sec. 14.2 / RFC 9301 sec. 5, RFC 8060 for LCAF).

Every address on the LISP wire is a 16-bit AFI followed by a body whose length the AFI
implies. :meth:`Address.read` dispatches on the AFI; an unknown AFI leaves the body's length
unknown, so it raises :class:`Malformed` (the rest of the message cannot be found).

LCAF (AFI 16387) bodies are decoded by the classes registered in :data:`LCAF_TYPES` (see
:mod:`dissectors.lisp.lcaf`); an unregistered type is kept raw as :class:`LcafUnknown`.

Canonical strings, the form every table and join uses: IPv4 dotted quad, IPv6 compressed
(RFC 5952), MAC ``aa:bb:cc:dd:ee:ff``, a Distinguished Name as its text, LCAFs as documented
per type (``[iid]address``, ``(source,dest)``, ...). ``prefix(mask_len)`` renders an
EID-prefix: ``10.0.0.0/24``, ``[1000]10.0.0.0/24``.
"""

from __future__ import annotations

import ipaddress
import struct
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self, TypeVar

from dissectors.core import Fields, Malformed, Reader, Value, anomaly_code, ip_of

UNDECODED = anomaly_code(
    "lisp.undecoded",
    "warn",
    "LCAF type this decoder does not know; body kept raw",
    "lisp.undecoded",
)

MAX_LCAF_DEPTH = 8  # LCAFs nested inside LCAFs deeper than this raise Malformed
_lcaf_depth: ContextVar[int] = ContextVar("lcaf_depth", default=0)


class Afi(IntEnum):
    """Address Family Identifiers used by LISP (IANA "Address Family Numbers")."""

    NONE = 0
    IPV4 = 1
    IPV6 = 2
    IEEE802 = 6
    DISTINGUISHED_NAME = 17
    LCAF = 16387
    MAC48 = 16389


_AFI = struct.Struct("!H")
_LCAF_HEADER = Fields(("rsvd1", 1), ("flags", 1), ("type", 1), ("rsvd2", 1), ("length", 2))


@dataclass(frozen=True, slots=True)
class Address(Value):
    """An AFI and its body. Subclasses implement ``read_body`` and ``body``."""

    @property
    def afi(self) -> int:
        raise NotImplementedError

    @classmethod
    def read(cls, r: Reader) -> Address:
        start = r.pos
        afi = r.u16("afi")
        reader = _BY_AFI.get(afi)
        if reader is None:
            raise Malformed(
                start, f"{r.key('afi')}: unknown AFI {afi}, length of the address unknown"
            )
        return reader(r, afi)

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def body(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def build(self) -> bytes:
        return _AFI.pack(self.afi) + self.body()

    def canonical(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __str__(self) -> str:
        return self.canonical()

    def prefix(self, mask_len: int) -> str:
        """The canonical EID-prefix string with this address and ``mask_len``."""
        return f"{self.canonical()}/{mask_len}"


@dataclass(frozen=True, slots=True)
class NoAddress(Address):
    """AFI 0: no address (an empty Source-EID, the Info-Request's EID field, ...)."""

    @property
    def afi(self) -> int:
        return Afi.NONE

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> NoAddress:
        return cls()

    def body(self) -> bytes:
        return b""

    def canonical(self) -> str:
        return "no-address"

    def prefix(self, mask_len: int) -> str:
        return "no-address" if mask_len == 0 else f"no-address/{mask_len}"


@dataclass(frozen=True, slots=True)
class IPv4(Address):
    address: ipaddress.IPv4Address

    @property
    def afi(self) -> int:
        return Afi.IPV4

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> IPv4:
        return cls(ip_of(ipaddress.IPv4Address, r.raw(4, "address")))

    def body(self) -> bytes:
        return self.address.packed

    def build(self) -> bytes:
        return b"\x00\x01" + self.address.packed  # AFI 1: Address.build without the dispatch

    def canonical(self) -> str:
        return str(self.address)

    @classmethod
    def of(cls, text: str) -> IPv4:
        return cls(ipaddress.IPv4Address(text))


@dataclass(frozen=True, slots=True)
class IPv6(Address):
    address: ipaddress.IPv6Address

    @property
    def afi(self) -> int:
        return Afi.IPV6

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> IPv6:
        return cls(ip_of(ipaddress.IPv6Address, r.raw(16, "address")))

    def body(self) -> bytes:
        return self.address.packed

    def build(self) -> bytes:
        return b"\x00\x02" + self.address.packed  # AFI 2: Address.build without the dispatch

    def canonical(self) -> str:
        return str(self.address)

    @classmethod
    def of(cls, text: str) -> IPv6:
        return cls(ipaddress.IPv6Address(text))


@dataclass(frozen=True, slots=True)
class Mac(Address):
    """A 48-bit MAC address under AFI 6 (IEEE 802) or 16389 (48-bit MAC)."""

    mac: bytes
    afi_value: int = Afi.MAC48

    def __post_init__(self) -> None:
        if len(self.mac) != 6 or self.afi_value not in (Afi.IEEE802, Afi.MAC48):
            raise ValueError("a MAC address is 6 bytes under AFI 6 or 16389")

    @property
    def afi(self) -> int:
        return self.afi_value

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> Mac:
        return cls(r.raw(6, "address"), afi)

    def body(self) -> bytes:
        return self.mac

    def canonical(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)


@dataclass(frozen=True, slots=True)
class DistinguishedName(Address):
    """AFI 17: a NUL-terminated name (RFC 8060 sec. 3.3 asks for ASCII; bytes are kept)."""

    name: bytes

    def __post_init__(self) -> None:
        if b"\x00" in self.name:
            raise ValueError("a Distinguished Name cannot contain NUL")

    @property
    def afi(self) -> int:
        return Afi.DISTINGUISHED_NAME

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> DistinguishedName:
        start = r.pos
        nul = r.buf.find(b"\x00", start, r.end)
        if nul < 0:
            r.need(r.end - start + 1, "name")  # raises Truncated: no terminating NUL
        r.pos = nul + 1
        r.mark("name", start)
        return cls(r.buf[start:nul])

    def body(self) -> bytes:
        return self.name + b"\x00"

    def canonical(self) -> str:
        return self.name.decode("utf-8", "backslashreplace")


# -- LCAF (RFC 8060 sec. 3) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lcaf(Address):
    """LISP Canonical Address Format: AFI 16387, Rsvd1, Flags, Type, Rsvd2, Length, body.

    Subclasses set ``LCAF_TYPE`` and implement ``read_lcaf`` (called with the reader limited
    to the body) and ``lcaf_body``. ``rsvd2`` is type-specific for some types (the IID
    mask-length of type 2), so every LCAF keeps it, as it keeps ``rsvd1`` and ``flags``.
    """

    LCAF_TYPE: ClassVar[int] = -1
    rsvd1: int = field(default=0, kw_only=True)
    flags: int = field(default=0, kw_only=True)
    rsvd2: int = field(default=0, kw_only=True)

    @property
    def afi(self) -> int:
        return Afi.LCAF

    @property
    def lcaf_type(self) -> int:
        return self.LCAF_TYPE

    @classmethod
    def read_body(cls, r: Reader, afi: int) -> Lcaf:
        depth = _lcaf_depth.get()
        if depth >= MAX_LCAF_DEPTH:
            raise Malformed(
                r.pos - 2, f"{r.key('afi')}: LCAF nested deeper than {MAX_LCAF_DEPTH} levels"
            )
        token = _lcaf_depth.set(depth + 1)
        try:
            rsvd1, flags, lcaf_type, rsvd2, length = r.fields(_LCAF_HEADER)
            body_cls = LCAF_TYPES.get(lcaf_type, LcafUnknown)
            return r.within(length, "lcaf body", body_cls.read_lcaf, lcaf_type, rsvd1, flags, rsvd2)
        finally:
            _lcaf_depth.reset(token)

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> Self:
        raise NotImplementedError  # pragma: no cover - overridden

    def lcaf_body(self) -> bytes:
        raise NotImplementedError  # pragma: no cover - overridden

    def body(self) -> bytes:
        payload = self.lcaf_body()
        if len(payload) > 0xFFFF:
            raise ValueError("LCAF body longer than 65535 bytes")
        header = struct.pack(
            "!BBBBH", self.rsvd1, self.flags, self.lcaf_type, self.rsvd2, len(payload)
        )
        return header + payload


LCAF_TYPES: dict[int, type[Lcaf]] = {}


L = TypeVar("L", bound=type[Lcaf])


def register_lcaf(cls: L) -> L:
    """Class decorator: make ``cls`` the decoder of LCAF type ``cls.LCAF_TYPE``."""
    LCAF_TYPES[cls.LCAF_TYPE] = cls
    return cls


@dataclass(frozen=True, slots=True)
class LcafUnknown(Lcaf):
    """An LCAF whose type has no decoder: the body is kept as bytes, with an anomaly."""

    type_value: int = 0
    data: bytes = b""

    @property
    def lcaf_type(self) -> int:
        return self.type_value

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> LcafUnknown:
        r.anomaly(UNDECODED, f"LCAF type {lcaf_type} has no decoder", offset=r.pos - 6)
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, type_value=lcaf_type, data=r.rest("data"))

    def lcaf_body(self) -> bytes:
        return self.data

    def canonical(self) -> str:
        return f"lcaf{self.type_value}:{self.data.hex()}"


_BY_AFI = {
    Afi.NONE: NoAddress.read_body,
    Afi.IPV4: IPv4.read_body,
    Afi.IPV6: IPv6.read_body,
    Afi.IEEE802: Mac.read_body,
    Afi.MAC48: Mac.read_body,
    Afi.DISTINGUISHED_NAME: DistinguishedName.read_body,
    Afi.LCAF: Lcaf.read_body,
}


def address(text: str) -> IPv4 | IPv6:
    """An IPv4 or IPv6 address value from its text form (handy in tests and configs)."""
    ip = ipaddress.ip_address(text)
    return IPv4(ip) if isinstance(ip, ipaddress.IPv4Address) else IPv6(ip)
