"""The mobile node role, driven with a fake clock (times are plain floats fed to it)."""

from __future__ import annotations

import ipaddress

import pytest

from dissectors.inet import IpPacket, Ipv4Header, UdpDatagram
from dissectors.lisp.afi import IPv4, NoAddress
from dissectors.lisp.auth import verify
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.info import Info
from dissectors.lisp.lcaf import NatTraversal
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action, EidRecord, Locator
from lisptrace.stack.config import MapServerConfig, Secret, SiteConfig, SiteKey
from lisptrace.stack.map_server import MapServer
from lisptrace.stack.mobile_node import (
    FAULTS,
    LONG_TTL_MINUTES,
    MobileNode,
    MobileNodeConfig,
)
from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, Output, Send

KEY = b"mn-secret"
EID = "192.0.2.10"
MS1, MS2 = "203.0.113.1", "203.0.113.2"
MR = "203.0.113.3"
PETR = "203.0.113.4"
RTR = "203.0.113.50"
R_OLD, R_NEW, R_WIFI = "198.51.100.7", "198.51.100.77", "198.51.100.200"
PEER_EID, PEER_RLOC = "192.0.2.99", "198.51.100.99"
PEER2_EID, PEER2_RLOC = "192.0.2.98", "198.51.100.98"
ip = ipaddress.ip_address


def config(**kw: object) -> MobileNodeConfig:
    base: dict[str, object] = {
        "eid": EID,
        "key": "mn-secret",
        "map_servers": [MS1],
        "map_resolver": MR,
        "petr": PETR,
        "interfaces": {"eth0": {"address": R_OLD}},
    }
    base.update(kw)
    return MobileNodeConfig.from_dict(base)


def node(**kw: object) -> MobileNode:
    return MobileNode(config(**kw), seed=7)


# -- output helpers -------------------------------------------------------------------------


def sends(out: list[Output]) -> list[Datagram]:
    return [o.datagram for o in out if isinstance(o, Send)]


def control(out: list[Output]) -> list[Datagram]:
    """Datagrams to a control port (what is not LISP data)."""
    return [d for d in sends(out) if d.dst.port == 4342]


def kinds(out: list[Output]) -> list[str]:
    return [o.kind for o in out if isinstance(o, Decision)]


def registers(out: list[Output]) -> list[tuple[Datagram, MapRegister]]:
    found = []
    for d in control(out):
        msg = parse_control(d.payload)
        if isinstance(msg, MapRegister):
            found.append((d, msg))
    return found


def via_rtr(out: list[Output]) -> list[tuple[Datagram, MapRegister, bytes]]:
    found = []
    for d in control(out):
        msg = parse_control(d.payload)
        if isinstance(msg, EncapsulatedControlMessage) and isinstance(msg.message, MapRegister):
            assert msg.udp is not None
            found.append((d, msg.message, msg.udp.payload_bytes()))
    return found


def smrs(out: list[Output]) -> list[tuple[Datagram, MapRequest]]:
    found = []
    for d in sends(out):
        if d.dst.port != 4342:
            continue
        msg = parse_control(d.payload)
        if isinstance(msg, MapRequest) and msg.smr:
            found.append((d, msg))
    return found


def ecm_requests(out: list[Output]) -> list[tuple[Datagram, MapRequest]]:
    found = []
    for d in control(out):
        msg = parse_control(d.payload)
        if isinstance(msg, EncapsulatedControlMessage) and isinstance(msg.message, MapRequest):
            found.append((d, msg.message))
    return found


def data_sent(out: list[Output]) -> list[Datagram]:
    return [d for d in sends(out) if d.dst.port == 4341 and d.src.port == 4341]


def locators(reg: MapRegister) -> list[str]:
    return [str(loc.address) for loc in reg.records[0].locators]


# -- traffic helpers ------------------------------------------------------------------------


def packet(src: str, dst: str, sport: int = 1000, dport: int = 2000) -> bytes:
    header = Ipv4Header(ip(src), ip(dst))  # type: ignore[arg-type]
    return IpPacket(header, UdpDatagram(sport, dport, b"hello", checksum=None)).build()


def record(eid: str, rlocs: list[str], ttl: int = 1) -> EidRecord:
    return EidRecord(
        IPv4.of(eid), 32, tuple(Locator(IPv4.of(r)) for r in rlocs), ttl=ttl, authoritative=True
    )


def resolve(n: MobileNode, now: float, dst: str, reply: EidRecord) -> list[Output]:
    """Send a packet to ``dst``, answer the node's Map-Request with ``reply``."""
    out = n.send_packet(now, packet(EID, dst))
    (req_dgram, req), *_ = ecm_requests(out)
    answer = MapReply(nonce=req.nonce, records=(reply,)).build()
    rloc = req_dgram.src.address
    return n.receive(now, Datagram(answer, Endpoint.of(MR, 4342), Endpoint(rloc, 4342)))


def inbound(n: MobileNode, now: float, peer_rloc: str, peer_eid: str, rloc: str) -> list[Output]:
    payload = DataHeader.make(nonce=5).build() + packet(peer_eid, EID)
    return n.receive(now, Datagram(payload, Endpoint.of(peer_rloc, 4341), Endpoint.of(rloc, 4341)))


def notify_for(reg: MapRegister, key: bytes = KEY) -> bytes:
    return MapNotify(nonce=reg.nonce, key_id=reg.key_id, records=reg.records).sign(key).build()


def deliver_notify(
    n: MobileNode, now: float, reg_dgram: Datagram, reg: MapRegister
) -> list[Output]:
    return n.receive(
        now, Datagram(notify_for(reg), Endpoint(reg_dgram.dst.address, 4342), reg_dgram.src)
    )


# -- configuration --------------------------------------------------------------------------


