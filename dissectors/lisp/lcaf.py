"""LCAF bodies (RFC 8060 and its successors), one class per type, registered by type number.

Each class decodes the body that follows the 6-byte LCAF header (see :class:`Lcaf`); the
reader is limited to the header's Length, so a body that stops short of it is reported as
trailing bytes and one that needs more raises :class:`Truncated`.

Layouts were checked against the ASCII diagrams in independent implementations (Wireshark
``packet-lisp.c``, jlisp, OpenDaylight lispflowmapping, OOR); the RFC 8060 section numbers in
the docstrings are recalled [R]. Type 6 (Opaque Key) follows RFC 8060 [R] (Key Type + Key);
early drafts had Key Field Num + Key Wildcard Fields there. Type 17 (Service Path) is the
OpenDaylight / draft-ermagan-lisp-nsh encoding (SPI 24 + SI 8).

Nested addresses may be LCAFs themselves; :data:`dissectors.lisp.afi.MAX_LCAF_DEPTH` bounds
the nesting (deeper raises :class:`Malformed`).
"""

from __future__ import annotations

import json as jsonlib
import struct
from dataclasses import dataclass
from enum import IntEnum

from dissectors.core import RESERVED_BITS, Reader, Value, anomaly_code
from dissectors.lisp.afi import Address, Lcaf, NoAddress, register_lcaf


@register_lcaf
@dataclass(frozen=True, slots=True)
class NullLcaf(Lcaf):
    """Type 0: Null Body (RFC 8060 sec. 3)."""

    LCAF_TYPE = 0

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> NullLcaf:
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2)

    def lcaf_body(self) -> bytes:
        return b""

    def canonical(self) -> str:
        return "null"


@register_lcaf
@dataclass(frozen=True, slots=True)
class AfiList(Lcaf):
    """Type 1: AFI List (RFC 8060 sec. 4.1): addresses of any AFI, nested LCAF included.

    Canonical form: ``{a,b,...}``.
    """

    LCAF_TYPE = 1
    addresses: tuple[Address, ...] = ()

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> AfiList:
        items: list[Address] = []
        while r.remaining > 0:
            items.append(r.sub(f"addresses[{len(items)}]", Address.read))
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, addresses=tuple(items))

    def lcaf_body(self) -> bytes:
        return b"".join(a.build() for a in self.addresses)

    def canonical(self) -> str:
        return "{" + ",".join(a.canonical() for a in self.addresses) + "}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class InstanceId(Lcaf):
    """Type 2: Instance ID (RFC 8060 sec. 4.2). ``rsvd2`` carries the IID mask-length.

    Canonical form: ``[iid]address``; as a prefix ``[iid]address/len``.
    """

    LCAF_TYPE = 2
    iid: int = 0
    address: Address | None = None

    @property
    def iid_mask_len(self) -> int:
        return self.rsvd2

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> InstanceId:
        iid = r.u32("iid")
        inner = r.sub("address", Address.read)
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, iid=iid, address=inner)

    def lcaf_body(self) -> bytes:
        assert self.address is not None, "an Instance-ID LCAF needs an address"
        return self.iid.to_bytes(4, "big") + self.address.build()

    def canonical(self) -> str:
        return f"[{self.iid}]{self.address}"

    def prefix(self, mask_len: int) -> str:
        assert self.address is not None
        return f"[{self.iid}]{self.address.prefix(mask_len)}"


# -- helpers ------------------------------------------------------------------------------

NO_ADDRESS = NoAddress()  # the default of every address field (AFI 0)

INVALID_FIELD = anomaly_code(
    "lisp.invalid_field",
    "warn",
    "a field holds a value outside its range (Geo degrees/minutes/seconds)",
    "lisp.invalid_field",
)
BAD_JSON = anomaly_code(
    "lisp.lcaf.json_invalid", "note", "JSON Data Model LCAF text is not valid UTF-8 JSON"
)


def _read_address(r: Reader, name: str) -> Address:
    return r.sub(name, Address.read)


