"""Mobility options (RFC 6275 sec. 6.2 and the IANA "Mobility Options" registry).

Every option but Pad1 is Type (8) | Length (8, octets after this byte) | data. Each class
below decodes one type; its ``LAYOUT`` (see :mod:`dissectors.mip6._fields`) gives the data
fields in wire order. Length checks mirror Wireshark's option table: ``FIXED_LEN`` is the only
valid Length, ``MIN_LEN`` the smallest; a violating or unknown option is kept raw
(:class:`RawOption`) with an anomaly (``mip6.opt.len.invalid`` / ``mip6.opt.unknown``).

PD-2005's Binding Cache Confirmation option (draft-gundavelli-netlmm-mip6-proxy-00 sec. 4.3)
never got a type number: pass ``bcc_type=`` to the Mobility Header parser to decode it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from dissectors.core import (
    TRAILING_BYTES,
    Malformed,
    Reader,
    Truncated,
    Value,
    anomaly_code,
    attach,
)
from dissectors.mip6._fields import (
    V4_ZERO,
    V6_ZERO,
    Layout,
    RawTlv,
    build_layout,
    read_layout,
)

OPT_LEN_INVALID = anomaly_code(
    "mip6.opt.len.invalid",
    "warn",
    "mobility option Length is wrong for its type or runs past the Mobility Header; kept raw",
    wireshark="mip6.opt.len.invalid",
)
OPT_UNKNOWN = anomaly_code(
    "mip6.opt.unknown",
    "note",
    "mobility option type this decoder does not know; kept raw",
    wireshark="mip6.ie_not_dissected",
)
BCC_BAD_LENGTH = anomaly_code(
    "pmip.bcc.bad_length",
    "warn",
    "PD-2005 Binding Cache Confirmation option with a non-zero Length (PD sec. 4.3: Length 0)",
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(raw: bytes) -> IPAddress | None:
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw)
    if len(raw) == 16:
        return ipaddress.IPv6Address(raw)
    return None


@dataclass(frozen=True, slots=True)
class MobilityOption(Value):
    """Base of the mobility options; subclasses set ``OPT_TYPE``, ``NAME`` and ``LAYOUT``."""

    OPT_TYPE: ClassVar[int] = -1
    NAME: ClassVar[str] = ""
    LAYOUT: ClassVar[Layout] = ()
    FIXED_LEN: ClassVar[int | None] = None
    MIN_LEN: ClassVar[int] = 0
    LENGTHS: ClassVar[tuple[int, ...]] = ()  # the only valid Lengths of a variable option
    LENGTHS_TEXT: ClassVar[str] = ""  # how the anomaly names them ("2 or 6")

    @property
    def opt_type(self) -> int:
        return self.OPT_TYPE

    @classmethod
    def read_body(cls, r: Reader, length: int) -> Self:
        return cls(**read_layout(r, cls.LAYOUT))

    def body(self) -> bytes:
        return build_layout(self, self.LAYOUT)

    def build(self) -> bytes:
        data = self.body()
        return bytes([self.opt_type, len(data)]) + data

    @classmethod
    def read(cls, r: Reader) -> Self:
        opt = read_option(r)
        if not isinstance(opt, cls):
            raise Malformed(r.pos, f"expected a {cls.__name__}, got {type(opt).__name__}")
        return opt

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview, *, allow_trailing: bool = False) -> Self:
        r = Reader(bytes(buf))
        value = cls.read(r)
        if not allow_trailing and r.pos < r.end:
            r.anomaly(TRAILING_BYTES, f"{r.end - r.pos} bytes after the option")
        return attach(value, r)


OptT = TypeVar("OptT", bound=type[MobilityOption])
OPTION_TYPES: dict[int, type[MobilityOption]] = {}


def register_option(cls: OptT) -> OptT:
    """Class decorator: make ``cls`` the decoder of options of type ``cls.OPT_TYPE``."""
    OPTION_TYPES[cls.OPT_TYPE] = cls
    return cls


@dataclass(frozen=True, slots=True)
class Pad1(MobilityOption):
    """Type 0: one byte of padding, no Length field."""

    OPT_TYPE = 0
    NAME = "Pad1"

    def build(self) -> bytes:
        return b"\x00"


@dataclass(frozen=True, slots=True)
class RawOption(RawTlv, MobilityOption):
    """An option kept as bytes: unknown type, or a Length its type does not allow.

    ``length`` is set only when the Length byte lies (points past the Mobility Header); then
    ``data`` holds the bytes that were there, so that ``build`` reproduces the input.
    """

    length: int | None = None

    def build(self) -> bytes:
        n = len(self.data) if self.length is None else self.length
        return bytes([self.type_value, n]) + self.data


@dataclass(frozen=True, slots=True)
class BindingCacheConfirmation(RawTlv, MobilityOption):
    """PD-2005 sec. 4.3 Binding Cache Confirmation option: unassigned type, Length 0."""

    NAME = "Binding Cache Confirmation (PD-2005)"


def read_option(r: Reader, bcc_type: int | None = None) -> MobilityOption:
    """Decode one mobility option at the reader's position (inside the option area)."""
    start = r.pos
    opt_type = r.u8("type")
    if opt_type == 0:
        return Pad1()
    length = r.u8("length")
    if length > r.remaining:
        r.anomaly(
            OPT_LEN_INVALID,
            f"option {opt_type}: Length {length} runs past the header ({r.remaining} left)",
            offset=start,
        )
        return RawOption(type_value=opt_type, data=r.rest("data"), length=length)
    if bcc_type is not None and opt_type == bcc_type:
        data = r.raw(length, "data")
        if length:
            r.anomaly(BCC_BAD_LENGTH, f"Length {length}", offset=start)
        return BindingCacheConfirmation(type_value=opt_type, data=data)
    cls = OPTION_TYPES.get(opt_type)
    if cls is None:
        r.anomaly(OPT_UNKNOWN, f"option type {opt_type}", offset=start)
        return RawOption(type_value=opt_type, data=r.raw(length, "data"))
    if (cls.FIXED_LEN is not None and length != cls.FIXED_LEN) or length < cls.MIN_LEN:
        want = f"== {cls.FIXED_LEN}" if cls.FIXED_LEN is not None else f">= {cls.MIN_LEN}"
        r.anomaly(
            OPT_LEN_INVALID, f"{cls.NAME} with Length {length}, should be {want}", offset=start
        )
        return RawOption(type_value=opt_type, data=r.raw(length, "data"))
    body_start = r.pos
    try:
        with r.limit(length, "data"):
            if cls.LENGTHS and length not in cls.LENGTHS:
                raise _BadLength(f"Length {length}, should be {cls.LENGTHS_TEXT}")
            return cls.read_body(r, length)
    except (_BadLength, Truncated) as exc:  # Truncated: a layout longer than MIN_LEN promised
        r.pos = body_start
        reason = exc.reason if isinstance(exc, Truncated) else str(exc)
        r.anomaly(OPT_LEN_INVALID, f"{cls.NAME}: {reason}", offset=start)
        return RawOption(type_value=opt_type, data=r.raw(length, "data"))