def test_config_from_dict_reads_every_setting() -> None:
    cfg = MobileNodeConfig.from_dict(
        {
            "eid": "[1000]192.0.2.10/32",
            "key": "hex:736563726574",
            "key-id": 2,
            "map-servers": [MS1, MS2],
            "map-resolver": MR,
            "petr": PETR,
            "ttl": 2,
            "proxy-reply": True,
            "multihoming": "active-passive",
            "nat-traversal": True,
            "interfaces": {
                "wlan0": {"priority": 1, "weight": 30, "address": R_OLD},
                "lte0": {"priority": 2},
            },
            "faults": {"late-register": 7, "no-smr": True},
        }
    )
    assert cfg.eid.iid == 1000 and str(cfg.eid_address) == EID
    assert cfg.key == b"secret" and cfg.key_id == 2
    assert cfg.map_servers == (ip(MS1), ip(MS2))
    assert cfg.map_resolver == ip(MR) and cfg.petr == ip(PETR)
    assert cfg.ttl == 2 and cfg.proxy_reply and cfg.nat_traversal
    assert [(i.name, i.priority, i.weight) for i in cfg.interfaces] == [
        ("wlan0", 1, 30),
        ("lte0", 2, None),
    ]
    assert cfg.interfaces[0].address == ip(R_OLD)
    assert cfg.faults == frozenset({"late-register", "no-smr"})
    assert cfg.late_register_delay == 7.0


def test_config_defaults_and_errors() -> None:
    cfg = config()
    assert cfg.ttl == 1 and cfg.record_ttl == 1  # MN-TTL-SHORT: 1-2 minutes by default
    assert cfg.want_map_notify and not cfg.proxy_reply
    assert cfg.register_interval == 60.0
    assert cfg.smr_dont_map_reply
    assert config(faults=["long-ttl"]).record_ttl == LONG_TTL_MINUTES
    with pytest.raises(ValueError, match="unknown fault"):
        config(faults=["no-such-fault"])
    with pytest.raises(ValueError, match="unknown mobile node setting"):
        config(colour="blue")
    with pytest.raises(ValueError, match="map_servers"):
        MobileNodeConfig.from_dict({"eid": EID, "key": "k"})
    with pytest.raises(ValueError, match="multihoming"):
        config(multihoming="both")


def test_every_fault_names_one_catalog_rule() -> None:
    assert FAULTS == {
        "no-smr": "MN-SMR-REQUIRED",
        "long-ttl": "MN-TTL-SHORT",
        "late-register": "MN-REG-IMMEDIATE",
        "no-cache-clear": "MN-CACHE-CLEAR",
        "private-rloc": "MN-NO-PRIVATE-RLOC",
    }


# -- registration ---------------------------------------------------------------------------


def test_first_tick_registers_from_each_interface_to_each_map_server() -> None:
    n = node(
        map_servers=[MS1, MS2],
        interfaces={"eth0": {"address": R_OLD}, "wlan0": {"address": R_WIFI}},
    )
    assert n.next_deadline() == 0.0
    out = n.tick(0.0)
    regs = registers(out)
    pairs = {(str(d.src.address), d.src.port, str(d.dst.address), d.dst.port) for d, _ in regs}
    assert pairs == {
        (src, 4342, ms, 4342) for src in (R_OLD, R_WIFI) for ms in (MS1, MS2)
    }  # MN-REG-ALL-MS, MN-REG-EACH-LINK
    for d, reg in regs:
        assert verify(d.payload, KEY) is True
        assert reg.want_map_notify and not reg.proxy_map_reply
        (rec,) = reg.records
        assert rec.eid_prefix == f"{EID}/32" and rec.authoritative
        assert rec.ttl == 1
        assert locators(reg) == [R_OLD, R_WIFI]
    assert len({reg.nonce for _, reg in regs}) == 4
    assert n.bind() == [
        Endpoint.of(R_OLD, 4342),
        Endpoint.of(R_OLD, 4341),
        Endpoint.of(R_WIFI, 4342),
        Endpoint.of(R_WIFI, 4341),
    ]


def test_active_active_equal_priorities_weights_sum_to_100() -> None:
    n = node(
        interfaces={
            "eth0": {"address": R_OLD},
            "wlan0": {"address": R_WIFI},
            "lte0": {"address": R_NEW},
        }
    )
    locs = n.locator_set()
    assert {loc.priority for loc in locs} == {1}
    assert sorted(loc.weight for loc in locs) == [33, 33, 34]
    assert sum(loc.weight for loc in locs) == 100
    weighted = node(
        interfaces={
            "eth0": {"address": R_OLD, "weight": 3},
            "wlan0": {"address": R_WIFI, "weight": 1},
        }
    )
    assert [loc.weight for loc in weighted.locator_set()] == [75, 25]


def test_active_passive_distinct_priorities() -> None:
    n = node(
        multihoming="active-passive",
        interfaces={"eth0": {"address": R_OLD}, "wlan0": {"address": R_WIFI}},
    )
    locs = n.locator_set()
    assert [loc.priority for loc in locs] == [1, 2]
    assert sum(loc.weight for loc in locs) == 100
    configured = node(
        multihoming="active-passive",
        interfaces={
            "eth0": {"address": R_OLD, "priority": 5},
            "wlan0": {"address": R_WIFI, "priority": 3},
        },
    )
    assert [loc.priority for loc in configured.locator_set()] == [5, 3]
    # the best-priority interface is the one the node sends from
    out = configured.send_packet(1.0, packet(EID, PEER_EID))
    ((d, _),) = ecm_requests(out)
    assert d.src.address == ip(R_WIFI)


def test_rloc_change_registers_at_once_with_the_new_set() -> None:
    n = node(map_servers=[MS1, MS2])
    n.tick(0.0)
    out = n.interface_up(30.0, "eth0", R_NEW)  # eth0 roams: a new address
    assert kinds(out)[0] == "rlocs-changed"
    regs = registers(out)  # MN-REG-IMMEDIATE: in the same call, at t0
    assert {str(d.dst.address) for d, _ in regs} == {MS1, MS2}
    for d, reg in regs:
        assert d.src.address == ip(R_NEW)
        assert locators(reg) == [R_NEW]  # never the released R_OLD (MN-REG-STALE-RLOC)
    assert n.bind() == [Endpoint.of(R_NEW, 4342), Endpoint.of(R_NEW, 4341)]
    assert n.next_deadline() is not None


