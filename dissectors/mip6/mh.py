"""The Mobility Header (IPv6 next header 135, RFC 6275 sec. 6.1) and its messages, types 0-18.

Wire layout (bytes)::

    0 Payload Proto (must be 59) | 1 Header Len (8-octet units, not counting the first 8)
    2 MH Type | 3 Reserved | 4-5 Checksum | 6.. message data, then mobility options

One class per MH type (registered by ``MH_TYPE``), sharing the header fields of
:class:`MobilityMessage`. :func:`parse_mh` (or ``MobilityMessage.parse``) decodes any type;
an unknown type is kept raw as :class:`UnknownMessage` with the anomaly ``mip6.unknown_type``.

Checksum. The MH checksum covers the IPv6 pseudo-header (RFC 2460 sec. 8.1, next header 135)
and the whole Mobility Header. ``parse(buf, src=..., dst=...)`` verifies it when both addresses
are given (``checksum_ok``; anomaly ``mip6.bad_checksum`` on mismatch), ``build(src=..., dst=...)``
computes it when ``checksum`` is None. The caller passes the addresses *the upper layer sees*:
the home address from a Home Address destination option instead of the IPv6 source, and the
Type 2 Routing Header's home address instead of the IPv6 destination while Segments Left > 0
(RFC 6275 sec. 6.3/6.4, RFC 2460 sec. 8.1); :func:`dissectors.mip6.ext.checksum_addresses`
does that choice from the extension headers.

Header Len. Build derives it from the message length, which must be a multiple of 8 (use
:meth:`MobilityMessage.padded`). When a received Header Len is shorter than the message's
fixed part, the fixed part is still decoded from the bytes that follow, ``header_len`` keeps
the value received, and the anomaly ``mip6.bogus_header_length`` is raised (as Wireshark does).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import ClassVar, Self, TypeVar

from dissectors.core import (
    RESERVED_BITS,
    TRAILING_BYTES,
    Malformed,
    Reader,
    Value,
    anomaly_code,
    attach,
)
from dissectors.mip6._fields import (
    V6_ZERO,
    Layout,
    build_layout,
    checksum_to_send,
    expected_checksum,
    layout_size,
    read_layout,
)
from dissectors.mip6.options import (
    BindingCacheConfirmation,
    MobilityOption,
    Pad1,
    PadN,
    read_options,
)

IPPROTO_MH = 135
IPPROTO_NONE = 59

BAD_CHECKSUM = anomaly_code(
    "mip6.bad_checksum", "error", "Mobility Header checksum does not match (pseudo-header incl.)"
)
BOGUS_HEADER_LENGTH = anomaly_code(
    "mip6.bogus_header_length",
    "warn",
    "Header Len is shorter than the fixed part of the message type",
    wireshark="mip6.bogus_header_length",
)
UNKNOWN_TYPE = anomaly_code(
    "mip6.unknown_type", "warn", "MH type this decoder does not know; message data kept raw"
)
PAYLOAD_PROTO = anomaly_code(
    "mip6.payload_proto", "note", "Payload Proto is not 59 (RFC 6275 sec. 6.1.1: MUST be 59)"
)


@dataclass(frozen=True, slots=True)
class MobilityMessage(Value):
    """Base of the Mobility Header messages: the 6 header bytes and the option list.

    ``checksum`` None means "compute on build" (needs ``src``/``dst``, else 0 is sent).
    ``header_len`` is None except for a received bogus Header Len (see the module doc).
    ``checksum_ok`` is set by ``parse`` when the addresses were given (not compared).
    """

    MH_TYPE: ClassVar[int] = -1
    NAME: ClassVar[str] = ""
    LABEL: ClassVar[str] = ""
    LAYOUT: ClassVar[Layout] = ()
    HAS_OPTIONS: ClassVar[bool] = True

    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0
    checksum: int | None = None
    header_len: int | None = None
    options: tuple[MobilityOption, ...] = ()
    checksum_ok: bool | None = field(default=None, compare=False)

    @property
    def mh_type(self) -> int:
        return self.MH_TYPE

    @property
    def label(self) -> str:
        """Short name: BU, PBU (P set), LBU (HMIPv6 local BU, M set), BA, PBA, BRI, ..."""
        return self.LABEL

    # -- body hooks (overridden by the irregular types) --------------------------------------
    @classmethod
    def read_body(cls, r: Reader) -> dict[str, object]:
        return read_layout(r, cls.LAYOUT)

    def body(self) -> bytes:
        return build_layout(self, self.LAYOUT)

    @classmethod
    def fixed_size(cls) -> int:
        return layout_size(cls.LAYOUT) or 0

    # -- decoding ----------------------------------------------------------------------------
    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls.read_with(r)

    @classmethod
    def read_with(
        cls,
        r: Reader,
        src: ipaddress.IPv6Address | str | None = None,
        dst: ipaddress.IPv6Address | str | None = None,
        bcc_type: int | None = None,
    ) -> Self:
        start = r.pos
        payload_proto = r.u8("payload_proto")
        hlen = r.u8("header_len")
        mh_type = r.u8("mh_type")
        header_reserved = r.u8("header_reserved")
        checksum = r.u16("checksum")
        if payload_proto != IPPROTO_NONE:
            r.anomaly(PAYLOAD_PROTO, f"Payload Proto {payload_proto}", offset=start)
        if header_reserved:
            r.anomaly(RESERVED_BITS, f"MH Reserved = {header_reserved:#04x}", offset=start + 3)
        total = (hlen + 1) * 8
        klass: type[MobilityMessage] = MESSAGE_TYPES.get(mh_type, UnknownMessage)
        if cls is not MobilityMessage and not issubclass(klass, cls):
            raise Malformed(start + 2, f"MH type {mh_type} is not a {cls.__name__}")
        common = {
            "payload_proto": payload_proto,
            "header_reserved": header_reserved,
            "checksum": checksum,
        }
        fixed = 6 + klass.fixed_size()
        if fixed > total:
            r.anomaly(
                BOGUS_HEADER_LENGTH,
                f"Header Len {hlen} ({total} bytes) < {fixed} bytes of {klass.NAME or 'message'}",
                offset=start + 1,
            )
            fields = klass.read_body(r)
            value = klass(**common, header_len=hlen, **fields)  # type: ignore[arg-type]
            end = r.pos
        else:
            r.need(total - 6, "message")
            with r.limit(total - 6, "message"):
                fields = klass.read_body(r)
                if klass is UnknownMessage:
                    r.anomaly(UNKNOWN_TYPE, f"MH type {mh_type}", offset=start + 2)
                    fields["type_value"] = mh_type
                for name, val in fields.items():
                    if name.startswith("reserved") and isinstance(val, int) and val:
                        r.anomaly(RESERVED_BITS, f"{name} = {val:#x}")
                options = read_options(r, bcc_type) if klass.HAS_OPTIONS else ()
            value = klass(**common, options=options, **fields)  # type: ignore[arg-type]
            end = r.pos
        if src is not None and dst is not None:
            want = expected_checksum(r.buf[start:end], 4, src, dst, IPPROTO_MH)
            ok = want == checksum
            if not ok:
                r.anomaly(
                    BAD_CHECKSUM, f"checksum {checksum:#06x}, expected {want:#06x}", start + 4
                )
            object.__setattr__(value, "checksum_ok", ok)
        return value  # type: ignore[return-value]

    @classmethod
    def parse(
        cls,
        buf: bytes | bytearray | memoryview,
        *,
        allow_trailing: bool = False,
        src: ipaddress.IPv6Address | str | None = None,
        dst: ipaddress.IPv6Address | str | None = None,
        bcc_type: int | None = None,
    ) -> Self:
        """Decode a Mobility Header; verify its checksum when ``src`` and ``dst`` are given."""
        r = Reader(bytes(buf))
        value = cls.read_with(r, src, dst, bcc_type)
        if not allow_trailing and r.pos < r.end:
            r.anomaly(TRAILING_BYTES, f"{r.end - r.pos} bytes after the Mobility Header")
        return attach(value, r)

    # -- encoding ----------------------------------------------------------------------------
    def payload(self) -> bytes:
        """Message data and options (everything after the checksum)."""
        return self.body() + b"".join(o.build() for o in self.options)

    def build(
        self,
        src: ipaddress.IPv6Address | str | None = None,
        dst: ipaddress.IPv6Address | str | None = None,
    ) -> bytes:
        data = self.payload()
        if self.header_len is not None:
            hlen = self.header_len
        else:
            if (6 + len(data)) % 8:
                raise ValueError(
                    f"{type(self).__name__} is {6 + len(data)} bytes, not a multiple of 8: "
                    "add padding options (see padded())"
                )
            hlen = (6 + len(data)) // 8 - 1
        head = bytes([self.payload_proto, hlen, self.mh_type, self.header_reserved])
        message = head + b"\x00\x00" + data
        checksum = checksum_to_send(self.checksum, message, 4, src, dst, IPPROTO_MH)
        return head + checksum.to_bytes(2, "big") + data

    def padded(self) -> Self:
        """A copy with Pad1/PadN appended so that the message is a multiple of 8 bytes."""
        if not self.HAS_OPTIONS or self.header_len is not None:
            return self
        size = 6 + len(self.payload())
        need = -size % 8
        if need == 0:
            return self
        pad: MobilityOption = Pad1() if need == 1 else PadN(padding=bytes(need - 2))
        return replace(self, options=(*self.options, pad))

    def with_checksum(
        self, src: ipaddress.IPv6Address | str, dst: ipaddress.IPv6Address | str
    ) -> Self:
        """A copy whose ``checksum`` is the right one for these addresses."""
        raw = replace(self, checksum=None).build(src, dst)
        return replace(self, checksum=int.from_bytes(raw[4:6], "big"))


M = TypeVar("M", bound=type[MobilityMessage])
MESSAGE_TYPES: dict[int, type[MobilityMessage]] = {}


def register_mh(cls: M) -> M:
    """Class decorator: make ``cls`` the decoder of MH type ``cls.MH_TYPE``."""
    MESSAGE_TYPES[cls.MH_TYPE] = cls
    return cls


def parse_mh(
    buf: bytes | bytearray | memoryview,
    *,
    src: ipaddress.IPv6Address | str | None = None,
    dst: ipaddress.IPv6Address | str | None = None,
    bcc_type: int | None = None,
    allow_trailing: bool = False,
) -> MobilityMessage:
    """Decode any Mobility Header message (see :meth:`MobilityMessage.parse`)."""
    return MobilityMessage.parse(
        buf, src=src, dst=dst, bcc_type=bcc_type, allow_trailing=allow_trailing
    )


def verify_checksum(
    mh: bytes, src: ipaddress.IPv6Address | str, dst: ipaddress.IPv6Address | str
) -> bool:
    """True if the Mobility Header ``mh`` (whole header, as received) has the right checksum."""
    if len(mh) < 6:
        return False
    return expected_checksum(mh, 4, src, dst, IPPROTO_MH) == int.from_bytes(mh[4:6], "big")


@dataclass(frozen=True, slots=True)
class UnknownMessage(MobilityMessage):
    """A message of an MH type with no decoder: the bytes after the checksum, raw."""

    HAS_OPTIONS = False
    LAYOUT = (("rest", "data"),)
    type_value: int = 255
    data: bytes = b""

    @property
    def mh_type(self) -> int:
        return self.type_value

    @property
    def label(self) -> str:
        return f"MH{self.type_value}"


# -- what several message types share ------------------------------------------------------


class _Lifetime4s:
    """Mixin of the messages whose Lifetime counts 4-second units (BU, BA, FBU, FBack)."""

    __slots__ = ()
    lifetime: int

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * 4


def _update_layout(*flags: str) -> Layout:
    """BU and FBU: Sequence (16), the 1-bit ``flags`` + reserved to 16 bits, Lifetime (16)."""
    bits = (*((f, 1) for f in flags), ("reserved", 16 - len(flags)))
    return (("u16", "sequence"), ("bits16", bits), ("u16", "lifetime"))


def _ack_layout(*flags: str) -> Layout:
    """BA and FBack: Status (8), the 1-bit ``flags`` + reserved to 8 bits, Sequence, Lifetime."""
    bits = (*((f, 1) for f in flags), ("reserved", 8 - len(flags)))
    return (("u8", "status"), ("bits8", bits), ("u16", "sequence"), ("u16", "lifetime"))


def _test_init_layout(who: str) -> Layout:
    """HoTI / CoTI (``who`` = home / care_of): Reserved (16), Init Cookie (64)."""
    return (("u16", "reserved"), ("u64", f"{who}_init_cookie"))


def _test_layout(who: str) -> Layout:
    """HoT / CoT (``who`` = home / care_of): Nonce Index (16), Init Cookie, Keygen Token (64)."""
    return (
        ("u16", f"{who}_nonce_index"),
        ("u64", f"{who}_init_cookie"),
        ("u64", f"{who}_keygen_token"),
    )


@dataclass(frozen=True, slots=True)
class _ReservedOnly(MobilityMessage):
    """Reserved (16), then options (BRR, FNA)."""

    LAYOUT = (("u16", "reserved"),)
    reserved: int = 0


# -- RFC 6275 --------------------------------------------------------------------------------


@register_mh
@dataclass(frozen=True, slots=True)
class BindingRefreshRequest(_ReservedOnly):
    """Type 0, BRR (RFC 6275 sec. 6.1.2): Reserved (16), options."""

    MH_TYPE = 0
    NAME = "Binding Refresh Request"
    LABEL = "BRR"


@register_mh
@dataclass(frozen=True, slots=True)
class HomeTestInit(MobilityMessage):
    """Type 1, HoTI (RFC 6275 sec. 6.1.3): Reserved (16), Home Init Cookie (64)."""

    MH_TYPE = 1
    NAME = "Home Test Init"
    LABEL = "HoTI"
    LAYOUT = _test_init_layout("home")
    reserved: int = 0
    home_init_cookie: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class CareOfTestInit(MobilityMessage):
    """Type 2, CoTI (RFC 6275 sec. 6.1.4): Reserved (16), Care-of Init Cookie (64)."""

    MH_TYPE = 2
    NAME = "Care-of Test Init"
    LABEL = "CoTI"
    LAYOUT = _test_init_layout("care_of")
    reserved: int = 0
    care_of_init_cookie: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class HomeTest(MobilityMessage):
    """Type 3, HoT (RFC 6275 sec. 6.1.5): Home Nonce Index, Home Init Cookie, Keygen Token."""

    MH_TYPE = 3
    NAME = "Home Test"
    LABEL = "HoT"
    LAYOUT = _test_layout("home")
    home_nonce_index: int = 0
    home_init_cookie: int = 0
    home_keygen_token: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class CareOfTest(MobilityMessage):
    """Type 4, CoT (RFC 6275 sec. 6.1.6)."""

    MH_TYPE = 4
    NAME = "Care-of Test"
    LABEL = "CoT"
    LAYOUT = _test_layout("care_of")
    care_of_nonce_index: int = 0
    care_of_init_cookie: int = 0
    care_of_keygen_token: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class BindingUpdate(MobilityMessage, _Lifetime4s):
    """Type 5, BU (RFC 6275 sec. 6.1.7 and the IANA "Binding Update Flags" registry).

    Flags (16 bits at byte 8): A ack wanted, H home registration, L link-local compatibility,
    K key management, M MAP registration (RFC 5380), R mobile router (RFC 3963), P proxy
    (RFC 5213), F forced UDP encapsulation (RFC 5555), T TLV-header format (RFC 5845),
    B bulk binding (RFC 6602), then 6 reserved bits. Lifetime in 4-second units.
    """

    MH_TYPE = 5
    NAME = "Binding Update"
    LAYOUT = _update_layout("a", "h", "l", "k", "m", "r", "p", "f", "t", "b")
    sequence: int = 0
    a: bool = False
    h: bool = False
    l: bool = False  # noqa: E741 - the flag's name in RFC 6275
    k: bool = False
    m: bool = False
    r: bool = False
    p: bool = False
    f: bool = False
    t: bool = False
    b: bool = False
    reserved: int = 0
    lifetime: int = 0

    @property
    def label(self) -> str:
        if self.p:
            return "PBU"
        if self.m:
            return "LBU"
        return "BU"


@register_mh
@dataclass(frozen=True, slots=True)
class BindingAck(MobilityMessage, _Lifetime4s):
    """Type 6, BA (RFC 6275 sec. 6.1.8): Status, K R P T B + 3 reserved, Sequence, Lifetime."""

    MH_TYPE = 6
    NAME = "Binding Acknowledgement"
    LAYOUT = _ack_layout("k", "r", "p", "t", "b")
    status: int = 0
    k: bool = False
    r: bool = False
    p: bool = False
    t: bool = False
    b: bool = False
    reserved: int = 0
    sequence: int = 0
    lifetime: int = 0

    @property
    def label(self) -> str:
        return "PBA" if self.p else "BA"

    @property
    def accepted(self) -> bool:
        return self.status < 128

    def status_name(self, dialect: str = "rfc5213") -> str:
        return status_name(self.status, dialect)


@register_mh
@dataclass(frozen=True, slots=True)
class BindingError(MobilityMessage):
    """Type 7, BE (RFC 6275 sec. 6.1.9): Status, Reserved, Home Address."""

    MH_TYPE = 7
    NAME = "Binding Error"
    LABEL = "BE"
    LAYOUT = (("u8", "status"), ("u8", "reserved"), ("ip6", "home_address"))
    status: int = 0
    reserved: int = 0
    home_address: ipaddress.IPv6Address = V6_ZERO


# -- FMIPv6 (RFC 5568) -----------------------------------------------------------------------


@register_mh
@dataclass(frozen=True, slots=True)
class FastBindingUpdate(MobilityMessage, _Lifetime4s):
    """Type 8, FBU (RFC 5568 sec. 6.3.1): the BU layout; only A H L K are defined."""

    MH_TYPE = 8
    NAME = "Fast Binding Update"
    LABEL = "FBU"
    LAYOUT = _update_layout("a", "h", "l", "k")
    sequence: int = 0
    a: bool = False
    h: bool = False
    l: bool = False  # noqa: E741
    k: bool = False
    reserved: int = 0
    lifetime: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class FastBindingAck(MobilityMessage, _Lifetime4s):
    """Type 9, FBack (RFC 5568 sec. 6.3.2): Status, K + 7 reserved, Sequence, Lifetime."""

    MH_TYPE = 9
    NAME = "Fast Binding Acknowledgment"
    LABEL = "FBack"
    LAYOUT = _ack_layout("k")
    status: int = 0
    k: bool = False
    reserved: int = 0
    sequence: int = 0
    lifetime: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class FastNeighborAdvertisement(_ReservedOnly):
    """Type 10, FNA (RFC 5568 sec. 6.3.3): Reserved (16), options."""

    MH_TYPE = 10
    NAME = "Fast Neighbor Advertisement"
    LABEL = "FNA"


@register_mh
@dataclass(frozen=True, slots=True)
class ExperimentalMessage(MobilityMessage):
    """Type 11 (RFC 5096): message data only, no options."""

    MH_TYPE = 11
    NAME = "Experimental Mobility Header"
    LABEL = "EMH"
    LAYOUT = (("rest", "data"),)
    HAS_OPTIONS = False
    data: bytes = b""


@register_mh
@dataclass(frozen=True, slots=True)
class HomeAgentSwitch(MobilityMessage):
    """Type 12, HAS (RFC 5142 sec. 3.1): # Addresses, Reserved, Home Agent Addresses, options."""

    MH_TYPE = 12
    NAME = "Home Agent Switch"
    LABEL = "HAS"
    reserved: int = 0
    home_agent_addresses: tuple[ipaddress.IPv6Address, ...] = ()

    @classmethod
    def fixed_size(cls) -> int:
        return 2

    @classmethod
    def read_body(cls, r: Reader) -> dict[str, object]:
        count = r.u8("num_addresses")
        reserved = r.u8("reserved")
        addrs = tuple(
            ipaddress.IPv6Address(r.raw(16, f"home_agent_addresses[{i}]")) for i in range(count)
        )
        return {"reserved": reserved, "home_agent_addresses": addrs}

    def body(self) -> bytes:
        return bytes([len(self.home_agent_addresses), self.reserved]) + b"".join(
            a.packed for a in self.home_agent_addresses
        )


