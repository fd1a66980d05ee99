"""The RTR with a mobile node behind a (fake) NAT, a fake Map-Server and a peer: fake clock."""

from __future__ import annotations

import ipaddress

import pytest

from dissectors.inet import IpPacket, Ipv4Header, UdpDatagram
from dissectors.lisp.afi import IPv4
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
from dissectors.lisp.records import EidRecord, Locator
from lisptrace.stack.mobile_node import MobileNode, MobileNodeConfig
from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, Output, Send
from lisptrace.stack.rtr import Rtr, RtrConfig

KEY = b"mn-secret"
EID, MS, MR, RTR = "192.0.2.10", "203.0.113.1", "203.0.113.3", "203.0.113.50"
PRIVATE, GLOBAL, NAT_PORT = "10.0.0.5", "198.51.100.150", 61001
PEER_EID, PEER_RLOC = "192.0.2.99", "198.51.100.99"


def packet(src: str, dst: str) -> bytes:
    header = Ipv4Header(ipaddress.ip_address(src), ipaddress.ip_address(dst))  # type: ignore[arg-type]
    return IpPacket(header, UdpDatagram(1000, 2000, b"hello", checksum=None)).build()


def sends(out: list[Output]) -> list[Datagram]:
    return [o.datagram for o in out if isinstance(o, Send)]


def kinds(out: list[Output]) -> list[str]:
    return [o.kind for o in out if isinstance(o, Decision)]


def nat_out(d: Datagram) -> Datagram:
    """The NAT: the node's private 4341 becomes GLOBAL:NAT_PORT."""
    assert d.src == Endpoint.of(PRIVATE, 4341)
    return Datagram(d.payload, Endpoint.of(GLOBAL, NAT_PORT), d.dst)


def nat_in(d: Datagram) -> Datagram:
    assert d.dst == Endpoint.of(GLOBAL, NAT_PORT)
    return Datagram(d.payload, d.src, Endpoint.of(PRIVATE, 4341))


@pytest.fixture
def pair() -> tuple[MobileNode, Rtr, MapRegister]:
    """A NATed mobile node registered through the RTR (Map-Notify relayed back)."""
    mn = MobileNode(
        MobileNodeConfig.from_dict(
            {
                "eid": EID,
                "key": "mn-secret",
                "map_servers": [MS],
                "map_resolver": MR,
                "nat_traversal": True,
                "interfaces": {"wlan0": {"address": PRIVATE}},
            }
        ),
        seed=1,
    )
    rtr = Rtr(RtrConfig.from_dict({"rlocs": [RTR], "map-resolvers": [MR]}), seed=2)
    (info_dgram,) = sends(mn.tick(0.0))
    req = parse_control(info_dgram.payload)
    assert isinstance(req, Info)
    nat = NatTraversal(
        ms_udp_port=4342,
        etr_udp_port=40000,
        global_etr_rloc=IPv4.of(GLOBAL),
        ms_rloc=IPv4.of(MS),
        private_etr_rloc=IPv4.of(PRIVATE),
        rtr_rlocs=(IPv4.of(RTR),),
    )
    reply = Info(reply=True, nonce=req.nonce, key_id=1, eid=req.eid, eid_mask_len=32, body=nat)
    out = mn.receive(0.1, Datagram(reply.sign(KEY).build(), info_dgram.dst, info_dgram.src))
    ecm_dgram, probe_dgram = sends(out)  # the register, then the probe of the RTR's data port
    assert ecm_dgram.dst == Endpoint.of(RTR, 4342) and probe_dgram.dst == Endpoint.of(RTR, 4341)
    out = rtr.receive(0.2, nat_out(ecm_dgram))
    assert kinds(out) == ["register-relayed"]
    (relayed,) = sends(out)
    out = rtr.receive(0.2, nat_out(probe_dgram))
    assert kinds(out) == ["probe-answered"]
    (answer,) = sends(out)
    assert answer.src == Endpoint.of(RTR, 4341) and answer.dst == Endpoint.of(GLOBAL, NAT_PORT)
    assert kinds(mn.receive(0.25, nat_in(answer))) == ["rtr-probe-answered"]
    assert relayed.src == Endpoint.of(RTR, 4342) and relayed.dst == Endpoint.of(MS, 4342)
    assert verify(relayed.payload, KEY) is True  # the node's own signature, untouched
    reg = parse_control(relayed.payload)
    assert isinstance(reg, MapRegister)
    assert [str(loc.address) for loc in reg.records[0].locators] == [RTR]
    # the Map-Server answers the RTR; the RTR relays through the NAT
    notify = MapNotify(nonce=reg.nonce, key_id=1, records=reg.records).sign(KEY).build()
    out = rtr.receive(0.3, Datagram(notify, Endpoint.of(MS, 4342), relayed.src))
    (to_node,) = sends(out)
    assert to_node.dst == Endpoint.of(GLOBAL, NAT_PORT) and to_node.dst.port != 4342
    assert kinds(mn.receive(0.4, nat_in(to_node))) == ["notify-received"]
    return mn, rtr, reg