def test_no_change_no_registration() -> None:
    n = node()
    n.tick(0.0)
    assert n.interface_up(5.0, "eth0", R_OLD) == []
    assert n.set_rlocs(6.0, {"eth0": R_OLD}) == []


def test_interface_down_and_set_rlocs() -> None:
    n = node(interfaces={"eth0": {"address": R_OLD}, "wlan0": {"address": R_WIFI}})
    n.tick(0.0)
    out = n.interface_down(10.0, "wlan0")
    regs = registers(out)
    assert [str(d.src.address) for d, _ in regs] == [R_OLD]
    assert locators(regs[0][1]) == [R_OLD]
    out = n.set_rlocs(20.0, {"eth0": None, "wlan0": R_NEW})
    regs = registers(out)
    assert [str(d.src.address) for d, _ in regs] == [R_NEW]
    assert locators(regs[0][1]) == [R_NEW]
    assert n.interface_down(30.0, "wlan0", "203.0.113.200") == []  # not its address: no change


def confirm(n: MobileNode, now: float, out: list[Output]) -> None:
    """The Map-Server's Map-Notify for every Map-Register in ``out``."""
    for d, reg in registers(out):
        deliver_notify(n, now, d, reg)


def test_periodic_registration_every_60_s() -> None:
    n = node()
    confirm(n, 0.1, n.tick(0.0))
    assert n.next_deadline() == 60.0
    assert registers(n.tick(59.0)) == []
    out = n.tick(60.0)
    assert len(registers(out)) == 1
    assert n.next_deadline() == 120.0  # a confirmed set: a refresh is not retransmitted
    # a roam restarts the period from the triggered registration
    confirm(n, 70.1, n.interface_up(70.0, "eth0", R_NEW))
    assert registers(n.tick(120.0)) == []
    assert len(registers(n.tick(130.0))) == 1


def test_ttl_proxy_bit_and_key_are_configurable() -> None:
    n = node(ttl=2, proxy_reply=True, key_id=2)
    ((d, reg),) = registers(n.tick(0.0))
    assert reg.records[0].ttl == 2
    assert reg.proxy_map_reply and reg.want_map_notify
    assert reg.key_id == 2 and len(reg.auth_data) == 32 and verify(d.payload, KEY) is True


def test_map_notify_is_verified() -> None:
    n = node()
    ((d, reg),) = registers(n.tick(0.0))
    out = deliver_notify(n, 0.1, d, reg)
    assert kinds(out) == ["notify-received"] and n.registered_at == 0.1
    forged = MapNotify(nonce=reg.nonce, key_id=1, records=reg.records).sign(b"wrong").build()
    out = n.receive(0.2, Datagram(forged, Endpoint.of(MS1, 4342), d.src))
    assert kinds(out) == ["notify-rejected"]
    stray = MapNotify(nonce=12345, key_id=1, records=reg.records).sign(KEY).build()
    assert kinds(n.receive(0.3, Datagram(stray, Endpoint.of(MS1, 4342), d.src))) == [
        "notify-rejected"
    ]


# -- Map-Register retransmission ------------------------------------------------------------


def fields_of(out: list[Output], kind: str) -> list[dict[str, object]]:
    return [o.fields for o in out if isinstance(o, Decision) and o.kind == kind]


def test_a_lost_register_after_a_roam_is_retransmitted_1_2_4_s_then_periodic() -> None:
    n = node()
    confirm(n, 0.1, n.tick(0.0))
    assert n.next_deadline() == 60.0  # confirmed: nothing to retransmit
    first = registers(n.interface_up(10.0, "eth0", R_NEW))  # lost (no route yet)
    assert len(first) == 1 and n.next_deadline() == 11.0
    sent_at: list[float] = []
    nonces = [first[0][1].nonce]
    t = 10.0
    while (deadline := n.next_deadline()) is not None and deadline < 60.0:
        t = deadline
        out = n.tick(t)
        for d, reg in registers(out):
            sent_at.append(t)
            nonces.append(reg.nonce)
            assert d.src == Endpoint.of(R_NEW, 4342) and str(d.dst.address) == MS1
            assert locators(reg) == [R_NEW] and reg.want_map_notify
            assert verify(d.payload, KEY) is True
        if registers(out):
            (f,) = fields_of(out, "register-retransmit")
            assert f["retries"] == len(sent_at) and f["last"] == (len(sent_at) == 3)
            assert fields_of(out, "register-sent")[0]["reason"] == "retransmit"
    assert sent_at == [11.0, 13.0, 17.0]  # back-off 1, 2, 4 s; at most 3 retries
    assert t == 25.0  # the last one's wait (8 s) runs out: back to the periodic refresh
    assert fields_of(out, "register-retries-exhausted")[0]["next_register"] == 70.0
    assert nonces == sorted(set(nonces))  # a fresh, greater nonce each time (MS-REG-REPLAY)
    assert n.next_deadline() == 70.0
    out = n.tick(70.0)  # the refresh of a still unconfirmed set retransmits again
    assert len(registers(out)) == 1 and n.next_deadline() == 71.0


def test_retransmission_stops_on_the_map_notify_matched_by_nonce() -> None:
    n = node()
    confirm(n, 0.1, n.tick(0.0))
    ((d0, reg0),) = registers(n.interface_up(10.0, "eth0", R_NEW))
    out = n.tick(11.0)
    ((d1, reg1),) = registers(out)
    assert reg1.nonce != reg0.nonce
    # a Notify with an unknown nonce does not stop it
    bogus = MapNotify(nonce=reg1.nonce + 1, key_id=1, records=reg1.records).sign(KEY).build()
    assert kinds(n.receive(11.5, Datagram(bogus, Endpoint.of(MS1, 4342), d1.src))) == [
        "notify-rejected"
    ]
    assert n.next_deadline() == 13.0
    # the (late) Notify of the first, "lost" register confirms the set as well
    out = deliver_notify(n, 12.0, d0, reg0)
    assert kinds(out) == ["notify-received", "register-retransmit-stopped"]
    assert fields_of(out, "register-retransmit-stopped")[0]["retries"] == 1
    assert n.retransmits == {} and n.next_deadline() == 70.0
    assert registers(n.tick(13.0)) == []