@register_mh
@dataclass(frozen=True, slots=True)
class Heartbeat(MobilityMessage):
    """Type 13 (RFC 5847 sec. 5.1): Reserved (14), U (unsolicited), R (response), Sequence (32)."""

    MH_TYPE = 13
    NAME = "Heartbeat"
    LABEL = "HB"
    LAYOUT = (("bits16", (("reserved", 14), ("u", 1), ("r", 1))), ("u32", "sequence"))
    reserved: int = 0
    u: bool = False
    r: bool = False
    sequence: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class HandoverInitiate(MobilityMessage):
    """Type 14, HI (RFC 5568 sec. 6.2.1): Sequence, S, U, Reserved (6), Code."""

    MH_TYPE = 14
    NAME = "Handover Initiate"
    LABEL = "HI"
    LAYOUT = (
        ("u16", "sequence"),
        ("bits8", (("s", 1), ("u", 1), ("reserved", 6))),
        ("u8", "code"),
    )
    sequence: int = 0
    s: bool = False
    u: bool = False
    reserved: int = 0
    code: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class HandoverAck(MobilityMessage):
    """Type 15, HAck (RFC 5568 sec. 6.2.2): Sequence, Reserved (8), Code."""

    MH_TYPE = 15
    NAME = "Handover Acknowledge"
    LABEL = "HAck"
    LAYOUT = (("u16", "sequence"), ("u8", "reserved"), ("u8", "code"))
    sequence: int = 0
    reserved: int = 0
    code: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class BindingRevocation(MobilityMessage):
    """Type 16 (RFC 5846 sec. 6): B.R. Type 1 = Indication (R. Trigger), 2 = Ack (Status).

    Then Sequence and P (proxy), V (IPv4 HoA only), G (global) + 13 reserved bits.
    """

    MH_TYPE = 16
    NAME = "Binding Revocation"
    LAYOUT = (
        ("u8", "br_type"),
        ("u8", "trigger_or_status"),
        ("u16", "sequence"),
        ("bits16", (("p", 1), ("v", 1), ("g", 1), ("reserved", 13))),
    )
    br_type: int = 1
    trigger_or_status: int = 0
    sequence: int = 0
    p: bool = False
    v: bool = False
    g: bool = False
    reserved: int = 0

    @property
    def label(self) -> str:
        return {1: "BRI", 2: "BRA"}.get(self.br_type, "BR")

    @property
    def revocation_trigger(self) -> int | None:
        return self.trigger_or_status if self.br_type == 1 else None

    @property
    def status(self) -> int | None:
        return self.trigger_or_status if self.br_type == 2 else None