def test_register_and_notify_through_the_rtr(pair: tuple[MobileNode, Rtr, MapRegister]) -> None:
    _, rtr, _ = pair
    (binding,) = rtr.bindings
    assert binding.translated == Endpoint.of(GLOBAL, NAT_PORT)
    assert str(binding.private) == PRIVATE and [str(e) for e in binding.eids] == [f"{EID}/32"]


def test_forwarded_map_request_reaches_the_node(pair: tuple[MobileNode, Rtr, MapRegister]) -> None:
    mn, rtr, _ = pair

    request = MapRequest(
        nonce=77,
        source_eid=IPv4.of(PEER_EID),
        itr_rlocs=(IPv4.of(PEER_RLOC),),
        records=(RequestRecord(IPv4.of(EID), 32),),
    )
    inner = IpPacket(
        Ipv4Header(ipaddress.IPv4Address(PEER_RLOC), ipaddress.IPv4Address(EID)),
        UdpDatagram(50000, 4342, request.build()),
    )
    ecm = EncapsulatedControlMessage(inner=inner, to_etr=True).build()
    out = rtr.receive(1.0, Datagram(ecm, Endpoint.of(MS, 4342), Endpoint.of(RTR, 4342)))
    (to_node,) = sends(out)
    out = mn.receive(1.1, nat_in(to_node))
    (answer,) = sends(out)
    reply = parse_control(answer.payload)
    assert isinstance(reply, MapReply) and reply.nonce == 77
    assert answer.dst == Endpoint.of(PEER_RLOC, 50000)
    assert [str(loc.address) for loc in reply.records[0].locators] == [RTR]


def test_data_both_ways_through_the_rtr(pair: tuple[MobileNode, Rtr, MapRegister]) -> None:
    mn, rtr, _ = pair
    # peer -> node: the peer encapsulates to the registered locator, the RTR
    to_mn = DataHeader.make(nonce=1).build() + packet(PEER_EID, EID)
    out = rtr.receive(2.0, Datagram(to_mn, Endpoint.of(PEER_RLOC, 4341), Endpoint.of(RTR, 4341)))
    (d,) = sends(out)
    assert d.dst == Endpoint.of(GLOBAL, NAT_PORT)
    assert mn.receive(2.1, nat_in(d)) == [Deliver(packet(PEER_EID, EID))]
    # node -> peer: the node's Map-Request goes through the RTR (its ITR-RLOC is private),
    # which asks with its own RLOC and relays the reply; then the data goes to the RTR
    out = mn.send_packet(3.0, packet(EID, PEER_EID))
    (q,) = sends(out)
    assert q.src == Endpoint.of(PRIVATE, 4341) and q.dst == Endpoint.of(RTR, 4342)
    out = rtr.receive(3.05, nat_out(q))
    assert kinds(out) == ["node-request-relayed"]
    (rq0,) = sends(out)
    asked = parse_control(rq0.payload)
    assert isinstance(asked, EncapsulatedControlMessage) and rq0.dst == Endpoint.of(MR, 4342)
    assert isinstance(asked.message, MapRequest)
    assert [str(a.address) for a in asked.message.itr_rlocs] == [RTR]  # type: ignore[attr-defined]
    rec = EidRecord(IPv4.of(PEER_EID), 32, (Locator(IPv4.of(PEER_RLOC)),), ttl=1)
    answer = MapReply(nonce=asked.message.nonce, records=(rec,)).build()
    out = rtr.receive(3.08, Datagram(answer, Endpoint.of(PEER_RLOC, 4342), rq0.src))
    assert kinds(out) == ["reply-relayed"]
    (relayed_reply,) = sends(out)
    out = mn.receive(3.1, nat_in(relayed_reply))
    (data,) = [x for x in sends(out) if x.dst.port == 4341]
    assert data.dst == Endpoint.of(RTR, 4341)
    out = rtr.receive(3.2, nat_out(data))
    (rq,) = sends(out)  # the RTR resolves the destination itself
    rreq = parse_control(rq.payload)
    assert isinstance(rreq, EncapsulatedControlMessage) and rq.dst == Endpoint.of(MR, 4342)
    assert isinstance(rreq.message, MapRequest)
    answer = MapReply(nonce=rreq.message.nonce, records=(rec,)).build()
    out = rtr.receive(3.3, Datagram(answer, Endpoint.of(MR, 4342), rq.src))
    (fwd,) = [x for x in sends(out) if x.dst.port == 4341]
    assert fwd.src == Endpoint.of(RTR, 4341) and fwd.dst == Endpoint.of(PEER_RLOC, 4341)
    assert fwd.payload[8:] == packet(EID, PEER_EID)