class _BadLength(Exception):
    """Raised inside ``read_body`` when a variable option has a length its fields disallow."""


def read_options(r: Reader, bcc_type: int | None = None) -> tuple[MobilityOption, ...]:
    """All options up to the reader's end, each under ``options[i]``."""
    out: list[MobilityOption] = []
    while r.remaining > 0:
        with r.scope(f"options[{len(out)}]"):
            out.append(read_option(r, bcc_type))
    return tuple(out)


def _layout(*items: tuple[str, Any]) -> Layout:
    return tuple(items)


def _tlvs(raw: bytes) -> tuple[tuple[int, bytes], ...]:
    """(type, data) entries of 8-bit type | 8-bit length | data; a last entry cut short keeps
    what is there."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(raw):
        n = raw[i + 1]
        out.append((raw[i], raw[i + 2 : i + 2 + n]))
        i += 2 + n
    return tuple(out)


# -- layouts that several option types share (each type keeps its own class) -----------------


@dataclass(frozen=True, slots=True)
class _NoData(MobilityOption):
    """An option with no data (Length 0)."""

    FIXED_LEN = 0


@dataclass(frozen=True, slots=True)
class _Ipv6Address(MobilityOption):
    """One IPv6 address (Length 16)."""

    LAYOUT = _layout(("ip6", "address"))
    FIXED_LEN = 16
    address: ipaddress.IPv6Address = V6_ZERO


@dataclass(frozen=True, slots=True)
class _Ipv6Prefix(MobilityOption):
    """Reserved (8), Prefix Length (8), IPv6 prefix (Length 18)."""

    LAYOUT = _layout(("u8", "reserved"), ("u8", "prefix_length"), ("ip6", "prefix"))
    FIXED_LEN = 18
    reserved: int = 0
    prefix_length: int = 0
    prefix: ipaddress.IPv6Address = V6_ZERO


@dataclass(frozen=True, slots=True)
class _Timestamp64(MobilityOption):
    """One 64-bit timestamp (Length 8)."""

    LAYOUT = _layout(("u64", "timestamp"))
    FIXED_LEN = 8
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class _ReservedIpv4Address(MobilityOption):
    """Reserved (16), IPv4 address (Length 6)."""

    LAYOUT = _layout(("u16", "reserved"), ("ip4", "address"))
    FIXED_LEN = 6
    reserved: int = 0
    address: ipaddress.IPv4Address = V4_ZERO


@dataclass(frozen=True, slots=True)
class _Ipv4StatusAddress(MobilityOption):
    """Status (8), Prefix Length (6), Reserved (2), IPv4 address (Length 6)."""

    LAYOUT = _layout(
        ("u8", "status"),
        ("bits8", (("prefix_length", 6), ("reserved", 2))),
        ("ip4", "address"),
    )
    FIXED_LEN = 6
    status: int = 0
    prefix_length: int = 0
    reserved: int = 0
    address: ipaddress.IPv4Address = V4_ZERO


# -- RFC 6275 -------------------------------------------------------------------------------


@register_option
@dataclass(frozen=True, slots=True)
class PadN(MobilityOption):
    """Type 1: N bytes of padding (should be zero)."""

    OPT_TYPE = 1
    NAME = "PadN"
    LAYOUT = _layout(("rest", "padding"))
    padding: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class BindingRefreshAdvice(MobilityOption):
    """Type 2: Refresh Interval in 4-second units (RFC 6275 sec. 6.2.4)."""

    OPT_TYPE = 2
    NAME = "Binding Refresh Advice"
    LAYOUT = _layout(("u16", "refresh_interval"))
    FIXED_LEN = 2
    refresh_interval: int = 0

    @property
    def refresh_interval_seconds(self) -> int:
        return self.refresh_interval * 4


@register_option
@dataclass(frozen=True, slots=True)
class AlternateCareOfAddress(_Ipv6Address):
    """Type 3 (RFC 6275 sec. 6.2.5)."""

    OPT_TYPE = 3
    NAME = "Alternate Care-of Address"


@register_option
@dataclass(frozen=True, slots=True)
class NonceIndices(MobilityOption):
    """Type 4 (RFC 6275 sec. 6.2.6)."""

    OPT_TYPE = 4
    NAME = "Nonce Indices"
    LAYOUT = _layout(("u16", "home_nonce_index"), ("u16", "care_of_nonce_index"))
    FIXED_LEN = 4
    home_nonce_index: int = 0
    care_of_nonce_index: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class BindingAuthorizationData(MobilityOption):
    """Type 5: the Authenticator (RFC 6275 sec. 6.2.7)."""

    OPT_TYPE = 5
    NAME = "Binding Authorization Data"
    LAYOUT = _layout(("rest", "authenticator"))
    authenticator: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class MobileNetworkPrefix(_Ipv6Prefix):
    """Type 6 (NEMO, RFC 3963 sec. 4.3)."""

    OPT_TYPE = 6
    NAME = "Mobile Network Prefix"


@register_option
@dataclass(frozen=True, slots=True)
class LinkLayerAddress(MobilityOption):
    """Type 7: Mobility Header Link-Layer Address (RFC 5568 sec. 6.4.3)."""

    OPT_TYPE = 7
    NAME = "Mobility Header Link-Layer Address"
    LAYOUT = _layout(("u8", "option_code"), ("rest", "link_layer_address"))
    MIN_LEN = 1
    option_code: int = 0
    link_layer_address: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class MobileNodeIdentifier(MobilityOption):
    """Type 8: MN-ID (RFC 4283); subtype 1 = NAI."""

    OPT_TYPE = 8
    NAME = "Mobile Node Identifier"
    LAYOUT = _layout(("u8", "subtype"), ("rest", "identifier"))
    MIN_LEN = 2
    subtype: int = 1
    identifier: bytes = b""

    @property
    def nai(self) -> str | None:
        """The NAI text (subtype 1), undecodable bytes replaced."""
        return self.identifier.decode("utf-8", "replace") if self.subtype == 1 else None


@register_option
@dataclass(frozen=True, slots=True)
class Authentication(MobilityOption):
    """Type 9: Mobility Message Authentication (RFC 4285 sec. 5)."""

    OPT_TYPE = 9
    NAME = "Authentication"
    LAYOUT = _layout(("u8", "subtype"), ("u32", "mobility_spi"), ("rest", "authentication_data"))
    MIN_LEN = 6
    subtype: int = 0
    mobility_spi: int = 0
    authentication_data: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class MessageIdentifier(_Timestamp64):
    """Type 10: Mobility Message Replay Protection, 64-bit timestamp (RFC 4285 sec. 6)."""

    OPT_TYPE = 10
    NAME = "Message Identifier"


@register_option
@dataclass(frozen=True, slots=True)
class CgaParametersRequest(_NoData):
    """Type 11 (RFC 4866 sec. 5.1): no data."""

    OPT_TYPE = 11
    NAME = "CGA Parameters Request"


@register_option
@dataclass(frozen=True, slots=True)
class CgaParameters(MobilityOption):
    """Type 12 (RFC 4866 sec. 5.2)."""

    OPT_TYPE = 12
    NAME = "CGA Parameters"
    LAYOUT = _layout(("rest", "cga_parameters"))
    MIN_LEN = 1
    cga_parameters: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class Signature(MobilityOption):
    """Type 13 (RFC 4866 sec. 5.3)."""

    OPT_TYPE = 13
    NAME = "Signature"
    LAYOUT = _layout(("rest", "signature"))
    MIN_LEN = 1
    signature: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class PermanentHomeKeygenToken(MobilityOption):
    """Type 14 (RFC 4866 sec. 5.4)."""

    OPT_TYPE = 14
    NAME = "Permanent Home Keygen Token"
    LAYOUT = _layout(("rest", "token"))
    MIN_LEN = 1
    token: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class CareOfTestInitOption(_NoData):
    """Type 15 (RFC 4866 sec. 5.5): no data."""

    OPT_TYPE = 15
    NAME = "Care-of Test Init"


@register_option
@dataclass(frozen=True, slots=True)
class CareOfTestOption(MobilityOption):
    """Type 16 (RFC 4866 sec. 5.6): the 8-byte care-of keygen token."""

    OPT_TYPE = 16
    NAME = "Care-of Test"
    LAYOUT = _layout(("b8", "care_of_keygen_token"))
    FIXED_LEN = 8
    care_of_keygen_token: bytes = bytes(8)


@register_option
@dataclass(frozen=True, slots=True)
class DnsUpdate(MobilityOption):
    """Type 17 (RFC 5026 sec. 6.2): Status, R (remove), MN identity (FQDN)."""

    OPT_TYPE = 17
    NAME = "DNS Update"
    LAYOUT = _layout(
        ("u8", "status"), ("bits8", (("r", 1), ("reserved", 7))), ("rest", "mn_identity")
    )
    MIN_LEN = 5
    status: int = 0
    r: bool = False
    reserved: int = 0
    mn_identity: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class ExperimentalOption(MobilityOption):
    """Type 18 (RFC 5096)."""

    OPT_TYPE = 18
    NAME = "Experimental"
    LAYOUT = _layout(("rest", "data"))
    MIN_LEN = 1
    data: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class VendorSpecific(MobilityOption):
    """Type 19 (RFC 5094): Vendor ID, Sub-Type, data (3GPP: vendor 10415)."""

    OPT_TYPE = 19
    NAME = "Vendor Specific"
    LAYOUT = _layout(("u32", "vendor_id"), ("u8", "subtype"), ("rest", "data"))
    MIN_LEN = 5
    vendor_id: int = 0
    subtype: int = 0
    data: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class ServiceSelection(MobilityOption):
    """Type 20 (RFC 5149): the service identifier (an APN in 3GPP)."""

    OPT_TYPE = 20
    NAME = "Service Selection"
    LAYOUT = _layout(("rest", "identifier"))
    MIN_LEN = 1
    identifier: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class FmipAuthorizationData(MobilityOption):
    """Type 21: Binding Authorization Data for FMIPv6 (RFC 5568 sec. 6.4.4)."""

    OPT_TYPE = 21
    NAME = "Binding Authorization Data for FMIPv6"
    LAYOUT = _layout(("u32", "spi"), ("rest", "authenticator"))
    MIN_LEN = 4
    spi: int = 0
    authenticator: bytes = b""


# -- Proxy Mobile IPv6 (RFC 5213) and later --------------------------------------------------


@register_option
@dataclass(frozen=True, slots=True)
class HomeNetworkPrefix(_Ipv6Prefix):
    """Type 22 (RFC 5213 sec. 8.3)."""

    OPT_TYPE = 22
    NAME = "Home Network Prefix"


@register_option
@dataclass(frozen=True, slots=True)
class HandoffIndicator(MobilityOption):
    """Type 23 (RFC 5213 sec. 8.4)."""

    OPT_TYPE = 23
    NAME = "Handoff Indicator"
    LAYOUT = _layout(("u8", "reserved"), ("u8", "handoff_indicator"))
    FIXED_LEN = 2
    reserved: int = 0
    handoff_indicator: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class AccessTechnologyType(MobilityOption):
    """Type 24 (RFC 5213 sec. 8.5)."""

    OPT_TYPE = 24
    NAME = "Access Technology Type"
    LAYOUT = _layout(("u8", "reserved"), ("u8", "access_technology_type"))
    FIXED_LEN = 2
    reserved: int = 0
    access_technology_type: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class MobileNodeLinkLayerIdentifier(MobilityOption):
    """Type 25 (RFC 5213 sec. 8.6)."""

    OPT_TYPE = 25
    NAME = "Mobile Node Link-layer Identifier"
    LAYOUT = _layout(("u16", "reserved"), ("rest", "link_layer_identifier"))
    MIN_LEN = 2
    reserved: int = 0
    link_layer_identifier: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class LinkLocalAddress(_Ipv6Address):
    """Type 26 (RFC 5213 sec. 8.7)."""

    OPT_TYPE = 26
    NAME = "Link-local Address"


@register_option
@dataclass(frozen=True, slots=True)
class Timestamp(_Timestamp64):
    """Type 27 (RFC 5213 sec. 8.8): 48-bit seconds since 1970 + 16-bit 1/65536 fractions."""

    OPT_TYPE = 27
    NAME = "Timestamp"

    @property
    def seconds(self) -> int:
        return self.timestamp >> 16

    @property
    def fraction(self) -> int:
        return self.timestamp & 0xFFFF

    @property
    def unix_time(self) -> float:
        return self.seconds + self.fraction / 65536


@register_option
@dataclass(frozen=True, slots=True)
class RestartCounter(MobilityOption):
    """Type 28 (RFC 5847 sec. 5.2)."""

    OPT_TYPE = 28
    NAME = "Restart Counter"
    LAYOUT = _layout(("u32", "restart_counter"))
    FIXED_LEN = 4
    restart_counter: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class IPv4HomeAddress(MobilityOption):
    """Type 29 (RFC 5555 sec. 3.1.1): Prefix-len (6), P (1), Reserved (9), address."""

    OPT_TYPE = 29
    NAME = "IPv4 Home Address"
    LAYOUT = _layout(
        ("bits16", (("prefix_length", 6), ("p", 1), ("reserved", 9))), ("ip4", "address")
    )
    FIXED_LEN = 6
    prefix_length: int = 0
    p: bool = False
    reserved: int = 0
    address: ipaddress.IPv4Address = V4_ZERO


@register_option
@dataclass(frozen=True, slots=True)
class IPv4AddressAcknowledgement(_Ipv4StatusAddress):
    """Type 30 (RFC 5555 sec. 3.2.1): Status, Pref-len (6), Reserved (2), address."""

    OPT_TYPE = 30
    NAME = "IPv4 Address Acknowledgement"


@register_option
@dataclass(frozen=True, slots=True)
class NatDetection(MobilityOption):
    """Type 31 (RFC 5555 sec. 3.2.2): F (UDP encapsulation required), refresh time (s)."""

    OPT_TYPE = 31
    NAME = "NAT Detection"
    LAYOUT = _layout(("bits16", (("f", 1), ("reserved", 15))), ("u32", "refresh_time"))
    FIXED_LEN = 6
    f: bool = False
    reserved: int = 0
    refresh_time: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class IPv4CareOfAddress(_ReservedIpv4Address):
    """Type 32 (RFC 5555 sec. 3.1.2)."""

    OPT_TYPE = 32
    NAME = "IPv4 Care-of Address"


@register_option
@dataclass(frozen=True, slots=True)
class GreKey(MobilityOption):
    """Type 33 (RFC 5845 sec. 3.1): Reserved, then the GRE Key Identifier (absent if Length 2)."""

    OPT_TYPE = 33
    NAME = "GRE Key"
    MIN_LEN = 2
    LENGTHS = (2, 6)
    LENGTHS_TEXT = "2 or 6"
    reserved: int = 0
    gre_key: int | None = None

    @classmethod
    def read_body(cls, r: Reader, length: int) -> GreKey:
        reserved = r.u16("reserved")
        key = r.u32("gre_key") if length == 6 else None
        return cls(reserved=reserved, gre_key=key)

    def body(self) -> bytes:
        key = b"" if self.gre_key is None else self.gre_key.to_bytes(4, "big")
        return self.reserved.to_bytes(2, "big") + key


@register_option
@dataclass(frozen=True, slots=True)
class MhIpv6AddressPrefix(MobilityOption):
    """Type 34: Mobility Header IPv6 Address/Prefix (RFC 5568 sec. 6.4.2)."""

    OPT_TYPE = 34
    NAME = "Mobility Header IPv6 Address/Prefix"
    LAYOUT = _layout(("u8", "option_code"), ("u8", "prefix_length"), ("ip6", "address"))
    FIXED_LEN = 18
    option_code: int = 0
    prefix_length: int = 0
    address: ipaddress.IPv6Address = V6_ZERO


@register_option
@dataclass(frozen=True, slots=True)
class BindingIdentifier(MobilityOption):
    """Type 35 (RFC 5648 sec. 6.1): BID, Status, H, Reserved (7), optional IPv4/IPv6 CoA."""

    OPT_TYPE = 35
    NAME = "Binding Identifier"
    LAYOUT = _layout(
        ("u16", "bid"),
        ("u8", "status"),
        ("bits8", (("h", 1), ("reserved", 7))),
        ("rest", "care_of_address_raw"),
    )
    MIN_LEN = 4
    LENGTHS = (4, 8, 20)
    LENGTHS_TEXT = "4, 8 or 20"
    bid: int = 0
    status: int = 0
    h: bool = False
    reserved: int = 0
    care_of_address_raw: bytes = b""

    @property
    def care_of_address(self) -> IPAddress | None:
        return _address(self.care_of_address_raw)


@register_option
@dataclass(frozen=True, slots=True)
class IPv4HomeAddressRequest(MobilityOption):
    """Type 36 (RFC 5844 sec. 3.1): Prefix-len (6), Reserved (10), address (0 = allocate)."""

    OPT_TYPE = 36
    NAME = "IPv4 Home Address Request"
    LAYOUT = _layout(("bits16", (("prefix_length", 6), ("reserved", 10))), ("ip4", "address"))
    FIXED_LEN = 6
    prefix_length: int = 0
    reserved: int = 0
    address: ipaddress.IPv4Address = V4_ZERO


@register_option
@dataclass(frozen=True, slots=True)
class IPv4HomeAddressReply(_Ipv4StatusAddress):
    """Type 37 (RFC 5844 sec. 3.2): Status, Pref-len (6), Reserved (2), address."""

    OPT_TYPE = 37
    NAME = "IPv4 Home Address Reply"


@register_option
@dataclass(frozen=True, slots=True)
class IPv4DefaultRouterAddress(_ReservedIpv4Address):
    """Type 38 (RFC 5844 sec. 3.3)."""

    OPT_TYPE = 38
    NAME = "IPv4 Default-Router Address"


@register_option
@dataclass(frozen=True, slots=True)
class IPv4DhcpSupportMode(MobilityOption):
    """Type 39 (RFC 5844 sec. 3.4): Reserved (15), S (1 = DHCP server, 0 = relay)."""

    OPT_TYPE = 39
    NAME = "IPv4 DHCP Support Mode"
    LAYOUT = _layout(("bits16", (("reserved", 15), ("s", 1))))
    FIXED_LEN = 2
    reserved: int = 0
    s: bool = False


@register_option
@dataclass(frozen=True, slots=True)
class ContextRequest(MobilityOption):
    """Type 40 (RFC 5949 sec. 6.2.1): Reserved, then (Req-type, Req-length, data) entries."""

    OPT_TYPE = 40
    NAME = "Context Request"
    LAYOUT = _layout(("u16", "reserved"), ("rest", "requests_raw"))
    MIN_LEN = 4
    reserved: int = 0
    requests_raw: bytes = b""

    @property
    def requests(self) -> tuple[tuple[int, bytes], ...]:
        """The (type, data) entries; a last entry cut short keeps what is there."""
        return _tlvs(self.requests_raw)


@register_option
@dataclass(frozen=True, slots=True)
class LmaAddress(MobilityOption):
    """Type 41: Local Mobility Anchor Address (RFC 5949 sec. 6.2.3); code 1 IPv6, 2 IPv4."""

    OPT_TYPE = 41
    NAME = "Local Mobility Anchor Address"
    LAYOUT = _layout(("u8", "option_code"), ("u8", "reserved"), ("rest", "address_raw"))
    MIN_LEN = 6
    option_code: int = 1
    reserved: int = 0
    address_raw: bytes = b""

    @property
    def address(self) -> IPAddress | None:
        return _address(self.address_raw)


# Options 42-45: not decoded by Wireshark. Layouts from RFC 5949 sec. 6.2.4, RFC 6058 sec. 3.2
# and RFC 6089 sec. 4.1/4.2 as recalled, cross-checked against Pcap.Net's implementation (the
# RFC texts themselves were not readable here).


@register_option
@dataclass(frozen=True, slots=True)
class MnLinkLocalInterfaceIdentifier(MobilityOption):
    """Type 42 (RFC 5949): Reserved (16), the MN's link-local Interface Identifier (64)."""

    OPT_TYPE = 42
    NAME = "Mobile Node Link-local Address Interface Identifier"
    LAYOUT = _layout(("u16", "reserved"), ("b8", "interface_identifier"))
    FIXED_LEN = 10
    reserved: int = 0
    interface_identifier: bytes = bytes(8)