@register_mh
@dataclass(frozen=True, slots=True)
class LocalizedRoutingInitiation(MobilityMessage):
    """Type 17, LRI (RFC 6705 sec. 10.1): Sequence, Reserved (16), Lifetime (seconds)."""

    MH_TYPE = 17
    NAME = "Localized Routing Initiation"
    LABEL = "LRI"
    LAYOUT = (("u16", "sequence"), ("u16", "reserved"), ("u16", "lifetime"))
    sequence: int = 0
    reserved: int = 0
    lifetime: int = 0


@register_mh
@dataclass(frozen=True, slots=True)
class LocalizedRoutingAck(MobilityMessage):
    """Type 18, LRA (RFC 6705 sec. 10.2): Sequence, U + 7 reserved, Status, Lifetime (s)."""

    MH_TYPE = 18
    NAME = "Localized Routing Acknowledgment"
    LABEL = "LRA"
    LAYOUT = (
        ("u16", "sequence"),
        ("bits8", (("u", 1), ("reserved", 7))),
        ("u8", "status"),
        ("u16", "lifetime"),
    )
    sequence: int = 0
    u: bool = False
    reserved: int = 0
    status: int = 0
    lifetime: int = 0


# -- Binding Acknowledgement status names ------------------------------------------------------

PMIP_STATUS_DIALECTS = ("rfc5213", "pd-2005", "draft-2007")