def _reserved(r: Reader, value: int, name: str) -> None:
    if value:
        r.anomaly(RESERVED_BITS, f"{r.key(name)} = {value:#x}")


def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _u32(value: int) -> bytes:
    return struct.pack("!I", value)


def _flags(**bits: bool) -> str:
    return "".join(name for name, on in bits.items() if on)


@register_lcaf
@dataclass(frozen=True, slots=True)
class AsNumber(Lcaf):
    """Type 3: AS Number (RFC 8060 sec. 4.3): AS Number (32) then an address.

    Canonical form: ``as<asn>:<address>`` (e.g. ``as64500:10.0.0.1``); as a prefix
    ``as64500:10.0.0.0/8``.
    """

    LCAF_TYPE = 3
    asn: int = 0
    address: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> AsNumber:
        asn = r.u32("asn")
        address = _read_address(r, "address")
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, asn=asn, address=address)

    def lcaf_body(self) -> bytes:
        return _u32(self.asn) + self.address.build()

    def canonical(self) -> str:
        return f"as{self.asn}:{self.address}"

    def prefix(self, mask_len: int) -> str:
        return f"as{self.asn}:{self.address.prefix(mask_len)}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class ApplicationData(Lcaf):
    """Type 4: Application Data (RFC 8060 sec. 5.1).

    ``IP TOS, IPv6 TC, or Flow Label (24) | Protocol (8) | Local Port low (16) | Local Port
    high (16) | Remote Port low (16) | Remote Port high (16) | AFI + address``.

    Canonical form: ``app[tos=<hex>,proto=<p>,lport=<lo>-<hi>,rport=<lo>-<hi>]<address>``.
    """

    LCAF_TYPE = 4
    tos: int = 0  # IP TOS, IPv6 TC or Flow Label, 24 bits
    protocol: int = 0
    local_port_low: int = 0
    local_port_high: int = 0
    remote_port_low: int = 0
    remote_port_high: int = 0
    address: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> ApplicationData:
        tos = r.u24("tos")
        protocol = r.u8("protocol")
        ports = [r.u16(n) for n in ("local_port_low", "local_port_high")]
        ports += [r.u16(n) for n in ("remote_port_low", "remote_port_high")]
        address = _read_address(r, "address")
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            tos=tos,
            protocol=protocol,
            local_port_low=ports[0],
            local_port_high=ports[1],
            remote_port_low=ports[2],
            remote_port_high=ports[3],
            address=address,
        )

    def lcaf_body(self) -> bytes:
        head = (self.tos << 8 | self.protocol).to_bytes(4, "big")
        ports = struct.pack(
            "!HHHH",
            self.local_port_low,
            self.local_port_high,
            self.remote_port_low,
            self.remote_port_high,
        )
        return head + ports + self.address.build()

    def _tag(self) -> str:
        return (
            f"app[tos={self.tos:#x},proto={self.protocol},"
            f"lport={self.local_port_low}-{self.local_port_high},"
            f"rport={self.remote_port_low}-{self.remote_port_high}]"
        )

    def canonical(self) -> str:
        return f"{self._tag()}{self.address}"

    def prefix(self, mask_len: int) -> str:
        return f"{self._tag()}{self.address.prefix(mask_len)}"


ALTITUDE_NONE = 0x7FFFFFFF