def test_strangers_are_not_relayed() -> None:
    rtr = Rtr(RtrConfig(rlocs=(IPv4.of(RTR).address,)), seed=3)
    stray = DataHeader.make(nonce=1).build() + packet(PEER_EID, "192.0.2.77")
    out = rtr.receive(1.0, Datagram(stray, Endpoint.of(PEER_RLOC, 4341), Endpoint.of(RTR, 4341)))
    assert kinds(out) == ["decap-refused"] and sends(out) == []
    notify = MapNotify(nonce=5, key_id=1).sign(KEY).build()
    out = rtr.receive(1.0, Datagram(notify, Endpoint.of(MS, 4342), Endpoint.of(RTR, 4342)))
    assert kinds(out) == ["notify-not-relayed"]
    with pytest.raises(ValueError, match="RLOC"):
        RtrConfig.from_dict({})


def test_a_probe_moves_the_binding_to_its_translated_port(
    pair: tuple[MobileNode, Rtr, MapRegister],
) -> None:
    """A NAT that maps the node's data port anew (another external port): the probe's source
    becomes the binding's translated endpoint, and data for the node goes there."""
    mn, rtr, _ = pair
    (binding,) = rtr.bindings
    probe = [
        d for d in sends(mn.tick(61.0)) if d.dst == Endpoint.of(RTR, 4341)
    ]  # the periodic register round probes again
    assert probe, "no probe with the periodic register"
    moved = Datagram(probe[0].payload, Endpoint.of(GLOBAL, NAT_PORT + 1), probe[0].dst)
    out = rtr.receive(61.1, moved)
    assert kinds(out) == ["probe-answered"]
    assert binding.translated == Endpoint.of(GLOBAL, NAT_PORT + 1)
    to_mn = DataHeader.make(nonce=1).build() + packet(PEER_EID, EID)
    (d,) = sends(
        rtr.receive(62.0, Datagram(to_mn, Endpoint.of(PEER_RLOC, 4341), Endpoint.of(RTR, 4341)))
    )
    assert d.dst == Endpoint.of(GLOBAL, NAT_PORT + 1)


def test_no_smr_to_the_rtr_after_leaving_the_nat(pair: tuple[MobileNode, Rtr, MapRegister]) -> None:
    """The RTR relayed for the node and holds no map-cache entry for its EID: the roam off the
    NAT SMRs the peers, not the RTR (it would ignore it)."""
    mn, rtr, _ = pair
    to_mn = DataHeader.make(nonce=1).build() + packet(PEER_EID, EID)
    (d,) = sends(
        rtr.receive(2.0, Datagram(to_mn, Endpoint.of(PEER_RLOC, 4341), Endpoint.of(RTR, 4341)))
    )
    mn.receive(2.1, nat_in(d))  # data from the RTR's address: a peer RLOC
    out = mn.set_rlocs(3.0, {"wlan0": "198.51.100.7"})
    skipped = [o for o in out if isinstance(o, Decision) and o.kind == "peer-skipped"]
    assert [o.fields["reason"] for o in skipped] == ["rtr"]
    assert RTR not in mn.pending_smrs and ipaddress.ip_address(RTR) not in mn.pending_smrs
