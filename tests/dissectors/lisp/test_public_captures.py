"""tcpdump's public LISP captures: field-by-field decode, tshark agreement, malformed cases.

The captures live in ``/work/shared/captures/tcpdump`` (see its README; not copied here).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import dpkt
import pytest

from dissectors.core import DecodeError, Malformed, Truncated
from dissectors.lisp import parse_control
from dissectors.lisp.afi import IPv4, IPv6
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.records import EidRecord, Locator
from tests.dissectors.lisp.test_register_tshark import FIELDS, expected, norm
from tests.support.robustness import assert_mutations_safe
from tests.support.tshark import requires_tshark, tshark_json

CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "captures" / "tcpdump"
if not CAPTURES.is_dir():  # the shared tree next to the project checkout
    CAPTURES = Path("/work/shared/captures/tcpdump")
FILES = [
    "lisp_eid_register.pcap",
    "lisp_eid_notify.pcap",
    "lisp_ipv6.pcap",
    "lisp_invalid.pcap",
    "lisp_invalid_length.pcap",
]
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared captures not found")

NONCE = 0xC4218228892D20A4
AUTH = bytes.fromhex("4bbb9614a67a86040407799545371906836cd1d6")
XTR = bytes.fromhex("9787ad753caf58a713fa6920e6d27a8f")
SITE = bytes(8)


def payloads(name: str) -> list[bytes]:
    """The UDP payload of every frame (by header lengths, so truncated frames work too)."""
    out = []
    with open(CAPTURES / name, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            assert eth.type == dpkt.ethernet.ETH_TYPE_IP
            ihl = (buf[14] & 0x0F) * 4
            assert buf[14 + 9] == 17  # UDP
            out.append(bytes(buf[14 + ihl + 8 :]))
    return out


def loc(addr: str) -> Locator:
    # tcpdump's vectors: priority/weight 1/100, multicast 1/100, no L/p/R flags
    return Locator(IPv4.of(addr), 1, 100, 1, 100, False, False, False)


def rec(eid: IPv4 | IPv6, mask: int, *locs: str) -> EidRecord:
    return EidRecord(eid, mask, tuple(loc(a) for a in locs), ttl=1440, authoritative=True)


R100 = rec(IPv4.of("10.30.1.100"), 32, "20.20.8.253")
R96_1 = rec(IPv4.of("10.30.1.96"), 32, "20.20.8.252")
R96_2 = rec(IPv4.of("10.30.1.96"), 32, "20.20.8.251", "20.20.8.252")
R80 = rec(IPv4.of("10.30.1.80"), 32, "20.20.8.239")
R6_85 = rec(IPv6.of("2001:db8:85a3::8a2e:370:7334"), 80, "20.20.8.253")
R6_95 = rec(IPv6.of("2001:db8:95a3::8a2e:370:7334"), 80, "20.20.8.251")

# The registers all carry I=1, F (refresh, bit 19) and M; the notifies carry bit 23 set
# (reserved in a Map-Notify: an anomaly).
REG = {
    "nonce": NONCE,
    "key_id": 1,
    "auth_data": AUTH,
    "refresh": True,
    "want_map_notify": True,
    "xtr_id": XTR,
    "site_id": SITE,
}
NOT = {"nonce": NONCE, "key_id": 1, "auth_data": AUTH, "reserved": 0x100}


def test_eid_register() -> None:
    p = payloads("lisp_eid_register.pcap")
    assert len(p) == 2
    m1, m2 = (parse_control(x) for x in p)
    assert m1 == MapRegister(records=(R100, R96_1), **REG)  # type: ignore[arg-type]
    assert m2 == MapRegister(records=(R100, R96_2), **REG)  # type: ignore[arg-type]
    for m, raw in ((m1, p[0]), (m2, p[1])):
        assert isinstance(m, MapRegister)
        assert not (m.proxy_map_reply or m.lisp_sec or m.built_for_rtr or m.merge)
        assert m.xtr_id_present and m.refresh and m.want_map_notify
        assert m.key_id_9301 == 0 and m.algorithm_id == 1 and m.auth_len == 20
        assert m.build() == raw
    assert m1.anomalies == ()
    # 20.20.8.251 and .252 both weigh 100: RFC 9301's sum-to-100 rule is broken.
    assert [a.code for a in m2.anomalies] == ["lisp.weights_not_100"]


def test_eid_notify() -> None:
    p = payloads("lisp_eid_notify.pcap")
    assert len(p) == 4
    m1 = parse_control(p[0])
    assert m1 == MapNotify(records=(R100, R96_2, R80), **NOT)  # type: ignore[arg-type]
    m2 = parse_control(p[1])
    assert m2 == MapNotify(records=(R100, R96_2), xtr_id=XTR, site_id=SITE, **NOT)  # type: ignore[arg-type]
    for m, raw in ((m1, p[0]), (m2, p[1])):
        assert isinstance(m, MapNotify) and not m.built_for_rtr and m.build() == raw
        assert "reserved_bits" in [a.code for a in m.anomalies]
    # Frame 3: I=1 and 3 records, but no room for the xTR-ID (tshark: malformed).
    with pytest.raises(Truncated):
        parse_control(p[2])
    # Frame 4: I=0 and 2 records, followed by 24 unexplained bytes (an xTR-ID without I).
    m4 = parse_control(p[3])
    assert m4 == MapNotify(records=(R100, R96_2), **NOT)  # type: ignore[arg-type]
    assert "trailing_bytes" in [a.code for a in m4.anomalies]


def test_ipv6() -> None:
    p = payloads("lisp_ipv6.pcap")
    assert len(p) == 2
    reg = parse_control(p[0])
    assert reg == MapRegister(records=(R6_85, R6_95), **REG)  # type: ignore[arg-type]
    assert reg.anomalies == () and reg.build() == p[0]
    notify = parse_control(p[1])
    assert notify == MapNotify(records=(R6_85, R6_95), **NOT)  # type: ignore[arg-type]
    assert notify.build() == p[1]
    assert reg.records[0].eid_prefix == "2001:db8:85a3::8a2e:370:7334/80"


def test_invalid() -> None:
    p = payloads("lisp_invalid.pcap")
    assert len(p) == 2
    with pytest.raises(Malformed, match="unknown AFI 7680"):  # tshark: same AFI, "cannot decode"
        parse_control(p[0])
    with pytest.raises(Truncated, match="auth_data"):  # auth length 35117 in an 83-byte frame
        parse_control(p[1])
    (q,) = payloads("lisp_invalid_length.pcap")
    with pytest.raises(Truncated, match="auth_data"):  # auth length 8960
        parse_control(q)


@pytest.mark.parametrize("name", FILES)
def test_never_another_exception(name: str) -> None:
    for i, raw in enumerate(payloads(name)):
        for cut in range(len(raw) + 1):
            with contextlib.suppress(DecodeError):
                parse_control(raw[:cut])
        assert_mutations_safe(parse_control, raw, count=1000, seed=i)


@requires_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("name", FILES)
def test_against_tshark(name: str) -> None:
    frames = tshark_json(CAPTURES / name, FIELDS)
    raws = payloads(name)
    assert len(frames) == len(raws)
    for i, (raw, frame) in enumerate(zip(raws, frames, strict=True)):
        have = {k: [norm(k, v) for v in vs] for k, vs in frame.items()}
        try:
            msg = parse_control(raw)
        except Malformed:
            # tshark stops at the same unknown AFI
            assert any("Unexpected EID prefix AFI" in str(x) for x in have["_ws.expert.message"])
            continue
        except Truncated:
            assert "_ws.malformed" in have, (name, i)
            continue
        want = expected(msg, None)
        if isinstance(msg, MapRegister) and msg.refresh:
            # KNOWN_DIFFERENCES["mreg.9301_bits"]: tshark folds F (bit 19) into lisp.mreg.res
            assert have["lisp.mreg.res"] == [((msg.flags >> 8) & 0xFFFE) >> 1] == [0x0008]
            want["lisp.mreg.res"] = have["lisp.mreg.res"]
        for field in FIELDS:
            if field.startswith("_ws."):
                assert field not in have, (name, i, have.get(field))
                continue
            assert have.get(field, []) == want.get(field, []), (name, i, field)