@register_option
@dataclass(frozen=True, slots=True)
class TransientBinding(MobilityOption):
    """Type 43 (RFC 6058): Reserved (7), L (late path switch), Lifetime (8)."""

    OPT_TYPE = 43
    NAME = "Transient Binding"
    LAYOUT = _layout(("bits8", (("reserved", 7), ("l", 1))), ("u8", "lifetime"))
    FIXED_LEN = 2
    reserved: int = 0
    l: bool = False  # noqa: E741 - the flag's name in RFC 6058
    lifetime: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class FlowSummary(MobilityOption):
    """Type 44 (RFC 6089): one or more 16-bit flow identifiers (FIDs)."""

    OPT_TYPE = 44
    NAME = "Flow Summary"
    MIN_LEN = 2
    flow_identifiers: tuple[int, ...] = (1,)

    @classmethod
    def read_body(cls, r: Reader, length: int) -> FlowSummary:
        if length % 2:
            raise _BadLength(f"Length {length} is odd (16-bit FIDs)")
        return cls(flow_identifiers=tuple(r.u16(f"fid[{i}]") for i in range(length // 2)))

    def body(self) -> bytes:
        return b"".join(f.to_bytes(2, "big") for f in self.flow_identifiers)


@register_option
@dataclass(frozen=True, slots=True)
class FlowIdentification(MobilityOption):
    """Type 45 (RFC 6089): FID, FID-PRI, Reserved, Status, sub-options (kept raw)."""

    OPT_TYPE = 45
    NAME = "Flow Identification"
    LAYOUT = _layout(
        ("u16", "fid"),
        ("u16", "fid_priority"),
        ("u8", "reserved"),
        ("u8", "status"),
        ("rest", "sub_options_raw"),
    )
    MIN_LEN = 6
    fid: int = 0
    fid_priority: int = 0
    reserved: int = 0
    status: int = 0
    sub_options_raw: bytes = b""


@register_option
@dataclass(frozen=True, slots=True)
class RedirectCapability(MobilityOption):
    """Type 46 (RFC 6463 sec. 4.1)."""

    OPT_TYPE = 46
    NAME = "Redirect-Capability"
    LAYOUT = _layout(("u16", "reserved"))
    FIXED_LEN = 2
    reserved: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class Redirect(MobilityOption):
    """Type 47 (RFC 6463 sec. 4.2): K (IPv6 r2LMA follows), N (IPv4 r2LMA follows)."""

    OPT_TYPE = 47
    NAME = "Redirect"
    MIN_LEN = 6
    k: bool = False
    n: bool = False
    reserved: int = 0
    r2lma_ipv6: ipaddress.IPv6Address | None = None
    r2lma_ipv4: ipaddress.IPv4Address | None = None

    @classmethod
    def read_body(cls, r: Reader, length: int) -> Redirect:
        word = r.u16("flags")
        k, n = bool(word & 0x8000), bool(word & 0x4000)
        if length != 2 + 16 * k + 4 * n:
            raise _BadLength(f"Length {length} does not match K={int(k)} N={int(n)}")
        v6 = ipaddress.IPv6Address(r.raw(16, "r2lma_ipv6")) if k else None
        v4 = ipaddress.IPv4Address(r.raw(4, "r2lma_ipv4")) if n else None
        return cls(k=k, n=n, reserved=word & 0x3FFF, r2lma_ipv6=v6, r2lma_ipv4=v4)

    def body(self) -> bytes:
        word = (self.k << 15) | (self.n << 14) | (self.reserved & 0x3FFF)
        out = word.to_bytes(2, "big")
        if self.k:
            out += (self.r2lma_ipv6 or ipaddress.IPv6Address(0)).packed
        if self.n:
            out += (self.r2lma_ipv4 or ipaddress.IPv4Address(0)).packed
        return out


@register_option
@dataclass(frozen=True, slots=True)
class LoadInformation(MobilityOption):
    """Type 48 (RFC 6463 sec. 4.3)."""

    OPT_TYPE = 48
    NAME = "Load Information"
    LAYOUT = _layout(
        ("u16", "priority"),
        ("u32", "sessions_in_use"),
        ("u32", "maximum_sessions"),
        ("u32", "used_capacity"),
        ("u32", "maximum_capacity"),
    )
    FIXED_LEN = 18
    priority: int = 0
    sessions_in_use: int = 0
    maximum_sessions: int = 0
    used_capacity: int = 0
    maximum_capacity: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class AlternateIPv4CareOfAddress(MobilityOption):
    """Type 49 (RFC 6463 sec. 4.4)."""

    OPT_TYPE = 49
    NAME = "Alternate IPv4 Care-of Address"
    LAYOUT = _layout(("ip4", "address"))
    FIXED_LEN = 4
    address: ipaddress.IPv4Address = V4_ZERO


@register_option
@dataclass(frozen=True, slots=True)
class MobileNodeGroupIdentifier(MobilityOption):
    """Type 50 (RFC 6602 sec. 3.1)."""

    OPT_TYPE = 50
    NAME = "Mobile Node Group Identifier"
    LAYOUT = _layout(("u8", "subtype"), ("u8", "reserved"), ("u32", "group_identifier"))
    FIXED_LEN = 6
    subtype: int = 1
    reserved: int = 0
    group_identifier: int = 0


@register_option
@dataclass(frozen=True, slots=True)
class MagIpv6Address(MobilityOption):
    """Type 51 (RFC 6705 sec. 11.1): Reserved, Address Length (128), address; Length 18."""

    OPT_TYPE = 51
    NAME = "MAG IPv6 Address"
    LAYOUT = _layout(("u8", "reserved"), ("u8", "address_length"), ("ip6", "address"))
    FIXED_LEN = 18
    reserved: int = 0
    address_length: int = 128
    address: ipaddress.IPv6Address = V6_ZERO


@register_option
@dataclass(frozen=True, slots=True)
class AccessNetworkIdentifier(MobilityOption):
    """Type 52 (RFC 6757 sec. 3): ANI sub-options (type, length, data), kept raw."""

    OPT_TYPE = 52
    NAME = "Access Network Identifier"
    LAYOUT = _layout(("rest", "sub_options_raw"))
    MIN_LEN = 3
    sub_options_raw: bytes = b""

    @property
    def sub_options(self) -> tuple[tuple[int, bytes], ...]:
        return _tlvs(self.sub_options_raw)

    @property
    def network_identifier(self) -> tuple[bool, bytes, bytes] | None:
        """The Network-Identifier sub-option (ANI type 1): (E bit, network name, AP name)."""
        for ani_type, data in self.sub_options:
            if ani_type == 1 and len(data) >= 2:
                e = bool(data[0] & 0x80)
                n = data[1]
                name = data[2 : 2 + n]
                rest = data[2 + n :]
                ap = rest[1 : 1 + rest[0]] if rest else b""
                return e, name, ap
        return None


@register_option
@dataclass(frozen=True, slots=True)
class DelegatedMobileNetworkPrefix(MobilityOption):
    """Type 55 (RFC 7148 sec. 4.1): V (IPv4 prefix), Reserved (7), Prefix Length, prefix."""

    OPT_TYPE = 55
    NAME = "Delegated Mobile Network Prefix"
    LAYOUT = _layout(
        ("bits8", (("v", 1), ("reserved", 7))), ("u8", "prefix_length"), ("rest", "prefix_raw")
    )
    MIN_LEN = 6
    LENGTHS = (6, 18)
    LENGTHS_TEXT = "6 (IPv4) or 18 (IPv6)"
    v: bool = False
    reserved: int = 0
    prefix_length: int = 0
    prefix_raw: bytes = b""

    @property
    def prefix(self) -> IPAddress | None:
        return _address(self.prefix_raw)