BA_STATUS: dict[int, str] = {
    0: "Binding Update accepted",
    1: "Accepted but prefix discovery necessary",
    2: "GRE key option not required",
    3: "GRE tunneling but TLV header not supported",
    4: "MCoA incomplete",
    5: "MCoA return home without NDP",
    6: "PBU accepted, transient binding ignored (settings mismatch)",
    128: "Reason unspecified",
    129: "Administratively prohibited",
    130: "Insufficient resources",
    131: "Home registration not supported",
    132: "Not home subnet",
    133: "Not home agent for this mobile node",
    134: "Duplicate Address Detection failed",
    135: "Sequence number out of window",
    136: "Expired home nonce index",
    137: "Expired care-of nonce index",
    138: "Expired nonces",
    139: "Registration type change disallowed",
    140: "Mobile Router Operation not permitted",
    141: "Invalid Prefix",
    142: "Not Authorized for Prefix",
    143: "Forwarding Setup failed (prefixes missing)",
    144: "MIPV6-ID-MISMATCH",
    145: "MIPV6-MESG-ID-REQD",
    146: "MIPV6-AUTH-FAIL",
    147: "Permanent home keygen token unavailable",
    148: "CGA and signature verification failed",
    149: "Permanent home keygen token exists",
    150: "Non-null home nonce index expected",
    151: "Service authorization failed",
    152: "Proxy registration not enabled",
    153: "Not LMA for this mobile node",
    154: "MAG not authorized for proxy registration",
    155: "Not authorized for home network prefix",
    156: "Timestamp mismatch",
    157: "Timestamp lower than previously accepted",
    158: "Missing home network prefix option",
    159: "BCE/PBU prefix set do not match",
    160: "Missing MN identifier option",
    161: "Missing handoff indicator option",
    162: "Missing access technology type option",
    163: "GRE key option required",
    164: "MCoA malformed",
    165: "MCoA non-MCoA binding exists",
    166: "MCoA prohibited",
    167: "MCoA unknown CoA",
    168: "MCoA bulk registration prohibited",
    169: "MCoA simultaneous home and foreign prohibited",
    170: "Not authorized for IPv4 mobility service",
    171: "Not authorized for IPv4 home address",
    172: "Not authorized for IPv6 mobility service",
    173: "Multiple IPv4 home address assignment not supported",
    174: "Invalid Care-of Address",
    175: "Invalid mobile node group identifier",
    176: "Reinitialize SA with HAC",
    177: "Not authorized for delegated MNP",
    178: "Requested DMNP in use",
}