def test_a_notify_for_an_old_rloc_set_does_not_stop_the_retransmission() -> None:
    n = node()
    ((d_old, reg_old),) = registers(n.tick(0.0))  # never confirmed
    n.interface_up(5.0, "eth0", R_NEW)
    deliver_notify(n, 5.5, d_old, reg_old)  # confirms R_OLD, which is gone
    assert n.next_deadline() == 6.0
    assert len(registers(n.tick(6.0))) == 1


def test_no_retransmission_without_want_map_notify() -> None:
    n = node(want_map_notify=False)
    out = n.tick(0.0)
    (reg,) = [r for _, r in registers(out)]
    assert not reg.want_map_notify
    n.interface_up(10.0, "eth0", R_NEW)
    assert n.retransmits == {} and n.next_deadline() == 70.0
    assert registers(n.tick(11.0)) == []


def test_each_path_is_retransmitted_on_its_own() -> None:
    n = node(
        map_servers=[MS1, MS2],
        interfaces={"eth0": {"address": R_OLD}, "wlan0": {"address": R_WIFI}},
    )
    out = n.tick(0.0)
    paths = {(d.src.address, d.dst.address): (d, r) for d, r in registers(out)}
    assert len(paths) == 4
    d, reg = paths[(ip(R_OLD), ip(MS1))]
    deliver_notify(n, 0.5, d, reg)  # only eth0 -> MS1 confirmed
    out = n.tick(1.0)
    again = {(str(x.src.address), str(x.dst.address)) for x, _ in registers(out)}
    assert again == {(R_OLD, MS2), (R_WIFI, MS1), (R_WIFI, MS2)}


def test_retransmission_and_the_smr_after_notify_timer() -> None:
    # the Map-Notify of a retransmission releases the SMRs ...
    n = roam_setup()
    out = n.interface_up(30.0, "eth0", R_NEW)  # lost
    assert smrs(out) == [] and n.next_deadline() == 31.0
    out = n.tick(31.0)  # the retransmission and the 1 s SMR wait fall due together
    assert kinds(out).index("register-retransmit") < kinds(out).index("smr-notify-timeout")
    assert len(smrs(out)) == 2  # SMRs do not wait for the retransmission's Notify
    ((d, reg),) = registers(out)
    out = deliver_notify(n, 31.2, d, reg)
    assert "register-retransmit-stopped" in kinds(out) and smrs(out) == []
    # ... and when the Notify beats the 1 s wait, SMRs go on it and nothing is retransmitted
    n = roam_setup()
    ((d, reg),) = registers(n.interface_up(30.0, "eth0", R_NEW))
    out = deliver_notify(n, 30.3, d, reg)
    assert kinds(out)[0] == "notify-received" and len(smrs(out)) == 2
    assert "register-retransmit-stopped" not in kinds(out)
    assert registers(n.tick(31.0)) == []


# -- SMR targets: the PETR --------------------------------------------------------------------


def petr_peer_setup() -> MobileNode:
    """roam_setup, plus data to a non-LISP host through the PETR."""
    n = roam_setup()
    negative = EidRecord(IPv4.of("8.0.0.0"), 8, (), ttl=15, action=Action.NATIVELY_FORWARD)
    out = resolve(n, 24.0, "8.8.8.8", negative)
    assert [str(d.dst.address) for d in data_sent(out)] == [PETR]
    assert ip(PETR) in n.peers
    return n


def test_the_petr_is_not_smrd() -> None:
    n = petr_peer_setup()
    out = n.interface_up(30.0, "eth0", R_NEW)
    assert fields_of(out, "peer-skipped") == [{"peer_rloc": PETR, "reason": "petr"}]
    out = n.tick(31.0)
    assert {str(x.dst.address) for x, _ in smrs(out)} == {PEER_RLOC, PEER2_RLOC}
    assert ip(PETR) not in n.pending_smrs


def test_a_petr_that_also_sent_us_data_is_a_pitr_and_is_smrd() -> None:
    n = petr_peer_setup()
    inbound(n, 25.0, PETR, "8.8.8.8", R_OLD)  # a non-LISP host's reply, encapsulated by it
    out = n.interface_up(30.0, "eth0", R_NEW)
    assert "peer-skipped" not in kinds(out)
    found = smrs(n.tick(31.0))
    assert {str(x.dst.address) for x, _ in found} == {PEER_RLOC, PEER2_RLOC, PETR}
    (to_petr,) = [smr for x, smr in found if str(x.dst.address) == PETR]
    assert to_petr.records[0].eid_prefix == "8.8.8.8/32"
    # data we keep sending to it afterwards does not forget that it sent us data
    n = petr_peer_setup()
    inbound(n, 25.0, PETR, "8.8.8.8", R_OLD)
    n.send_packet(26.0, packet(EID, "8.8.8.8"))
    assert n.peers[ip(PETR)].last_inbound == 25.0
    # ... but inbound data older than the peer window does not count
    n = petr_peer_setup()
    inbound(n, 25.0, PETR, "8.8.8.8", R_OLD)
    n.send_packet(80.0, packet(EID, "8.8.8.8"))
    out = n.interface_up(90.0, "eth0", R_NEW)
    assert fields_of(out, "peer-skipped") == [{"peer_rloc": PETR, "reason": "petr"}]


# -- map-cache and SMRs ----------------------------------------------------------------------


def roam_setup(**kw: object) -> MobileNode:
    """A registered node that talks to PEER (it sends) and PEER2 (it receives)."""
    n = node(**kw)
    out = n.tick(0.0)
    if not registers(out):  # the late-register fault: the first registration is late too
        out = n.tick(n.next_deadline() or 0.0)
    ((d, reg),) = registers(out)
    deliver_notify(n, 10.1, d, reg)
    resolve(n, 21.0, PEER_EID, record(PEER_EID, [PEER_RLOC]))
    out = n.send_packet(22.0, packet(EID, PEER_EID))
    assert [str(x.dst.address) for x in data_sent(out)] == [PEER_RLOC]
    out = inbound(n, 23.0, PEER2_RLOC, PEER2_EID, R_OLD)
    assert isinstance(out[0], Deliver)
    return n