@register_lcaf
@dataclass(frozen=True, slots=True)
class GeoCoordinates(Lcaf):
    """Type 5: Geo Coordinates (RFC 8060 sec. 4.4).

    ``N (1) | Latitude Degrees (15) | Minutes (8) | Seconds (8)``, the same for longitude with
    the E bit, ``Altitude (32, signed metres; 0x7fffffff = none)``, then an address.
    Degrees > 90 (latitude) / > 180 (longitude), minutes or seconds >= 60 are reported as
    ``lisp.invalid_field`` anomalies (Wireshark checks ``> 60`` and so misses 60).

    Canonical form: ``geo[<d>-<m>-<s>-<N|S>,<d>-<m>-<s>-<E|W>,alt=<m>]<address>`` (``,alt=``
    left out when no altitude is encoded), e.g. ``geo[37-23-46-N,121-55-36-W]10.0.0.1``.
    """

    LCAF_TYPE = 5
    north: bool = True
    lat_degrees: int = 0
    lat_minutes: int = 0
    lat_seconds: int = 0
    east: bool = True
    lon_degrees: int = 0
    lon_minutes: int = 0
    lon_seconds: int = 0
    altitude: int = ALTITUDE_NONE  # signed metres
    address: Address = NO_ADDRESS

    @property
    def altitude_present(self) -> bool:
        return self.altitude != ALTITUDE_NONE

    @property
    def latitude(self) -> float:
        """Decimal degrees, negative in the southern hemisphere."""
        value = self.lat_degrees + self.lat_minutes / 60 + self.lat_seconds / 3600
        return value if self.north else -value

    @property
    def longitude(self) -> float:
        """Decimal degrees, negative west of Greenwich."""
        value = self.lon_degrees + self.lon_minutes / 60 + self.lon_seconds / 3600
        return value if self.east else -value

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> GeoCoordinates:
        axes = []
        for axis, limit in (("lat", 90), ("lon", 180)):
            word = r.u16(f"{axis}_degrees")
            r.alias(f"{axis}_degrees", "north" if axis == "lat" else "east")
            minutes = r.u8(f"{axis}_minutes")
            seconds = r.u8(f"{axis}_seconds")
            degrees = word & 0x7FFF
            for name, value, top in (
                ("degrees", degrees, limit),
                ("minutes", minutes, 59),
                ("seconds", seconds, 59),
            ):
                if value > top:
                    start = r.spans[r.key(f"{axis}_{name}")][0]
                    r.anomaly(INVALID_FIELD, f"{axis} {name} {value} > {top}", offset=start)
            axes.append((bool(word & 0x8000), degrees, minutes, seconds))
        altitude = struct.unpack("!i", r.raw(4, "altitude"))[0]
        address = _read_address(r, "address")
        (north, lat_d, lat_m, lat_s), (east, lon_d, lon_m, lon_s) = axes
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            north=north,
            lat_degrees=lat_d,
            lat_minutes=lat_m,
            lat_seconds=lat_s,
            east=east,
            lon_degrees=lon_d,
            lon_minutes=lon_m,
            lon_seconds=lon_s,
            altitude=altitude,
            address=address,
        )

    def lcaf_body(self) -> bytes:
        lat = (0x8000 if self.north else 0) | self.lat_degrees
        lon = (0x8000 if self.east else 0) | self.lon_degrees
        return (
            struct.pack(
                "!HBBHBBi",
                lat,
                self.lat_minutes,
                self.lat_seconds,
                lon,
                self.lon_minutes,
                self.lon_seconds,
                self.altitude,
            )
            + self.address.build()
        )

    def _tag(self) -> str:
        lat = (
            f"{self.lat_degrees}-{self.lat_minutes}-{self.lat_seconds}-{'N' if self.north else 'S'}"
        )
        lon = (
            f"{self.lon_degrees}-{self.lon_minutes}-{self.lon_seconds}-{'E' if self.east else 'W'}"
        )
        alt = f",alt={self.altitude}" if self.altitude_present else ""
        return f"geo[{lat},{lon}{alt}]"

    def canonical(self) -> str:
        return f"{self._tag()}{self.address}"

    def prefix(self, mask_len: int) -> str:
        return f"{self._tag()}{self.address.prefix(mask_len)}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class OpaqueKey(Lcaf):
    """Type 6: Opaque Key (RFC 8060 sec. 5.2 [R]): Key Type (8) then the key bytes.

    Key Type 1 is an ASCII string. (Early LCAF drafts had Key Field Num (8) + Key Wildcard
    Fields (16) here instead; those bytes then show up at the start of ``key``.)

    Canonical form: ``okey<type>:<key as text if type 1 and printable ASCII, else hex>``.
    """

    LCAF_TYPE = 6
    key_type: int = 1
    key: bytes = b""

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> OpaqueKey:
        key_type = r.u8("key_type")
        key = r.rest("key")
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, key_type=key_type, key=key)

    def lcaf_body(self) -> bytes:
        return bytes([self.key_type]) + self.key

    def canonical(self) -> str:
        printable = all(0x20 < b < 0x7F for b in self.key) and self.key
        text = self.key.decode("ascii") if self.key_type == 1 and printable else self.key.hex()
        return f"okey{self.key_type}:{text}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class NatTraversal(Lcaf):
    """Type 7: NAT Traversal (RFC 8060 sec. 4.6; NAT-traversal draft Info-Reply).

    ``MS UDP Port (16) | ETR UDP Port (16) | Global ETR RLOC | MS RLOC | Private ETR RLOC |
    RTR RLOC 1..n``, each RLOC AFI-encoded (AFI 0 when absent).

    Canonical form: ``nat[etr=<global>#<etr port>,ms=<ms rloc>#<ms port>,private=<private>,
    rtrs={<rtr>,...}]`` (``#`` separates the port, so IPv6 stays unambiguous).
    """

    LCAF_TYPE = 7
    ms_udp_port: int = 0
    etr_udp_port: int = 0
    global_etr_rloc: Address = NO_ADDRESS
    ms_rloc: Address = NO_ADDRESS
    private_etr_rloc: Address = NO_ADDRESS
    rtr_rlocs: tuple[Address, ...] = ()

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> NatTraversal:
        ms_port = r.u16("ms_udp_port")
        etr_port = r.u16("etr_udp_port")
        global_etr = _read_address(r, "global_etr_rloc")
        ms = _read_address(r, "ms_rloc")
        private = _read_address(r, "private_etr_rloc")
        rtrs: list[Address] = []
        while r.remaining > 0:
            rtrs.append(_read_address(r, f"rtr_rlocs[{len(rtrs)}]"))
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            ms_udp_port=ms_port,
            etr_udp_port=etr_port,
            global_etr_rloc=global_etr,
            ms_rloc=ms,
            private_etr_rloc=private,
            rtr_rlocs=tuple(rtrs),
        )

    def lcaf_body(self) -> bytes:
        parts = [
            struct.pack("!HH", self.ms_udp_port, self.etr_udp_port),
            self.global_etr_rloc.build(),
            self.ms_rloc.build(),
            self.private_etr_rloc.build(),
            *(a.build() for a in self.rtr_rlocs),
        ]
        return b"".join(parts)

    def canonical(self) -> str:
        rtrs = ",".join(a.canonical() for a in self.rtr_rlocs)
        return (
            f"nat[etr={self.global_etr_rloc}#{self.etr_udp_port},"
            f"ms={self.ms_rloc}#{self.ms_udp_port},private={self.private_etr_rloc},"
            f"rtrs={{{rtrs}}}]"
        )