_DIALECT_STATUS: dict[str, dict[int, str]] = {
    "rfc5213": {},
    # draft-gundavelli-netlmm-mip6-proxy-00 sec. 5.1 (never allocated: IANA gave 140/141 to NEMO)
    "pd-2005": {
        140: "Proxy registration not supported",
        141: "Binding Cache Entry missing",
    },
    # later proxy drafts, as Wireshark still names them (IANA gave 144-146 to RFC 4285 and
    # 147/148 to RFC 4866, which the rfc5213 dialect uses)
    "draft-2007": {
        145: "Proxy Registration not supported by the LMA",
        146: "Proxy Registrations from this MAG not allowed",
        147: "No home address for this NAI",
        148: "Invalid Time Stamp Option",
    },
}


def status_name(code: int, dialect: str = "rfc5213") -> str:
    """The name of BA status ``code`` under a PMIPv6 dialect (rfc5213, pd-2005, draft-2007)."""
    if dialect not in _DIALECT_STATUS:
        raise ValueError(f"unknown PMIPv6 status dialect {dialect!r} ({PMIP_STATUS_DIALECTS})")
    name = _DIALECT_STATUS[dialect].get(code) or BA_STATUS.get(code)
    if name is not None:
        return name
    return f"Unassigned ({code}, {'accepted' if code < 128 else 'rejected'})"


def suggest_dialect(message: MobilityMessage) -> str:
    """pd-2005 when a message carries PD's Binding Cache Confirmation option, else rfc5213."""
    if any(isinstance(o, BindingCacheConfirmation) for o in message.options):
        return "pd-2005"
    return "rfc5213"