def test_roam_clears_the_map_cache() -> None:
    n = roam_setup()
    assert len(n.itr.cache) == 1
    out = n.interface_up(30.0, "eth0", R_NEW)
    assert "cache-cleared" in kinds(out) and len(n.itr.cache) == 0
    # MN-CACHE-CLEAR: the next packet to the old destination is a Map-Request again
    out = n.send_packet(30.5, packet(EID, PEER_EID))
    ((d, req),) = ecm_requests(out)
    assert d.src.address == ip(R_NEW) and str(d.dst.address) == MR
    assert [str(a) for a in req.itr_rlocs] == [R_NEW]  # MN-MREQ-ITR-RLOC
    assert data_sent(out) == []


def test_smrs_go_to_every_peer_after_the_map_notify() -> None:
    n = roam_setup()
    out = n.interface_up(30.0, "eth0", R_NEW)
    assert smrs(out) == []  # waiting for the Map-Notify of the new registration
    ((d, reg),) = registers(out)
    out = deliver_notify(n, 30.2, d, reg)
    found = smrs(out)
    assert {str(x.dst.address) for x, _ in found} == {PEER_RLOC, PEER2_RLOC}
    for x, smr in found:  # SMR-FORMAT
        assert x.src == Endpoint.of(R_NEW, 4342) and x.dst.port == 4342
        assert parse_control(x.payload) == smr  # native: not inside an ECM
        assert smr.smr and not smr.smr_invoked and smr.dont_map_reply
        assert smr.source_eid == IPv4.of(EID)
        assert [str(a) for a in smr.itr_rlocs] == [R_NEW]
        (rec,) = smr.records
        expected = PEER_EID if str(x.dst.address) == PEER_RLOC else PEER2_EID
        assert rec.eid_prefix == f"{expected}/32"
    assert len({smr.nonce for _, smr in found}) == 2


def test_smrs_without_map_notify_after_the_wait() -> None:
    n = roam_setup()
    n.interface_up(30.0, "eth0", R_NEW)
    assert n.next_deadline() == 31.0
    out = n.tick(31.0)
    assert "smr-notify-timeout" in kinds(out) and len(smrs(out)) == 2


def test_smrs_at_once_when_configured_and_d_bit_optional() -> None:
    n = roam_setup(smr_after_notify=False, smr_dont_map_reply=False)
    out = n.interface_up(30.0, "eth0", R_NEW)
    found = smrs(out)
    assert len(found) == 2
    assert not any(smr.dont_map_reply for _, smr in found)  # 6830 profile


def test_smr_retries_stop_when_the_peer_reacts() -> None:
    n = roam_setup(smr_after_notify=False)
    n.interface_up(30.0, "eth0", R_NEW)
    # PEER2 sends data to the new RLOC: it has the new mapping, no more SMRs for it
    inbound(n, 30.5, PEER2_RLOC, PEER2_EID, R_NEW)
    # PEER asks with an SMR-invoked Map-Request (forwarded by the Map-Server): stop too
    out = n.tick(31.0)
    assert [str(x.dst.address) for x, _ in smrs(out)] == [PEER_RLOC]  # retry 1 to PEER only
    request = MapRequest(
        nonce=99,
        source_eid=IPv4.of(PEER_EID),
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
        smr_invoked=True,
    )
    n.receive(
        31.5, Datagram(request.build(), Endpoint.of(PEER_RLOC, 4342), Endpoint.of(R_NEW, 4342))
    )
    assert smrs(n.tick(32.0)) == []
    assert n.pending_smrs == {}


def test_smr_retries_are_bounded() -> None:
    n = roam_setup(smr_after_notify=False, smr_retries=2)
    total = len(smrs(n.interface_up(30.0, "eth0", R_NEW)))
    for t in (31.0, 32.0, 33.0, 34.0):
        total += len(smrs(n.tick(t)))
    assert total == 2 * 3  # first SMR + 2 retries, to each of the two peers


def test_only_recent_peers_are_smrd() -> None:
    n = roam_setup(smr_after_notify=False)
    out = n.interface_up(100.0, "eth0", R_NEW)  # > 60 s after the last data (23 s)
    assert smrs(out) == []


def test_a_peer_smr_makes_an_smr_invoked_request_to_the_mapping_system() -> None:
    n = roam_setup()
    smr = MapRequest(
        nonce=42,
        source_eid=IPv4.of(PEER_EID),
        itr_rlocs=(IPv4.of("198.51.100.111"),),
        records=(RequestRecord(IPv4.of(EID), 32),),
        smr=True,
    )
    out = n.receive(
        25.0, Datagram(smr.build(), Endpoint.of(PEER_RLOC, 4342), Endpoint.of(R_OLD, 4342))
    )
    ((d, req),) = ecm_requests(out)
    assert req.smr_invoked and str(d.dst.address) == MR and req.nonce != 42
    assert not [x for x in control(out) if isinstance(parse_control(x.payload), MapReply)]


# -- answering Map-Requests -------------------------------------------------------------------


def test_answers_map_requests_for_its_eid() -> None:
    n = node(interfaces={"eth0": {"address": R_OLD}, "wlan0": {"address": R_WIFI}})
    n.tick(0.0)
    request = MapRequest(
        nonce=0xABCDEF,
        source_eid=IPv4.of(PEER_EID),
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
    )
    out = n.receive(
        1.0, Datagram(request.build(), Endpoint.of(PEER_RLOC, 61000), Endpoint.of(R_OLD, 4342))
    )
    ((d,),) = [sends(out)]
    reply = parse_control(d.payload)
    assert isinstance(reply, MapReply) and reply.nonce == 0xABCDEF
    (rec,) = reply.records
    assert rec.authoritative and rec.ttl == 1 and rec.eid_prefix == f"{EID}/32"
    assert [str(loc.address) for loc in rec.locators] == [R_OLD, R_WIFI]
    assert d.dst == Endpoint.of(PEER_RLOC, 61000) and d.src.port == 4342


