"""tshark as the differential oracle: write frames to a pcap, read tshark's decode back.

Frames are built with dpkt (not with our codecs), so the outer layers are independent of the
code under test. ``decode(frames, fields)`` returns, per frame, ``{field: [values...]}`` for
the tshark fields asked (every occurrence, in packet order), booleans normalised to "1"/"0".
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import dpkt
import pytest

TSHARK = shutil.which("tshark")

requires_tshark = pytest.mark.skipif(
    TSHARK is None and not os.environ.get("CI"),
    reason="tshark is not installed (CI installs it and then these tests must run)",
)

_MAC_A = b"\x02\x00\x00\x00\x00\x01"
_MAC_B = b"\x02\x00\x00\x00\x00\x02"


def ip_packet(src: str, dst: str, proto: int, payload: bytes) -> dpkt.Packet:
    """An IPv4 or IPv6 packet (by the address family) carrying ``payload`` as ``proto``."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        pkt = dpkt.ip.IP(src=s.packed, dst=d.packed, p=proto, ttl=64, data=payload)
        pkt.len = 20 + len(bytes(payload))
        return pkt
    pkt6 = dpkt.ip6.IP6(src=s.packed, dst=d.packed, nxt=proto, hlim=64, data=payload)
    pkt6.plen = len(bytes(payload))
    return pkt6


def udp_frame(
    payload: bytes,
    sport: int = 4342,
    dport: int = 4342,
    src: str = "192.0.2.1",
    dst: str = "198.51.100.1",
) -> bytes:
    """An Ethernet frame: IPv4/IPv6 (by ``src``'s family), UDP, ``payload``; checksums set."""
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = 8 + len(payload)
    return ip_frame(src, dst, dpkt.ip.IP_PROTO_UDP, udp)


def ip_frame(src: str, dst: str, proto: int, payload: bytes | dpkt.Packet) -> bytes:
    """An Ethernet frame carrying one IP packet (checksums computed by dpkt)."""
    pkt = ip_packet(src, dst, proto, payload)
    ethertype = (
        dpkt.ethernet.ETH_TYPE_IP if isinstance(pkt, dpkt.ip.IP) else dpkt.ethernet.ETH_TYPE_IP6
    )
    return bytes(dpkt.ethernet.Ethernet(src=_MAC_A, dst=_MAC_B, type=ethertype, data=pkt))


def raw_ipv6_frame(packet: bytes) -> bytes:
    """An Ethernet frame around an already-built IPv6 packet (extension headers included)."""
    return _MAC_B + _MAC_A + b"\x86\xdd" + packet


def write_pcap(path: Path, frames: Iterable[bytes], linktype: int = dpkt.pcap.DLT_EN10MB) -> None:
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=linktype)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + i)


def _normalise(value: str) -> str:
    return {"True": "1", "False": "0"}.get(value, value)


def tshark_json(
    pcap: Path, fields: Sequence[str], extra: Sequence[str] = ()
) -> list[dict[str, list[str]]]:
    """Run tshark on ``pcap``; one dict per frame of the requested fields' values."""
    assert TSHARK is not None, "tshark is required"
    args = [TSHARK, "-n", "-r", str(pcap), "-T", "json", *extra]
    for name in fields:
        args += ["-e", name]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300).stdout
    frames = json.loads(out) if out.strip() else []
    return [
        {k: [_normalise(v) for v in vs] for k, vs in f["_source"]["layers"].items()} for f in frames
    ]


def decode(
    frames: Sequence[bytes], fields: Sequence[str], extra: Sequence[str] = ()
) -> list[dict[str, list[str]]]:
    """Write ``frames`` to a temporary pcap and decode it with tshark."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.pcap"
        write_pcap(path, frames)
        result = tshark_json(path, fields, extra)
    assert len(result) == len(frames)
    return result


def tshark_fields_of(prefixes: Sequence[str]) -> list[str]:
    """All tshark field names starting with one of ``prefixes`` (from ``tshark -G fields``)."""
    assert TSHARK is not None
    out = subprocess.run(
        [TSHARK, "-G", "fields"], capture_output=True, text=True, check=True
    ).stdout
    names = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) > 2 and parts[0] == "F" and parts[2].startswith(tuple(prefixes)):
            names.append(parts[2])
    return names