@register_lcaf
@dataclass(frozen=True, slots=True)
class NonceLocator(Lcaf):
    """Type 8: Nonce Locator (RFC 8060 sec. 5.3): Reserved (8) | Nonce (24) | address.

    Canonical form: ``nonce[0x<6 hex digits>]<address>``.
    """

    LCAF_TYPE = 8
    reserved: int = 0
    nonce: int = 0
    address: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> NonceLocator:
        reserved = r.u8("reserved")
        _reserved(r, reserved, "reserved")
        nonce = r.u24("nonce")
        address = _read_address(r, "address")
        return cls(
            rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, reserved=reserved, nonce=nonce, address=address
        )

    def lcaf_body(self) -> bytes:
        return _u32(self.reserved << 24 | self.nonce) + self.address.build()

    def canonical(self) -> str:
        return f"nonce[{self.nonce:#08x}]{self.address}"

    def prefix(self, mask_len: int) -> str:
        return f"nonce[{self.nonce:#08x}]{self.address.prefix(mask_len)}"


MC_RP, MC_LEAVE, MC_JOIN = 0x04, 0x02, 0x01


@register_lcaf
@dataclass(frozen=True, slots=True)
class MulticastInfo(Lcaf):
    """Type 9: Multicast Info (RFC 8060 sec. 4.5). ``rsvd2`` carries the R (RP), L (leave)
    and J (join) bits in its low three bits.

    ``Instance ID (32) | Reserved (16) | Source MaskLen (8) | Group MaskLen (8) | AFI + source
    | AFI + group``.

    Canonical form: ``mcast[<iid>](<source>/<len>,<group>/<len>)``; as an EID-prefix the
    record's mask-length is ignored (the two mask-lengths are inside).
    """

    LCAF_TYPE = 9
    iid: int = 0
    reserved: int = 0
    source_mask_len: int = 0
    group_mask_len: int = 0
    source: Address = NO_ADDRESS
    group: Address = NO_ADDRESS

    @property
    def rp(self) -> bool:
        return bool(self.rsvd2 & MC_RP)

    @property
    def leave(self) -> bool:
        return bool(self.rsvd2 & MC_LEAVE)

    @property
    def join(self) -> bool:
        return bool(self.rsvd2 & MC_JOIN)

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> MulticastInfo:
        _reserved(r, rsvd2 & 0xF8, "rsvd2")
        iid = r.u32("iid")
        reserved = r.u16("reserved")
        _reserved(r, reserved, "reserved")
        source_mask_len = r.u8("source_mask_len")
        group_mask_len = r.u8("group_mask_len")
        source = _read_address(r, "source")
        group = _read_address(r, "group")
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            iid=iid,
            reserved=reserved,
            source_mask_len=source_mask_len,
            group_mask_len=group_mask_len,
            source=source,
            group=group,
        )

    def lcaf_body(self) -> bytes:
        head = struct.pack(
            "!IHBB", self.iid, self.reserved, self.source_mask_len, self.group_mask_len
        )
        return head + self.source.build() + self.group.build()

    def canonical(self) -> str:
        return (
            f"mcast[{self.iid}]({self.source.prefix(self.source_mask_len)},"
            f"{self.group.prefix(self.group_mask_len)})"
        )

    def prefix(self, mask_len: int) -> str:
        return self.canonical()