def test_answers_ecm_forwarded_requests_and_ignores_others() -> None:
    n = node()
    n.tick(0.0)
    request = MapRequest(
        nonce=7,
        source_eid=IPv4.of(PEER_EID),
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
    )
    inner = IpPacket(
        Ipv4Header(ip(PEER_RLOC), ip(EID)),  # type: ignore[arg-type]
        UdpDatagram(52000, 4342, request.build()),
    )
    ecm = EncapsulatedControlMessage(inner=inner, to_etr=True).build()
    out = n.receive(1.0, Datagram(ecm, Endpoint.of(MS1, 4342), Endpoint.of(R_OLD, 4342)))
    ((d,),) = [sends(out)]
    assert d.dst == Endpoint.of(PEER_RLOC, 52000)
    assert parse_control(d.payload).nonce == 7  # type: ignore[attr-defined]
    other = MapRequest(
        nonce=8,
        source_eid=NoAddress(),
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of("192.0.2.11"), 32),),
    )
    out = n.receive(
        2.0, Datagram(other.build(), Endpoint.of(PEER_RLOC, 4342), Endpoint.of(R_OLD, 4342))
    )
    assert sends(out) == [] and kinds(out) == ["request-ignored"]
    dont = MapRequest(
        nonce=9,
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
        dont_map_reply=True,
    )
    out = n.receive(
        3.0, Datagram(dont.build(), Endpoint.of(PEER_RLOC, 4342), Endpoint.of(R_OLD, 4342))
    )
    assert sends(out) == []


# -- data plane: PETR -----------------------------------------------------------------------


def test_negative_reply_sends_to_the_petr() -> None:
    n = node()
    n.tick(0.0)
    negative = EidRecord(IPv4.of("8.0.0.0"), 8, (), ttl=15, action=Action.NATIVELY_FORWARD)
    out = resolve(n, 1.0, "8.8.8.8", negative)
    assert [str(d.dst.address) for d in data_sent(out)] == [PETR]  # the queued packet
    out = n.send_packet(2.0, packet(EID, "8.8.4.4"))
    (d,) = data_sent(out)
    assert str(d.dst.address) == PETR and d.src == Endpoint.of(R_OLD, 4341)
    assert d.payload[8:] == packet(EID, "8.8.4.4")
    assert ecm_requests(out) == []


def test_default_petr_entry_sends_without_waiting_and_survives_the_flush() -> None:
    n = node(default_petr_entry=True)
    n.tick(0.0)
    out = n.send_packet(1.0, packet(EID, "8.8.8.8"))
    assert [str(d.dst.address) for d in data_sent(out)] == [PETR] and ecm_requests(out) == []
    n.interface_up(5.0, "eth0", R_NEW)
    (d,) = data_sent(n.send_packet(6.0, packet(EID, "8.8.8.8")))
    assert str(d.dst.address) == PETR and d.src.address == ip(R_NEW)


def test_decapsulates_only_its_own_eid() -> None:
    n = node()
    n.tick(0.0)
    out = inbound(n, 1.0, PEER_RLOC, PEER_EID, R_OLD)
    assert out == [Deliver(packet(PEER_EID, EID))]
    stray = DataHeader.make(nonce=1).build() + packet(PEER_EID, "192.0.2.77")
    out = n.receive(2.0, Datagram(stray, Endpoint.of(PEER_RLOC, 4341), Endpoint.of(R_OLD, 4341)))
    assert kinds(out) == ["decap-refused"]


# -- NAT traversal (mobile node side) ---------------------------------------------------------

PRIVATE, PRIVATE2, GLOBAL = "10.0.0.5", "10.0.0.6", "198.51.100.150"


def info_reply(req: Info, global_rloc: str, port: int, rtrs: tuple[str, ...] = (RTR,)) -> bytes:
    nat = NatTraversal(
        ms_udp_port=4342,
        etr_udp_port=port,
        global_etr_rloc=IPv4.of(global_rloc),
        ms_rloc=IPv4.of(MS1),
        private_etr_rloc=IPv4.of(PRIVATE),
        rtr_rlocs=tuple(IPv4.of(r) for r in rtrs),
    )
    reply = Info(
        reply=True,
        nonce=req.nonce,
        key_id=1,
        ttl=1,
        eid_mask_len=req.eid_mask_len,
        eid=req.eid,
        body=nat,
    )
    return reply.sign(KEY).build()


def info_requests(out: list[Output]) -> list[tuple[Datagram, Info]]:
    found = []
    for d in control(out):
        msg = parse_control(d.payload)
        if isinstance(msg, Info) and not msg.reply:
            found.append((d, msg))
    return found


def nat_node(address: str = PRIVATE, **kw: object) -> tuple[MobileNode, Datagram, Info]:
    n = node(nat_traversal=True, interfaces={"wlan0": {"address": address}}, **kw)
    out = n.tick(0.0)
    ((d, req),) = info_requests(out)
    assert registers(out) == [] and via_rtr(out) == []  # NAT-IR-ON-ROAM: ask first
    return n, d, req


def test_private_rlocs_are_not_advertised_without_nat_traversal() -> None:
    interfaces = {"eth0": {"address": R_OLD}, "wlan0": {"address": PRIVATE}}
    n = node(interfaces=interfaces)
    out = n.tick(0.0)
    assert "private-rloc-withheld" in kinds(out)
    assert {tuple(locators(reg)) for _, reg in registers(out)} == {(R_OLD,)}
    allowed = node(interfaces=interfaces, allow_private_rlocs=True)
    assert [str(loc.address) for loc in allowed.locator_set()] == [R_OLD, PRIVATE]
    faulty = node(interfaces=interfaces, faults=["private-rloc"])
    assert [str(loc.address) for loc in faulty.locator_set()] == [R_OLD, PRIVATE]


def test_info_request_from_each_new_rloc() -> None:
    n, d, req = nat_node()
    assert d.src == Endpoint.of(PRIVATE, 4342) and d.dst == Endpoint.of(MS1, 4342)
    assert not req.reply and req.body == NoAddress() and req.eid_prefix == f"{EID}/32"
    assert verify(d.payload, KEY) is True  # NAT-IR-AUTH
    out = n.interface_up(5.0, "wlan0", PRIVATE2)
    ((d2, req2),) = info_requests(out)
    assert d2.src.address == ip(PRIVATE2) and req2.nonce != req.nonce


