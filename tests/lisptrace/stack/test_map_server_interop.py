"""Interop acceptance: Map-Registers laid out byte by byte as deployed stacks send them (not
built with our codecs, HMAC computed here with hmac/hashlib), against the Map-Server.

* LISPmob / OOR: RFC 6830 layout, 16-bit Key ID 1 (HMAC-SHA-1-96), the full 20-byte digest,
  nonce 0, M set, one record with TTL 10 minutes, locator L and R set.
* lispers.net: RFC 9301 Key ID (high byte) 3 + Algorithm ID 2 (HMAC-SHA-256-128), the full
  32-byte digest, a random nonce, the I bit with xTR-ID + Site-ID, several records (IPv4,
  IPv6, Instance-ID LCAF).
* The truncated 12/16-byte digests the algorithm names imply.

Each is accepted with the right key and rejected (silently, counted) with a wrong one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from collections.abc import Callable

import pytest

from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.message import parse_control
from lisptrace.stack.config import loads
from lisptrace.stack.map_server import MapServer
from lisptrace.stack.role import Datagram, Decision, Endpoint, Send

MS = Endpoint.of("192.0.2.1", 4342)
XTR = Endpoint.of("198.51.100.7", 4342)
KEY0 = b"lispmob-password"
KEY3 = b"lispers-net-key-3"

CONFIG = f"""
[map-server]
listen = ["192.0.2.1:4342"]

[[map-server.sites]]
name = "interop"
eid-prefixes = ["10.1.0.0/16", "2001:db8:1::/48", "[1000]10.9.0.0/16"]
accept-more-specifics = true

[[map-server.sites.keys]]
secret = "{KEY0.decode()}"