ELP_LOOKUP, ELP_PROBE, ELP_STRICT = 0x0004, 0x0002, 0x0001


@dataclass(frozen=True, slots=True)
class ElpHop(Value):
    """One re-encapsulation hop of an ELP: Rsvd (13) | L | P | S (16 bits), then the address.

    L: look the hop up in the mapping system; P: RLOC-probe it; S: strict (no skipping).
    """

    address: Address
    lookup: bool = False
    rloc_probe: bool = False
    strict: bool = False
    reserved: int = 0  # the 13 reserved flag bits, as on the wire (mask 0xfff8)

    @classmethod
    def read(cls, r: Reader) -> ElpHop:
        word = r.u16("flags")
        r.alias("flags", "lookup", "rloc_probe", "strict", "reserved")
        _reserved(r, word & 0xFFF8, "reserved")
        address = _read_address(r, "address")
        return cls(
            address,
            bool(word & ELP_LOOKUP),
            bool(word & ELP_PROBE),
            bool(word & ELP_STRICT),
            word & 0xFFF8,
        )

    def build(self) -> bytes:
        word = (
            self.reserved
            | (ELP_LOOKUP if self.lookup else 0)
            | (ELP_PROBE if self.rloc_probe else 0)
            | (ELP_STRICT if self.strict else 0)
        )
        return _u16(word) + self.address.build()

    def canonical(self) -> str:
        bits = _flags(l=self.lookup, p=self.rloc_probe, s=self.strict)
        return f"{self.address}({bits})" if bits else str(self.address)


@register_lcaf
@dataclass(frozen=True, slots=True)
class ExplicitLocatorPath(Lcaf):
    """Type 10: Explicit Locator Path (RFC 8060 sec. 4.7): re-encapsulation hops.

    Canonical form: ``elp(<hop>-><hop>...)``, each hop ``<address>`` with its set flags in
    parentheses (``l`` lookup, ``p`` probe, ``s`` strict), e.g. ``elp(1.1.1.1(s)->2.2.2.2)``.
    """

    LCAF_TYPE = 10
    hops: tuple[ElpHop, ...] = ()

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> ExplicitLocatorPath:
        hops: list[ElpHop] = []
        while r.remaining > 0:
            with r.scope(f"hops[{len(hops)}]"):
                hops.append(ElpHop.read(r))
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, hops=tuple(hops))

    def lcaf_body(self) -> bytes:
        return b"".join(h.build() for h in self.hops)

    def canonical(self) -> str:
        return "elp(" + "->".join(h.canonical() for h in self.hops) + ")"


