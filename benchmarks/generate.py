"""A synthetic LISP capture for the benchmarks: ~95% data plane, ~5% control, both IP families.

Frames are built from templates made once with the project's codecs (control messages) and
``struct`` (Ethernet/IP/UDP/LISP/inner headers); the per-frame loop only patches the LISP
nonce and the capture timestamps, so a million frames take a few seconds to write.

    python -m benchmarks.generate OUT.pcap --packets 1000000 [--seed 1]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import struct
from pathlib import Path

import numpy as np

from dissectors.inet import IpPacket, Ipv4Header, UdpDatagram, internet_checksum
from dissectors.lisp.afi import IPv4, IPv6
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.records import EidRecord, Locator

MAC = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
CONTROL_SHARE = 0.05
KEY = b"benchmark-key"


def _csum(header: bytes) -> bytes:
    return struct.pack("!H", internet_checksum(header))


def ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        64,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return head[:10] + _csum(head) + head[12:] + payload


def ipv6(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 0x60000000, len(payload), proto, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x18, 65535, 0, 0) + payload


def ether(packet: bytes) -> bytes:
    ethertype = b"\x08\x00" if packet[0] >> 4 == 4 else b"\x86\xdd"
    return MAC + ethertype + packet


def outer(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    ip = ipv4 if ":" not in src else ipv6
    return ether(ip(src, dst, 17, udp(sport, dport, payload)))


def data_templates(rng: random.Random, count: int = 256) -> list[tuple[bytes, int]]:
    """(frame, offset of the LISP nonce) for data packets of varied flows and sizes."""
    out = []
    for k in range(count):
        v6_outer = k % 4 == 3
        v6_inner = k % 3 == 2
        rloc_s = f"2001:db8:ff::{k % 7 + 1}" if v6_outer else f"203.0.113.{k % 7 + 1}"
        rloc_d = f"2001:db8:fe::{k % 5 + 1}" if v6_outer else f"198.51.100.{k % 5 + 1}"
        if v6_inner:
            es, ed = f"2001:db8:1::{k + 1:x}", f"2001:db8:2::{k % 31 + 1:x}"
        else:
            es, ed = f"10.1.{k // 200}.{k % 200 + 1}", f"10.2.0.{k % 31 + 1}"
        body = bytes(rng.randrange(40, 1200))
        if v6_inner or k % 2:
            l4, proto = tcp(rng.randrange(1024, 65535), 443, body), 6
        else:
            l4, proto = udp(rng.randrange(1024, 65535), 53, body), 17
        inner = (ipv6 if v6_inner else ipv4)(es, ed, proto, l4)
        flags = 0x80 | (0x08 if k % 5 == 0 else 0) | (0x40 if k % 5 != 0 else 0)
        iid_lsbs = (1000 << 8 | 1) if k % 5 == 0 else 0x3
        lisp = struct.pack("!I I", flags << 24, iid_lsbs) + inner
        frame = outer(rloc_s, rloc_d, rng.randrange(1024, 65535), 4341, lisp)
        nonce_at = 14 + (40 if v6_outer else 20) + 8 + 1
        out.append((frame, nonce_at))
    return out


def _locators(n: int, v6: bool) -> tuple[Locator, ...]:
    out = []
    for i in range(n):
        a = IPv6.of(f"2001:db8:ff::{i + 1}") if v6 else IPv4.of(f"203.0.113.{i + 1}")
        out.append(Locator(a, priority=1, weight=100 // n if 100 % n == 0 else 0))
    return tuple(out)


def control_templates(rng: random.Random, count: int = 200) -> list[bytes]:
    """Frames of Map-Request/Reply/Register/Notify and ECM'd Map-Requests (IPv4 and IPv6).

    :func:`nonce_offset` tells where each frame's 64-bit nonce is, so that every generated
    control frame gets its own nonce (as on a real network: no two payloads alike; the
    HMACs of Map-Register/Notify then no longer match, which only ``--keys`` would notice)."""
    frames = []
    for k in range(count):
        v6 = k % 4 == 3
        nonce = rng.getrandbits(64)
        eid = IPv4.of(f"10.{k % 50}.0.0") if not v6 else IPv6.of(f"2001:db8:{k % 50:x}::")
        mask = 16 if not v6 else 48
        eid = InstanceId(iid=1000, address=eid) if k % 3 == 0 else eid
        rec = EidRecord(eid, mask, _locators(k % 3 + 1, v6), ttl=1440, authoritative=True)
        kind = k % 5
        ms, xtr = ("2001:db8:fe::1", "2001:db8:ff::1") if v6 else ("198.51.100.1", "203.0.113.1")
        if kind == 0:
            msg = MapRequest(
                nonce=nonce,
                source_eid=IPv4.of("10.1.0.1"),
                itr_rlocs=(IPv4.of("203.0.113.1"),),
                records=(RequestRecord(eid, mask),),
            )
            frames.append(outer(xtr, ms, 4342, 4342, msg.build()))
        elif kind == 1:
            msg = MapReply(nonce=nonce, records=(rec,))
            frames.append(outer(ms, xtr, 4342, 4342, msg.build()))
        elif kind == 2:
            msg = MapRegister(nonce=nonce, key_id=0x0001, records=(rec,), want_map_notify=True)
            frames.append(outer(xtr, ms, 4342, 4342, msg.sign(KEY).build()))
        elif kind == 3:
            msg = MapNotify(nonce=nonce, key_id=0x0001, records=(rec,))
            frames.append(outer(ms, xtr, 4342, 4342, msg.sign(KEY).build()))
        else:
            req = MapRequest(
                nonce=nonce,
                source_eid=IPv4.of("10.1.0.1"),
                itr_rlocs=(IPv4.of("203.0.113.1"),),
                records=(RequestRecord(eid, mask),),
            )
            hdr = Ipv4Header(ipaddress.IPv4Address("10.1.0.1"), ipaddress.IPv4Address("10.99.0.1"))
            ecm = EncapsulatedControlMessage(IpPacket(hdr, UdpDatagram(4342, 4342, req)))
            frames.append(outer(xtr, ms, 4342, 4342, ecm.build()))
    return frames


def nonce_offset(frame: bytes) -> int:
    """Offset of the (outermost, or the ECM's inner Map-Request's) nonce in a control frame."""
    at = 14 + (40 if frame[12:14] == b"\x86\xdd" else 20) + 8
    if frame[at] >> 4 == 8:  # ECM: 4-byte header, inner IPv4 header (20), UDP (8)
        at += 4 + 20 + 8
    return at + 4


def generate(path: str | Path, packets: int, seed: int = 1, unique_control: bool = True) -> int:
    """Write ``packets`` frames to the pcap ``path``; returns the file size.

    ``unique_control=False`` repeats 200 control payloads byte for byte (the decode's cache
    then hits): the best case, against the default worst case of every payload unique."""
    rng = random.Random(seed)
    data = data_templates(rng)
    control = control_templates(rng)
    nprng = np.random.default_rng(seed)
    is_control = nprng.random(packets) < CONTROL_SHARE
    pick_d = nprng.integers(0, len(data), packets)
    pick_c = nprng.integers(0, len(control), packets)
    nonces = nprng.integers(0, 1 << 24, packets).astype(">u4").view(np.uint8).reshape(-1, 4)
    nonce64 = nprng.integers(0, 1 << 63, packets).astype(">u8").view(np.uint8).reshape(-1, 8)
    c_at = [nonce_offset(f) for f in control]
    t_us = 1_700_000_000_000_000 + np.cumsum(nprng.integers(1, 40, packets))
    secs, usecs = (t_us // 1_000_000).tolist(), (t_us % 1_000_000).tolist()
    rec = struct.Struct("<IIII")
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        chunk: list[bytes] = []
        ctl, dat, pc, pd = is_control.tolist(), None, pick_c.tolist(), pick_d.tolist()
        del dat
        for i in range(packets):
            if ctl[i]:
                tmpl, at = control[pc[i]], c_at[pc[i]]
                frame = tmpl
                if unique_control:
                    frame = tmpl[:at] + nonce64[i].tobytes() + tmpl[at + 8 :]
            else:
                tmpl, at = data[pd[i]]
                frame = tmpl[:at] + nonces[i, 1:].tobytes() + tmpl[at + 3 :]
            n = len(frame)
            chunk.append(rec.pack(secs[i], usecs[i], n, n))
            chunk.append(frame)
            if len(chunk) >= 16384:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
        return f.tell()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat-control", action="store_true", help="200 distinct control payloads, repeated"
    )
    args = ap.parse_args()
    size = generate(args.out, args.packets, args.seed, not args.repeat_control)
    print(f"{args.out}: {args.packets} packets, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