[[map-server.sites.keys]]
key-id = 3
secret = "{KEY3.decode()}"
"""


def eid_ipv4(text: str) -> bytes:
    return struct.pack("!H", 1) + ipaddress.IPv4Address(text).packed


def eid_ipv6(text: str) -> bytes:
    return struct.pack("!H", 2) + ipaddress.IPv6Address(text).packed


def eid_iid(iid: int, inner: bytes, mask_len: int) -> bytes:
    # LCAF: AFI 16387 | Rsvd1 | Flags | Type 2 | Rsvd2 = IID mask-len | Length | IID | AFI+addr
    body = struct.pack("!I", iid) + inner
    return struct.pack("!HBBBBH", 16387, 0, 0, 2, mask_len, len(body)) + body


def rec(ttl: int, mask_len: int, eid: bytes, rloc: str) -> bytes:
    # TTL | Locator Count | EID mask-len | ACT/A/Reserved (A=1) | Rsvd/Map-Version | EID
    head = struct.pack("!IBBHH", ttl, 1, mask_len, 0x1000, 0) + eid
    # Priority 1 | Weight 100 | M Priority 255 | M Weight 0 | flags L + R | AFI 1 | RLOC
    loc = struct.pack("!BBBBH", 1, 100, 255, 0, 0x0005) + eid_ipv4(rloc)
    return head + loc


def hand_register(
    *,
    flags: int,
    nonce: int,
    key_id: int,
    digest: str,
    auth_len: int,
    records: list[bytes],
    trailer: bytes,
    key: bytes,
) -> bytes:
    word0 = (3 << 28) | flags | len(records)
    head = struct.pack("!IQHH", word0, nonce, key_id, auth_len)
    body = b"".join(records) + trailer
    blank = head + bytes(auth_len) + body
    mac = hmac.new(key, blank, getattr(hashlib, digest)).digest()[:auth_len]
    return head + mac + body


def lispmob(key: bytes, auth_len: int = 20) -> bytes:
    return hand_register(
        flags=0x00000100,  # M: want-Map-Notify
        nonce=0,
        key_id=1,
        digest="sha1",
        auth_len=auth_len,
        records=[rec(10, 32, eid_ipv4("10.1.0.5"), "198.51.100.7")],
        trailer=b"",
        key=key,
    )


Maker = Callable[[bytes, int], bytes]
XTR_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
SITE_ID = bytes.fromhex("0000000000000007")


def lispers_net(key: bytes, auth_len: int = 32) -> bytes:
    return hand_register(
        flags=0x08000000 | 0x02000000 | 0x00000100,  # P, I (xTR-ID), M
        nonce=0x5A17C0DE12345678,
        key_id=(3 << 8) | 2,  # 9301: Key ID 3, Algorithm ID 2 (HMAC-SHA-256-128)
        digest="sha256",
        auth_len=auth_len,
        records=[
            rec(1, 32, eid_ipv4("10.1.0.6"), "198.51.100.7"),
            rec(1, 128, eid_ipv6("2001:db8:1::6"), "198.51.100.7"),
            rec(1, 32, eid_iid(1000, eid_ipv4("10.9.0.6"), 32), "198.51.100.7"),
        ],
        trailer=XTR_ID + SITE_ID,
        key=key,
    )


def lispers_net_sha1(key: bytes, auth_len: int) -> bytes:
    return hand_register(
        flags=0x02000000,
        nonce=1,
        key_id=(3 << 8) | 1,
        digest="sha1",
        auth_len=auth_len,
        records=[rec(1, 32, eid_ipv4("10.1.0.8"), "198.51.100.7")],
        trailer=XTR_ID + SITE_ID,
        key=key,
    )


CASES = [
    pytest.param(lispmob, KEY0, 20, ["10.1.0.5/32"], id="lispmob-oor-6830-key1-20"),
    pytest.param(lispmob, KEY0, 12, ["10.1.0.5/32"], id="6830-key1-truncated-12"),
    pytest.param(
        lispers_net,
        KEY3,
        32,
        ["10.1.0.6/32", "2001:db8:1::6/128", "[1000]10.9.0.6/32"],
        id="lispers.net-9301-id3-alg2-32-xtr-id",
    ),
    pytest.param(
        lispers_net,
        KEY3,
        16,
        ["10.1.0.6/32", "2001:db8:1::6/128", "[1000]10.9.0.6/32"],
        id="9301-id3-alg2-truncated-16",
    ),
    pytest.param(lispers_net_sha1, KEY3, 20, ["10.1.0.8/32"], id="9301-id3-alg1-20"),
    pytest.param(lispers_net_sha1, KEY3, 12, ["10.1.0.8/32"], id="9301-id3-alg1-12"),
]


def server() -> MapServer:
    ms: MapServer = MapServer(loads(CONFIG).role("map-server"))
    return ms


@pytest.mark.parametrize(("make", "key", "auth_len", "eids"), CASES)
def test_accepted_with_the_right_key(
    make: Maker, key: bytes, auth_len: int, eids: list[str]
) -> None:
    payload = make(key, auth_len)
    assert parse_control(payload).build() == payload  # our codec reads it byte-exactly
    ms = server()
    out = ms.receive(10.0, Datagram(payload, XTR, MS))
    kinds = [o.kind for o in out if isinstance(o, Decision)]
    assert kinds[0] == "register-accepted", out
    assert sorted(str(r.prefix) for r in ms.registrations(now=10.0)) == sorted(eids)
    sends = [o for o in out if isinstance(o, Send)]
    want_notify = struct.unpack("!I", payload[:4])[0] & 0x100
    assert len(sends) == (1 if want_notify else 0)
    if sends:
        notify = parse_control(sends[0].datagram.payload)
        assert isinstance(notify, MapNotify)
        assert notify.nonce == struct.unpack("!Q", payload[4:12])[0]
        # verify the Notify's HMAC independently of our codec
        raw = sends[0].datagram.payload
        n = struct.unpack("!H", raw[14:16])[0]
        assert n == auth_len
        algo = hashlib.sha1 if raw[13] == 1 else hashlib.sha256
        blank = raw[:16] + bytes(n) + raw[16 + n :]
        assert hmac.new(key, blank, algo).digest()[:n] == raw[16 : 16 + n]
    if make is lispers_net:
        assert all(r.xtr_id == XTR_ID and r.site_id == SITE_ID for r in ms.registrations())
        assert all(r.proxy_reply for r in ms.registrations())


@pytest.mark.parametrize(("make", "key", "auth_len", "eids"), CASES)
def test_rejected_with_a_wrong_key(make: Maker, key: bytes, auth_len: int, eids: list[str]) -> None:
    ms = server()
    out = ms.receive(10.0, Datagram(make(b"wrong" + key, auth_len), XTR, MS))
    assert not [o for o in out if isinstance(o, Send)]
    [d] = [o for o in out if isinstance(o, Decision)]
    assert d.kind == "register-rejected" and d.fields["reason"] == "bad-hmac"
    assert ms.rejected["bad-hmac"] == 1 and ms.registrations() == []


def test_key_ids_pick_the_secret() -> None:
    # a LISPmob register (key id 0) signed with key 3's secret is a bad HMAC for key 0
    ms = server()
    out = ms.receive(0.0, Datagram(lispmob(KEY3), XTR, MS))
    assert [o.fields["reason"] for o in out if isinstance(o, Decision)] == ["bad-hmac"]