class CipherSuite(IntEnum):
    """LISP crypto cipher suites (RFC 8061 sec. 6 [R]), the Security Key's Key Algorithm."""

    RESERVED = 0
    MODP2048_AES128_CBC_SHA256 = 1
    EC25519_AES128_CBC_SHA256 = 2
    MODP2048_AES128_GCM = 3
    MODP3072_AES128_GCM = 4
    EC25519_AES128_GCM = 5
    EC25519_CHACHA20_POLY1305 = 6


@register_lcaf
@dataclass(frozen=True, slots=True)
class SecurityKey(Lcaf):
    """Type 11: Security Key (RFC 8061 sec. 6, LISP-crypto).

    ``Key Count (8) | Rsvd3 (8) | Key Algorithm (8) | Rsvd4 (7) | R (1)``, then per key
    ``Key Length (16) | Key Material``, then ``AFI + Locator Address``. R = revoke the key.
    The count is derived from ``keys`` on build.

    Canonical form: ``seckey[cs=<alg>,keys=<n>(,revoke)]<address>`` (no key material).
    """

    LCAF_TYPE = 11
    key_algorithm: int = 0
    keys: tuple[bytes, ...] = ()
    revoke: bool = False
    rsvd3: int = 0
    rsvd4: int = 0  # the 7 bits before R, as on the wire (mask 0xfe)
    address: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> SecurityKey:
        count = r.u8("key_count")
        rsvd3 = r.u8("rsvd3")
        _reserved(r, rsvd3, "rsvd3")
        key_algorithm = r.u8("key_algorithm")
        bits = r.u8("rsvd4")
        r.alias("rsvd4", "revoke")
        _reserved(r, bits & 0xFE, "rsvd4")
        keys = []
        for i in range(count):
            with r.scope(f"keys[{i}]"):
                length = r.u16("key_length")
                keys.append(r.raw(length, "key_material"))
        address = _read_address(r, "address")
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            key_algorithm=key_algorithm,
            keys=tuple(keys),
            revoke=bool(bits & 1),
            rsvd3=rsvd3,
            rsvd4=bits & 0xFE,
            address=address,
        )

    def lcaf_body(self) -> bytes:
        head = bytes(
            [len(self.keys), self.rsvd3, self.key_algorithm, self.rsvd4 | int(self.revoke)]
        )
        keys = b"".join(_u16(len(k)) + k for k in self.keys)
        return head + keys + self.address.build()

    def canonical(self) -> str:
        revoke = ",revoke" if self.revoke else ""
        return f"seckey[cs={self.key_algorithm},keys={len(self.keys)}{revoke}]{self.address}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class SourceDest(Lcaf):
    """Type 12: Source/Dest Key (RFC 8060 sec. 4.8).

    ``Reserved (16) | Source-ML (8) | Dest-ML (8) | AFI + source | AFI + destination``.

    Canonical form: ``(<source>/<len>,<dest>/<len>)``; as an EID-prefix the record's
    mask-length is ignored, e.g. ``(10.1.0.0/16,10.2.0.0/16)``.
    """

    LCAF_TYPE = 12
    reserved: int = 0
    source_mask_len: int = 0
    dest_mask_len: int = 0
    source: Address = NO_ADDRESS
    dest: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> SourceDest:
        reserved = r.u16("reserved")
        _reserved(r, reserved, "reserved")
        source_mask_len = r.u8("source_mask_len")
        dest_mask_len = r.u8("dest_mask_len")
        source = _read_address(r, "source")
        dest = _read_address(r, "dest")
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            reserved=reserved,
            source_mask_len=source_mask_len,
            dest_mask_len=dest_mask_len,
            source=source,
            dest=dest,
        )

    def lcaf_body(self) -> bytes:
        head = struct.pack("!HBB", self.reserved, self.source_mask_len, self.dest_mask_len)
        return head + self.source.build() + self.dest.build()

    def canonical(self) -> str:
        return (
            f"({self.source.prefix(self.source_mask_len)},{self.dest.prefix(self.dest_mask_len)})"
        )

    def prefix(self, mask_len: int) -> str:
        return self.canonical()