def test_no_translation_registers_directly() -> None:
    n, d, req = nat_node(address=R_OLD)
    out = n.receive(0.1, Datagram(info_reply(req, R_OLD, 4342), d.dst, d.src))
    assert "nat-none" in kinds(out)
    ((rd, reg),) = registers(out)
    assert rd.src == Endpoint.of(R_OLD, 4342) and locators(reg) == [R_OLD]


def test_translation_registers_through_the_rtr() -> None:
    n, d, req = nat_node()
    out = n.receive(0.1, Datagram(info_reply(req, GLOBAL, 61001), d.dst, d.src))
    assert "nat-detected" in kinds(out)
    assert registers(out) == []  # never a direct register with the private RLOC
    ((rd, reg, raw),) = via_rtr(out)
    assert rd.src == Endpoint.of(PRIVATE, 4341) and rd.dst == Endpoint.of(RTR, 4342)
    ecm = parse_control(rd.payload)
    assert isinstance(ecm, EncapsulatedControlMessage) and ecm.rtr_process
    assert str(ecm.inner.src) == PRIVATE and str(ecm.inner.dst) == MS1
    assert locators(reg) == [RTR]  # the RTR's RLOC, not the private one
    assert not reg.records[0].locators[0].local
    assert verify(raw, KEY) is True and reg.want_map_notify
    assert reg.xtr_id is not None and reg.site_id is not None
    # data leaves through the RTR; Map-Replies name the RTR too
    out = n.send_packet(1.0, packet(EID, "8.8.8.8"))
    ((_, q),) = ecm_requests(out)
    answer = MapReply(nonce=q.nonce, records=(record("8.8.8.8", [PEER_RLOC]),)).build()
    out = n.receive(1.1, Datagram(answer, Endpoint.of(MR, 4342), Endpoint.of(PRIVATE, 4342)))
    assert [str(x.dst.address) for x in data_sent(out)] == [RTR]
    # a Map-Notify relayed by the RTR inside a data packet is accepted
    notify = notify_for(reg)
    relayed = IpPacket(
        Ipv4Header(ip(MS1), ip(PRIVATE)),  # type: ignore[arg-type]
        UdpDatagram(4342, 4342, notify),
    ).build()
    payload = DataHeader.make(nonce=3).build() + relayed
    out = n.receive(1.2, Datagram(payload, Endpoint.of(RTR, 4341), Endpoint.of(PRIVATE, 4341)))
    assert kinds(out) == ["notify-received"]


def test_info_timeout_registers_directly() -> None:
    n, _, _ = nat_node(address=R_OLD)
    assert n.next_deadline() == 2.0
    out = n.tick(2.0)
    assert "nat-info-timeout" in kinds(out)
    assert [locators(reg) for _, reg in registers(out)] == [[R_OLD]]


def test_info_requests_are_refreshed_and_a_lost_refresh_keeps_the_verdict() -> None:
    n, d, req = nat_node(want_map_notify=False)  # no Map-Notify, no Map-Register retransmission
    n.receive(0.1, Datagram(info_reply(req, GLOBAL, 61001), d.dst, d.src))
    out = n.tick(60.1)  # the periodic round: NAT-IR-REFRESH, and the register via the RTR
    ((_, again),) = info_requests(out)
    assert again.nonce != req.nonce
    assert [locators(reg) for _, reg, _ in via_rtr(out)] == [[RTR]]
    out = n.tick(62.1)  # the refresh went unanswered
    assert "nat-info-timeout" in kinds(out) and registers(out) == [] and via_rtr(out) == []
    assert [locators(reg) for _, reg, _ in via_rtr(n.tick(120.1))] == [[RTR]]


def test_info_reply_with_a_bad_hmac_is_ignored() -> None:
    n, d, req = nat_node()
    reply = Info.parse(info_reply(req, GLOBAL, 61001))
    forged = reply.sign(b"other").build()
    out = n.receive(0.1, Datagram(forged, d.dst, d.src))
    assert kinds(out) == ["info-reply-rejected"] and via_rtr(out) == []


# -- fault switches: each changes exactly its rule's behaviour --------------------------------


def observe(faults: list[str]) -> dict[str, object]:
    """Run a roam (plain) and a NAT registration, and record what each rule looks at."""
    n = roam_setup(faults=faults, late_register_delay=10.0)
    cached_before = len(n.itr.cache)
    t0 = 30.0
    out = n.interface_up(t0, "eth0", R_NEW)
    cache_after = len(n.itr.cache)
    reg_times = [t0] if registers(out) else []
    smr_peers = {str(d.dst.address) for d, _ in smrs(out)}
    for d, reg in registers(out):
        notified = deliver_notify(n, t0 + 0.1, d, reg)
        smr_peers |= {str(x.dst.address) for x, _ in smrs(notified)}
    for t in (31.0, 32.0, 33.0, 34.0, 35.0, 40.0, 41.0, 42.0, 43.0):
        out = n.tick(t)
        if registers(out):
            reg_times.append(t)
        smr_peers |= {str(x.dst.address) for x, _ in smrs(out)}
    ttls = {reg.records[0].ttl for _, reg in registers(n.tick(100.0))}
    request = MapRequest(
        nonce=1,
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
    )
    out = n.receive(
        101.0, Datagram(request.build(), Endpoint.of(PEER_RLOC, 4342), Endpoint.of(R_NEW, 4342))
    )
    ttls |= {r.ttl for d in sends(out) for r in parse_control(d.payload).records}  # type: ignore[attr-defined]

    nat, d, req = nat_node(faults=faults)
    out = nat.receive(0.1, Datagram(info_reply(req, GLOBAL, 61001), d.dst, d.src))
    for t in (1.0, 5.0, 10.1, 15.0):
        if registers(out) or via_rtr(out):
            break
        out = nat.tick(t)
    nat_regs = [("direct", locators(reg)) for _, reg in registers(out)]
    nat_regs += [("rtr", locators(reg)) for _, reg, _ in via_rtr(out)]
    return {
        "MN-REG-IMMEDIATE": reg_times[0] - t0,  # D_trigger
        "MN-CACHE-CLEAR": (cached_before, cache_after),
        "MN-SMR-REQUIRED": sorted(smr_peers),  # peers SMR'd within 13 s of the roam
        "MN-TTL-SHORT": sorted(ttls),
        "MN-NO-PRIVATE-RLOC": nat_regs,
    }


