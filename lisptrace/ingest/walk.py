"""The per-packet path: capture file -> frames -> link, IP, UDP -> the codecs.

This walker decodes one frame at a time with dpkt for the outer layers and the project's
codecs for LISP and Mobile IPv6; it backs ``lisptrace show``. The columnar fast path that
writes Arrow tables is built on top of the same demultiplexing rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import dpkt

from dissectors.core import DecodeError, Value
from dissectors.lisp.data import DataPacket
from dissectors.lisp.message import parse_control
from dissectors.mip6.ext import walk_ipv6
from dissectors.mip6.mh import parse_mh
from dissectors.mip6.nd import RouterAdvertisement
from lisptrace.ingest.capture import CaptureError, open_capture
from lisptrace.ingest.layers import Ports

__all__ = ["CaptureError", "Dissection", "Frame", "dissect", "read_frames"]

IPPROTO_MH = 135
IPPROTO_ICMPV6 = 58
ICMPV6_ROUTER_ADVERTISEMENT = 134


@dataclass(frozen=True, slots=True)
class Frame:
    number: int  # 1-based, as Wireshark numbers frames
    time_ns: int
    linktype: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Dissection:
    """What one frame held: its outer addresses and the decoded message (or the error)."""

    frame: Frame
    protocol: str  # "lisp", "lisp-data", "mip6", "icmpv6", or "" (nothing we decode)
    src: str = ""
    dst: str = ""
    sport: int = 0
    dport: int = 0
    message: Value | None = None
    error: DecodeError | None = None


def read_frames(path: Path, warnings: list[str] | None = None) -> Iterator[Frame]:
    """Frames of a pcap or pcapng file (gzip-compressed or not), numbered from 1.

    Reads with :func:`~lisptrace.ingest.capture.open_capture`: a file that is not a capture
    raises :class:`CaptureError` when opened; a capture cut mid-record yields every frame
    before the cut, and its warning lines are appended to ``warnings`` (if given) at the end.
    """
    capture = open_capture(path)
    for batch in capture.batches():
        for i in range(len(batch)):
            yield Frame(
                int(batch.number[i]), int(batch.time_ns[i]), int(batch.linktype[i]), batch.frame(i)
            )
    if warnings is not None:
        warnings.extend(capture.warnings)
        if capture.truncated is not None and not capture.warnings:
            warnings.append(f"{path}: capture truncated at byte {capture.truncated}")


def _network_layer(frame: Frame) -> dpkt.Packet | None:
    data = frame.data
    try:
        if frame.linktype == dpkt.pcap.DLT_EN10MB:
            pkt = dpkt.ethernet.Ethernet(data).data
        elif frame.linktype == dpkt.pcap.DLT_LINUX_SLL:
            pkt = dpkt.sll.SLL(data).data
        elif frame.linktype in (dpkt.pcap.DLT_RAW, 101, 228, 229):
            pkt = dpkt.ip.IP(data) if data[:1] and data[0] >> 4 == 4 else dpkt.ip6.IP6(data)
        elif frame.linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
            pkt = dpkt.loopback.Loopback(data).data
        else:
            return None
    except (dpkt.dpkt.UnpackError, IndexError, ValueError):
        return None
    return pkt if isinstance(pkt, dpkt.ip.IP | dpkt.ip6.IP6) else None


def _decoded(
    frame: Frame, protocol: str, decode: Callable[[], Value], where: dict[str, Any]
) -> Dissection:
    """Run ``decode``; a DecodeError becomes the row's error, never an exception."""
    try:
        return Dissection(frame, protocol, message=decode(), **where)
    except DecodeError as exc:
        return Dissection(frame, protocol, error=exc, **where)


def _mobile_ipv6(frame: Frame, ip: dpkt.ip6.IP6) -> Dissection | None:
    """A Mobility Header or a Router Advertisement, reached through the extension headers."""
    packet = bytes(ip)
    try:
        chain = walk_ipv6(packet)
    except DecodeError:
        return None
    upper = packet[chain.upper_offset : chain.payload_end]
    src, dst = chain.checksum_addresses()
    where = {"src": str(chain.src), "dst": str(chain.dst)}
    if chain.upper_proto == IPPROTO_MH:
        return _decoded(frame, "mip6", partial(parse_mh, upper, src=src, dst=dst), where)
    if chain.upper_proto == IPPROTO_ICMPV6 and upper[:1] == bytes([ICMPV6_ROUTER_ADVERTISEMENT]):
        ra = partial(RouterAdvertisement.parse, upper, src=src, dst=dst)
        return _decoded(frame, "icmpv6", ra, where)
    return None


def dissect(frame: Frame, ports: Ports | None = None) -> Dissection:
    """Decode one frame down to its LISP or Mobile IPv6 message, if it carries one (LISP on
    ``ports``, by default the IANA ones, demultiplexed as the decode does)."""
    ports = ports or Ports()
    ip = _network_layer(frame)
    if isinstance(ip, dpkt.ip6.IP6):
        mobile = _mobile_ipv6(frame, ip)
        if mobile is not None:
            return mobile
    udp = getattr(ip, "data", None)
    if not isinstance(udp, dpkt.udp.UDP):
        return Dissection(frame, "")
    src = str(ipaddress.ip_address(ip.src))
    dst = str(ipaddress.ip_address(ip.dst))
    payload = bytes(udp.data)
    if ports.control in (udp.sport, udp.dport):
        protocol, decode = "lisp", parse_control
    elif udp.dport == ports.data:
        protocol, decode = "lisp-data", DataPacket.parse
    elif udp.dport == ports.gpe:
        protocol, decode = "lisp-gpe", DataPacket.parse
    else:
        return Dissection(frame, "", src, dst, udp.sport, udp.dport)
    where = {"src": src, "dst": dst, "sport": udp.sport, "dport": udp.dport}
    return _decoded(frame, protocol, partial(decode, payload), where)