@dataclass(frozen=True, slots=True)
class RleEntry(Value):
    """One Replication List Entry: Rsvd3 (24) | Level Value (8) | AFI + RTR/ETR address."""

    address: Address
    level: int = 0
    reserved: int = 0

    @classmethod
    def read(cls, r: Reader) -> RleEntry:
        reserved = r.u24("reserved")
        _reserved(r, reserved, "reserved")
        level = r.u8("level")
        address = _read_address(r, "address")
        return cls(address, level, reserved)

    def build(self) -> bytes:
        return _u32(self.reserved << 8 | self.level) + self.address.build()

    def canonical(self) -> str:
        return f"{self.address}@{self.level}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class ReplicationList(Lcaf):
    """Type 13: Replication List Entry (RFC 8060 sec. 4.9): replication targets by level.

    Canonical form: ``rle{<address>@<level>,...}``.
    """

    LCAF_TYPE = 13
    entries: tuple[RleEntry, ...] = ()

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> ReplicationList:
        entries: list[RleEntry] = []
        while r.remaining > 0:
            with r.scope(f"entries[{len(entries)}]"):
                entries.append(RleEntry.read(r))
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, entries=tuple(entries))

    def lcaf_body(self) -> bytes:
        return b"".join(e.build() for e in self.entries)

    def canonical(self) -> str:
        return "rle{" + ",".join(e.canonical() for e in self.entries) + "}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class JsonData(Lcaf):
    """Type 14: JSON Data Model (RFC 8060 sec. 5.4). The low bit of ``rsvd2`` is B (the JSON
    is binary-encoded); ``JSON length (16) | JSON | AFI + optional address`` (AFI 0: none).

    Canonical form: ``json[<address>]<text>`` (``json<text>`` without an address); binary
    JSON as ``json-bin[<address>]<hex>``.
    """

    LCAF_TYPE = 14
    json: bytes = b"{}"
    address: Address = NO_ADDRESS

    @property
    def binary(self) -> bool:
        return bool(self.rsvd2 & 1)

    @property
    def text(self) -> str:
        return self.json.decode("utf-8", "backslashreplace")

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> JsonData:
        _reserved(r, rsvd2 & 0xFE, "rsvd2")
        length = r.u16("json_length")
        start = r.pos
        data = r.raw(length, "json")
        if not rsvd2 & 1:
            try:
                jsonlib.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                r.anomaly(BAD_JSON, "JSON text does not parse", offset=start)
        address = _read_address(r, "address")
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, json=data, address=address)

    def lcaf_body(self) -> bytes:
        return _u16(len(self.json)) + self.json + self.address.build()

    def canonical(self) -> str:
        where = "" if isinstance(self.address, NoAddress) else f"[{self.address}]"
        if self.binary:
            return f"json-bin{where}{self.json.hex()}"
        return f"json{where}{self.text}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class KeyValue(Lcaf):
    """Type 15: Key/Value Address Pair (RFC 8060 sec. 5.5): AFI + key, AFI + value.

    Canonical form: ``<key>=><value>``.
    """

    LCAF_TYPE = 15
    key: Address = NO_ADDRESS
    value: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> KeyValue:
        key = _read_address(r, "key")
        value = _read_address(r, "value")
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, key=key, value=value)

    def lcaf_body(self) -> bytes:
        return self.key.build() + self.value.build()

    def canonical(self) -> str:
        return f"{self.key}=>{self.value}"


