"""Builders of the control messages the stack tests send (with the codecs of dissectors/)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from dissectors.inet import IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.afi import NoAddress, address
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.records import EidRecord, Locator
from lisptrace.stack.prefixes import EidPrefix


def record(
    eid: str,
    rlocs: Sequence[str] = ("192.0.2.10",),
    ttl: int = 1,
    *,
    local: bool = True,
    priority: int = 1,
    weight: int = 100,
) -> EidRecord:
    """An EID-record as an ETR registers it (A=1, L set on its own locators)."""
    wire, mask = EidPrefix.parse(eid).to_wire()
    locs = tuple(Locator(address(r), priority=priority, weight=weight, local=local) for r in rlocs)
    return EidRecord(wire, mask, locs, ttl=ttl, authoritative=True)


def register(
    records: Sequence[EidRecord],
    key: bytes,
    *,
    key_id: int = 1,
    auth_len: int = 20,
    nonce: int = 0,
    proxy: bool = False,
    want_notify: bool = False,
    ttl_as_timeout: bool = False,
    xtr_id: bytes | None = None,
    site_id: bytes | None = None,
) -> bytes:
    """A signed Map-Register. ``key_id`` is the raw 16-bit field (6830: 1/2; 9301: id<<8|alg)."""
    msg = MapRegister(
        nonce=nonce,
        key_id=key_id,
        auth_data=bytes(auth_len),
        records=tuple(records),
        proxy_map_reply=proxy,
        want_map_notify=want_notify,
        ttl_as_timeout=ttl_as_timeout,
        xtr_id=xtr_id,
        site_id=site_id,
    )
    return msg.sign(key).build()


def map_request(
    eid: str,
    itr_rloc: str = "192.0.2.50",
    *,
    nonce: int = 0x1122334455667788,
    source_eid: str | None = None,
    smr_invoked: bool = False,
) -> MapRequest:
    wire, mask = EidPrefix.parse(eid).to_wire()
    return MapRequest(
        nonce=nonce,
        source_eid=address(source_eid) if source_eid else NoAddress(),
        itr_rlocs=(address(itr_rloc),),
        records=(RequestRecord(wire, mask),),
        smr_invoked=smr_invoked,
    )


def ecm(
    request: MapRequest,
    inner_src: str,
    inner_dst: str,
    sport: int = 40000,
) -> EncapsulatedControlMessage:
    """An ECM around ``request``: inner IP ``inner_src`` -> ``inner_dst``, UDP sport -> 4342."""
    src, dst = ipaddress.ip_address(inner_src), ipaddress.ip_address(inner_dst)
    v4 = src.version == 4
    header = Ipv4Header(src, dst) if v4 else Ipv6Header(src, dst)  # type: ignore[arg-type]
    return EncapsulatedControlMessage(
        IpPacket(header, UdpDatagram(sport, 4342, request, checksum=None))
    )