def test_baseline_keeps_every_rule() -> None:
    seen = observe([])
    assert seen["MN-REG-IMMEDIATE"] == 0.0
    assert seen["MN-CACHE-CLEAR"] == (1, 0)
    assert seen["MN-SMR-REQUIRED"] == [PEER2_RLOC, PEER_RLOC]
    assert seen["MN-TTL-SHORT"] == [1]
    assert seen["MN-NO-PRIVATE-RLOC"] == [("rtr", [RTR])]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_changes_exactly_its_rule(fault: str) -> None:
    baseline = observe([])
    faulty = observe([fault])
    changed = {rule for rule in baseline if baseline[rule] != faulty[rule]}
    assert changed == {FAULTS[fault]}
    broken = faulty[FAULTS[fault]]
    if fault == "late-register":
        assert broken == 10.0  # N seconds after the change
    elif fault == "no-cache-clear":
        assert broken == (1, 1)
    elif fault == "no-smr":
        assert broken == []
    elif fault == "long-ttl":
        assert broken == [LONG_TTL_MINUTES]
    else:
        assert broken == [("direct", [PRIVATE])]


# -- against the reference Map-Server ----------------------------------------------------------


def map_server() -> MapServer:
    site = SiteConfig(
        "mobile-nodes",
        (EidPrefix.parse("192.0.2.0/24"),),
        (SiteKey(Secret(KEY)),),
        accept_more_specifics=True,
    )
    return MapServer(MapServerConfig(sites=(site,), listen=(Endpoint.of(MS1, 4342),)))


def carry(ms: MapServer, n: MobileNode, now: float, out: list[Output]) -> list[Output]:
    """Hand the node's datagrams for the Map-Server to it, and its answers back."""
    back: list[Output] = []
    for d in control(out):
        if str(d.dst.address) == MS1:
            for answer in sends(ms.receive(now, d)):
                back += n.receive(now, answer)
    return back


def test_registers_with_the_reference_map_server_and_roams() -> None:
    ms = map_server()
    n = roam_setup()  # the node that has peers (its first register is not carried)
    n2 = node()  # the same EID: its first registration, through the Map-Server
    back = carry(ms, n2, 0.0, n2.tick(0.0))
    assert kinds(back) == ["notify-received"]
    (reg,) = ms.registrations()
    assert str(reg.prefix) == f"{EID}/32" and reg.record.ttl == 1 and not reg.proxy_reply
    assert locators_of(reg.record) == [R_OLD] and reg.registerer == Endpoint.of(R_OLD, 4342)
    # the roam of the node that has peers: register, Map-Notify, then SMRs
    out = n.interface_up(30.0, "eth0", R_NEW)
    back = carry(ms, n, 30.05, out)
    assert "notify-received" in kinds(back)
    assert {str(d.dst.address) for d, _ in smrs(back)} == {PEER_RLOC, PEER2_RLOC}
    # a Map-Request through the mapping system reaches the node (P=0) and it answers
    request = MapRequest(
        nonce=0x5151,
        source_eid=IPv4.of(PEER_EID),
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
        smr_invoked=True,
    )
    inner = IpPacket(
        Ipv4Header(ip(PEER_RLOC), ip(EID)),  # type: ignore[arg-type]
        UdpDatagram(40000, 4342, request.build()),
    )
    ecm = EncapsulatedControlMessage(inner=inner).build()
    (forwarded,) = sends(
        ms.receive(31.0, Datagram(ecm, Endpoint.of(MR, 4342), Endpoint.of(MS1, 4342)))
    )
    assert forwarded.dst.address == ip(R_NEW)
    (answer,) = sends(n.receive(31.1, forwarded))
    reply = parse_control(answer.payload)
    assert isinstance(reply, MapReply) and reply.nonce == 0x5151
    assert reply.records[0].authoritative and locators_of(reply.records[0]) == [R_NEW]
    assert answer.dst == Endpoint.of(PEER_RLOC, 40000)


def locators_of(rec: EidRecord) -> list[str]:
    return [str(loc.address) for loc in rec.locators]


def test_registers_through_an_rtr_pass_the_9301_anti_replay_check() -> None:
    """Registers with an xTR-ID (through the RTR): the first, its retransmissions, the periodic
    refresh and a restarted node's are all above the last nonce the Map-Server accepted; a
    replay of an old one is dropped."""
    ms = map_server()  # 9301 profile (the default)
    n, d, req = nat_node()
    out = n.receive(0.1, Datagram(info_reply(req, GLOBAL, 61001), d.dst, d.src))
    raws = [raw for _, _, raw in via_rtr(out)]
    for t in (1.1, 3.1, 7.1, 60.1):  # 3 retransmissions (Notifies lost), then the refresh
        raws += [raw for _, _, raw in via_rtr(n.tick(t))]
    restarted, d2, req2 = nat_node()  # the same node restarted later on the same clock
    out = restarted.receive(90.0, Datagram(info_reply(req2, GLOBAL, 61001), d2.dst, d2.src))
    raws += [raw for _, _, raw in via_rtr(out)]
    assert len(raws) == 6
    src = Endpoint.of(RTR, 4342)
    for i, raw in enumerate(raws):
        out = ms.receive(100.0 + i, Datagram(raw, src, Endpoint.of(MS1, 4342)))
        assert kinds(out) == ["register-accepted", "notify-sent"], i
    out = ms.receive(110.0, Datagram(raws[2], src, Endpoint.of(MS1, 4342)))
    assert kinds(out) == ["register-rejected"] and ms.rejected["replayed-nonce"] == 1