ENCAP_BITS = (
    ("lisp_l3", 0x01),  # L: LISP (RFC 9300)
    ("lisp_l2", 0x02),  # l: LISP carrying Ethernet
    ("vxlan", 0x04),  # V: VXLAN
    ("vxlan_gpe", 0x08),  # v: VXLAN-GPE
    ("nvgre", 0x10),  # N: NVGRE
    ("geneve", 0x20),  # G: GENEVE
    ("gue", 0x40),  # U: GUE
)


@register_lcaf
@dataclass(frozen=True, slots=True)
class EncapsulationFormat(Lcaf):
    """Type 16: Encapsulation Format (RFC 8060 sec. 5.6).

    ``Reserved-for-Future-Encapsulations (25) | U | G | N | v | V | l | L`` then AFI +
    address: which data-plane encapsulations the RLOC accepts.

    Canonical form: ``encap[<names>]<address>``, names from ``lisp_l3, lisp_l2, vxlan,
    vxlan_gpe, nvgre, geneve, gue`` joined with ``+``.
    """

    LCAF_TYPE = 16
    lisp_l3: bool = False
    lisp_l2: bool = False
    vxlan: bool = False
    vxlan_gpe: bool = False
    nvgre: bool = False
    geneve: bool = False
    gue: bool = False
    reserved: int = 0  # the 25 reserved bits, as on the wire (mask 0xffffff80)
    address: Address = NO_ADDRESS

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> EncapsulationFormat:
        word = r.u32("encapsulations")
        r.alias("encapsulations", "reserved", *(name for name, _ in ENCAP_BITS))
        _reserved(r, word & 0xFFFFFF80, "reserved")
        bits = {name: bool(word & mask) for name, mask in ENCAP_BITS}
        address = _read_address(r, "address")
        return cls(
            rsvd1=rsvd1,
            flags=flags,
            rsvd2=rsvd2,
            reserved=word & 0xFFFFFF80,
            address=address,
            **bits,
        )

    @property
    def encapsulations(self) -> tuple[str, ...]:
        return tuple(name for name, _ in ENCAP_BITS if getattr(self, name))

    def lcaf_body(self) -> bytes:
        word = self.reserved
        for name, mask in ENCAP_BITS:
            if getattr(self, name):
                word |= mask
        return _u32(word) + self.address.build()

    def canonical(self) -> str:
        return f"encap[{'+'.join(self.encapsulations)}]{self.address}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class ServicePath(Lcaf):
    """Type 17: Service Path (draft-ermagan-lisp-nsh; OpenDaylight lispflowmapping):
    ``Service Path ID (24) | Service Index (8)``, no address.

    Canonical form: ``sp<spi>.<si>`` (e.g. ``sp100.255``).
    """

    LCAF_TYPE = 17
    service_path_id: int = 0
    service_index: int = 0

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> ServicePath:
        spi = r.u24("service_path_id")
        si = r.u8("service_index")
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, service_path_id=spi, service_index=si)

    def lcaf_body(self) -> bytes:
        return _u32(self.service_path_id << 8 | self.service_index)

    def canonical(self) -> str:
        return f"sp{self.service_path_id}.{self.service_index}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class VendorSpecific(Lcaf):
    """Type 255: Vendor Specific (RFC 8060 sec. 3 / draft-ietf-lisp-vendor-lcaf):
    ``Rsvd3 (8) | Organizationally Unique Identifier (24) | Internal format ...``.

    Canonical form: ``vendor<oui as 6 hex digits>:<data hex>``.
    """

    LCAF_TYPE = 255
    reserved: int = 0
    oui: int = 0
    data: bytes = b""

    @classmethod
    def read_lcaf(
        cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int
    ) -> VendorSpecific:
        reserved = r.u8("reserved")
        _reserved(r, reserved, "reserved")
        oui = r.u24("oui")
        data = r.rest("data")
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, reserved=reserved, oui=oui, data=data)

    def lcaf_body(self) -> bytes:
        return _u32(self.reserved << 24 | self.oui) + self.data

    def canonical(self) -> str:
        return f"vendor{self.oui:06x}:{self.data.hex()}"
