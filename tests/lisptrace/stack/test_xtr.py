"""The xTR role (ITR and ETR) with a fake clock: every point of issue 4 bullet 3 is a test."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from dissectors.inet import PROTO_UDP, IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.afi import IPv4, NoAddress, address
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action, EidRecord, Locator
from lisptrace.stack.adapter import UdpAdapter
from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, Output, Send
from lisptrace.stack.xtr import ItrEngine, Xtr, XtrConfig

ip = ipaddress.ip_address

RLOC = "192.0.2.1"  # our RLOC (documentation ranges: not RFC 1918)
MR = "198.51.100.1"
MS = "198.51.100.2"
PETR = "198.51.100.9"
PEER_OLD = "203.0.113.1"
PEER_NEW = "203.0.113.2"
OUR_EID = "10.1.0.5"
PEER_EID = "10.2.0.7"
SECRET = b"s3cret"


# -- helpers ---------------------------------------------------------------------------------


def xtr(**changes: object) -> Xtr:
    data: dict[str, object] = {
        "rlocs": [RLOC],
        "eid-prefixes": ["10.1.0.0/16"],
        "map-servers": [MS],
        "map-resolvers": [MR],
        "secret": SECRET.decode(),
        "petr": PETR,
        "seed": 7,
    }
    data.update(changes)
    return Xtr(XtrConfig.from_dict(data))


def packet(
    src: str = OUR_EID, dst: str = PEER_EID, sport: int = 5000, body: bytes = b"hi"
) -> bytes:
    header = Ipv4Header(src=ip(src), dst=ip(dst), protocol=PROTO_UDP)  # type: ignore[arg-type]
    return IpPacket(header, UdpDatagram(sport, 7, body, checksum=None)).build()


def sends(out: Sequence[Output]) -> list[Datagram]:
    return [o.datagram for o in out if isinstance(o, Send)]


def kinds(out: Sequence[Output]) -> list[str]:
    return [o.kind for o in out if isinstance(o, Decision)]


def delivered(out: Sequence[Output]) -> list[bytes]:
    return [o.packet for o in out if isinstance(o, Deliver)]


def request_of(dgram: Datagram) -> tuple[MapRequest, EncapsulatedControlMessage]:
    ecm = parse_control(dgram.payload)
    assert isinstance(ecm, EncapsulatedControlMessage)
    req = ecm.message
    assert isinstance(req, MapRequest)
    return req, ecm


def reply(
    nonce: int,
    prefix: str = "10.2.0.0/16",
    locators: Sequence[Locator] = (Locator(address(PEER_OLD)),),
    ttl: int = 10,
    action: int = Action.NO_ACTION,
    iid: int | None = None,
) -> Datagram:
    net = ipaddress.ip_network(prefix)
    eid = IPv4(net.network_address)  # type: ignore[arg-type]
    rec = EidRecord(
        eid if iid is None else InstanceId(iid=iid, address=eid),
        net.prefixlen,
        tuple(locators),
        ttl=ttl,
        action=action,
        authoritative=True,
    )
    msg = MapReply(nonce=nonce, records=(rec,))
    return Datagram(msg.build(), Endpoint.of(PEER_OLD, 4342), Endpoint.of(RLOC, 4342))


def data_to(dgram: Datagram) -> tuple[str, bytes, DataHeader]:
    """(outer destination, inner packet, LISP header) of an encapsulated datagram."""
    assert dgram.dst.port == 4341
    return str(dgram.dst.address), dgram.payload[8:], DataHeader.parse(dgram.payload[:8])


@dataclass
class Clock:
    """A fake clock driving a role's timers: ``run(until)`` ticks at every deadline."""

    role: Xtr
    now: float = 0.0
    log: list[Output] = field(default_factory=list)

    def run(self, until: float) -> list[Output]:
        out: list[Output] = []
        while (deadline := self.role.next_deadline()) is not None and deadline <= until:
            self.now = max(self.now, deadline)
            out.extend(self.role.tick(self.now))
        self.now = until
        self.log.extend(out)
        return out


def resolved(role: Xtr, now: float = 0.0, **reply_args: object) -> list[Output]:
    """Send one packet to PEER_EID and answer its Map-Request; outputs of the reply."""
    out = role.send_packet(now, packet())
    (dgram,) = sends(out)
    req, _ = request_of(dgram)
    return role.receive(now + 0.1, reply(req.nonce, **reply_args))  # type: ignore[arg-type]


# -- ITR: miss, Map-Request, retries, queue --------------------------------------------------


def test_miss_sends_an_ecm_map_request_to_the_map_resolver() -> None:
    role = xtr()
    out = role.send_packet(0.0, packet())
    (dgram,) = sends(out)
    assert dgram.src == Endpoint.of(RLOC, 4342) and dgram.dst == Endpoint.of(MR, 4342)
    req, ecm = request_of(dgram)
    assert str(ecm.inner.src) == RLOC and str(ecm.inner.dst) == PEER_EID
    assert ecm.udp is not None and ecm.udp.dst_port == 4342
    assert [str(r) for r in req.itr_rlocs] == [RLOC]
    assert req.records == (RequestRecord(address(PEER_EID), 32),)
    assert str(req.source_eid) == OUR_EID
    assert not req.pitr and not req.smr and not req.smr_invoked and req.nonce != 0
    assert kinds(out) == ["map-request-sent"]


def test_retries_back_off_exponentially_then_give_up_and_drop_the_queue() -> None:
    role = xtr(**{"map-resolvers": [MR, "198.51.100.3"], "map-servers": []})
    clock = Clock(role)
    first = role.send_packet(0.0, packet())
    role.send_packet(0.2, packet(body=b"second"))
    times = [0.0]
    resolvers = [str(sends(first)[0].dst.address)]
    nonces = {request_of(sends(first)[0])[0].nonce}
    while clock.now < 30:
        out = clock.run(clock.now + 0.25)
        for dgram in sends(out):
            times.append(clock.now)
            resolvers.append(str(dgram.dst.address))
            nonces.add(request_of(dgram)[0].nonce)
    # 1 s, then 2 s, 4 s (request_retries = 3): at most 1 + 3 requests, one nonce
    assert times == [0.0, 1.0, 3.0, 7.0]
    assert resolvers == [MR, "198.51.100.3", MR, "198.51.100.3"]
    assert len(nonces) == 1
    assert "map-request-failed" in kinds(clock.log)
    assert role.itr.counters.dropped == 2 and role.itr.counters.requests_failed == 1
    assert role.next_deadline() is None


def test_one_request_per_second_per_eid_and_packets_queue_while_pending() -> None:
    role = xtr(**{"queue-limit": 2, "request-retries": 0, "map-servers": []})
    out = role.send_packet(0.0, packet())
    assert len(sends(out)) == 1
    out = role.send_packet(0.1, packet(body=b"2"))
    assert sends(out) == []  # pending: queued, no second request
    out = role.send_packet(0.2, packet(body=b"3"))
    assert kinds(out) == ["queue-full"]  # bounded queue: the third packet is dropped
    clock = Clock(role, now=0.2)
    assert "map-request-failed" in kinds(clock.run(1.0))
    # a new miss right after the failure waits for the rate limit (1 s after the last request)
    role2 = role
    out = role2.send_packet(0.5, packet())
    assert sends(out) == []
    assert role2.next_deadline() == 1.0
    assert len(sends(Clock(role2, now=0.5).run(1.0))) == 1


def test_thirty_second_pause_after_ten_unanswered_requests() -> None:
    role = xtr(**{"request-retries": 4, "map-servers": []})  # 5 requests per attempt
    clock = Clock(role)
    times: list[float] = []
    now = 0.0
    while now < 80:
        times += [now] * len(sends(role.send_packet(now, packet())))
        for _ in range(80):
            clock.now = now
            out = clock.run(now + 0.5)
            now = clock.now
            times += [now] * len(sends(out))
            if not role.itr.pending:
                break
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 1.0 for g in gaps)
    assert max(gaps) >= 30.0  # the pause after ten unanswered requests


def test_reply_installs_the_mapping_and_flushes_the_queue_in_order() -> None:
    role = xtr()
    (dgram,) = sends(role.send_packet(0.0, packet(body=b"one")))
    role.send_packet(0.1, packet(body=b"two"))
    req, _ = request_of(dgram)
    out = role.receive(0.2, reply(req.nonce))
    assert kinds(out)[0] == "cache-installed"
    flushed = [data_to(d) for d in sends(out)]
    assert [f[0] for f in flushed] == [PEER_OLD, PEER_OLD]
    assert [f[1] for f in flushed] == [packet(body=b"one"), packet(body=b"two")]
    assert all(h.nonce_present and h.instance_id is None for _, _, h in flushed)
    # cached: the next packet goes straight out, no Map-Request
    (dgram,) = sends(role.send_packet(1.0, packet(body=b"three")))
    assert data_to(dgram)[:2] == (PEER_OLD, packet(body=b"three"))
    assert dgram.src == Endpoint.of(RLOC, 4341)


def test_unsolicited_reply_is_ignored() -> None:
    role = xtr()
    req, _ = request_of(sends(role.send_packet(0.0, packet()))[0])
    out = role.receive(0.1, reply(req.nonce ^ 1))
    assert kinds(out) == ["reply-unsolicited"] and sends(out) == []
    assert len(role.itr.cache) == 0 and role.itr.pending


def test_ttl_expiry_triggers_a_new_request() -> None:
    role = xtr()
    resolved(role, ttl=1)
    assert data_to(sends(role.send_packet(59.0, packet()))[0])[0] == PEER_OLD
    out = role.send_packet(60.2, packet())
    (dgram,) = sends(out)
    assert dgram.dst == Endpoint.of(MR, 4342)


def test_ttl_zero_mapping_is_used_for_the_queue_but_not_cached() -> None:
    role = xtr()
    out = resolved(role, ttl=0)
    assert kinds(out)[0] == "mapping-not-cached"
    assert data_to(sends(out)[0])[0] == PEER_OLD
    assert len(role.itr.cache) == 0


def test_locators_by_priority_and_weight() -> None:
    role = xtr()
    locs = (
        Locator(address("203.0.113.10"), priority=255, weight=100),
        Locator(address("203.0.113.11"), priority=1, weight=50),
        Locator(address("203.0.113.12"), priority=1, weight=50),
        Locator(address("203.0.113.13"), priority=2, weight=100),
    )
    resolved(role, locators=locs)
    targets = [
        data_to(sends(role.send_packet(1.0, packet(sport=1000 + i)))[0])[0] for i in range(400)
    ]
    assert set(targets) == {"203.0.113.11", "203.0.113.12"}
    assert 150 < targets.count("203.0.113.11") < 250
    # per flow, always the same locator
    again = [
        data_to(sends(role.send_packet(2.0, packet(sport=1000 + i)))[0])[0] for i in range(400)
    ]
    assert again == targets


def test_only_unusable_locators_drop() -> None:
    role = xtr()
    out = resolved(role, locators=(Locator(address(PEER_OLD), priority=255),))
    assert sends(out) == [] and "no-usable-locator" in kinds(out)


def test_negative_reply_natively_forwards() -> None:
    role = xtr()
    out = resolved(role, locators=(), action=Action.NATIVELY_FORWARD)
    assert kinds(out)[0] == "negative-cache-installed"
    assert delivered(out) == [packet()] and "native-forward" in kinds(out)
    out = role.send_packet(1.0, packet())
    assert delivered(out) == [packet()] and sends(out) == []


def test_negative_reply_goes_to_the_petr_with_use_petr() -> None:
    role = xtr(**{"use-petr": True})
    out = resolved(role, locators=(), action=Action.NATIVELY_FORWARD)
    assert delivered(out) == []
    assert data_to(sends(out)[0])[:2] == (PETR, packet())


def test_negative_drop_action_drops() -> None:
    role = xtr(**{"use-petr": True})
    out = resolved(role, locators=(), action=Action.DROP_POLICY_DENIED)
    assert sends(out) == [] and delivered(out) == [] and "drop" in kinds(out)


def test_instance_id_in_requests_and_data() -> None:
    role = xtr(**{"instance-id": 1000, "eid-prefixes": ["[1000]10.1.0.0/16"]})
    (dgram,) = sends(role.send_packet(0.0, packet()))
    req, _ = request_of(dgram)
    assert str(req.records[0].eid) == f"[1000]{PEER_EID}"
    out = role.receive(0.1, reply(req.nonce, iid=1000))
    (_, inner, header) = data_to(sends(out)[0])
    assert header.instance_id == 1000 and inner == packet()


# -- ITR: SMR ------------------------------------------------------------------------------


def smr(nonce: int = 0x5151, source: str = PEER_EID, src_rloc: str = PEER_NEW) -> Datagram:
    msg = MapRequest(
        nonce=nonce,
        source_eid=address(source),
        itr_rlocs=(address(src_rloc),),
        records=(RequestRecord(address(OUR_EID), 32),),
        smr=True,
    )
    return Datagram(msg.build(), Endpoint.of(src_rloc, 4342), Endpoint.of(RLOC, 4342))


def test_smr_sends_an_smr_invoked_request_via_the_map_resolver_keeping_the_old_mapping() -> None:
    role = xtr()
    resolved(role)
    out = role.receive(5.0, smr())
    (dgram,) = sends(out)
    assert dgram.dst == Endpoint.of(MR, 4342)  # the mapping system, not the SMR's source
    req, ecm = request_of(dgram)
    assert req.smr_invoked and not req.smr and req.nonce != 0x5151
    assert req.records == (RequestRecord(address(PEER_EID), 32),)
    assert str(ecm.inner.dst) == PEER_EID
    assert "smr-invoked-request" in kinds(out) and not delivered(out)
    # meanwhile the old mapping stays in use
    assert data_to(sends(role.send_packet(5.5, packet()))[0])[0] == PEER_OLD
    # a second SMR while the request is outstanding does not send another one
    assert sends(role.receive(5.6, smr(nonce=0x5252))) == []
    # the answer replaces the mapping
    role.receive(6.0, reply(req.nonce, locators=(Locator(address(PEER_NEW)),)))
    assert data_to(sends(role.send_packet(6.5, packet()))[0])[0] == PEER_NEW


def test_smr_for_an_eid_not_in_the_cache_is_ignored() -> None:
    role = xtr()
    out = role.receive(0.0, smr())
    assert sends(out) == [] and "smr-ignored" in kinds(out)


def test_fault_ignore_smr_changes_only_the_smr_reaction() -> None:
    normal, faulty = xtr(), xtr(faults=["ignore-smr"])
    for role in (normal, faulty):
        resolved(role)
    # the same SMR: the normal xTR asks the mapping system, the faulty one does nothing
    assert len(sends(normal.receive(5.0, smr()))) == 1
    out = faulty.receive(5.0, smr())
    assert sends(out) == [] and kinds(out) == ["smr-received", "smr-ignored"]
    # everything else is identical: data, registrations, answers
    for role in (normal, faulty):
        role.itr.pending.clear()
    data = [data_to(sends(r.send_packet(6.0, packet()))[0])[:2] for r in (normal, faulty)]
    assert data[0] == data[1] == (PEER_OLD, packet())
    regs = [parse_control(sends(r.tick(0.0))[0].payload) for r in (normal, faulty)]
    assert regs[0].records == regs[1].records  # type: ignore[union-attr]
    assert sends(normal.receive(7.0, forwarded_request())) == sends(
        faulty.receive(7.0, forwarded_request())
    )


# -- ETR: Map-Requests, registration, decapsulation -----------------------------------------


def forwarded_request(
    eid: str = OUR_EID, itr: str = PEER_OLD, sport: int = 61000, dont_reply: bool = False
) -> Datagram:
    """A Map-Request the Map-Server forwards to us in an ECM (inner UDP from the ITR)."""
    req = MapRequest(
        nonce=0xABCDEF,
        source_eid=address(PEER_EID),
        itr_rlocs=(address(itr),),
        records=(RequestRecord(address(eid), 32),),
        dont_map_reply=dont_reply,
    )
    inner = IpPacket(
        Ipv4Header(src=ip(itr), dst=ip(eid)),  # type: ignore[arg-type]
        UdpDatagram(sport, 4342, req, checksum=None),
    )
    ecm = EncapsulatedControlMessage(inner=inner, to_etr=True)
    return Datagram(ecm.build(), Endpoint.of(MS, 4342), Endpoint.of(RLOC, 4342))


def test_etr_answers_forwarded_requests_authoritatively_to_the_itr_rloc() -> None:
    role = xtr(rlocs=[{"address": RLOC, "priority": 1, "weight": 100}])
    out = role.receive(0.0, forwarded_request())
    (dgram,) = sends(out)
    assert dgram.src == Endpoint.of(RLOC, 4342) and dgram.dst == Endpoint.of(PEER_OLD, 61000)
    msg = parse_control(dgram.payload)
    assert isinstance(msg, MapReply) and msg.nonce == 0xABCDEF and not msg.probe
    (rec,) = msg.records
    assert rec.authoritative and rec.eid_prefix == "10.1.0.0/16" and rec.ttl == 1440
    assert [(str(loc.address), loc.priority, loc.local) for loc in rec.locators] == [
        (RLOC, 1, True)
    ]


def test_etr_answers_rloc_probes_natively_with_the_probe_bits() -> None:
    role = xtr()
    probe = MapRequest(
        nonce=0x77,
        itr_rlocs=(address(PEER_OLD),),
        records=(RequestRecord(address(OUR_EID), 32),),
        probe=True,
    )
    out = role.receive(
        0.0, Datagram(probe.build(), Endpoint.of(PEER_OLD, 50000), Endpoint.of(RLOC, 4342))
    )
    (dgram,) = sends(out)
    assert dgram.dst == Endpoint.of(PEER_OLD, 50000)
    msg = parse_control(dgram.payload)
    assert isinstance(msg, MapReply) and msg.probe and msg.nonce == 0x77
    assert msg.records[0].locators[0].probed


def test_etr_does_not_answer_foreign_eids_or_d_bit_requests() -> None:
    role = xtr()
    out = role.receive(0.0, forwarded_request(eid="10.9.0.1"))
    assert sends(out) == [] and kinds(out) == ["request-not-ours"]
    out = role.receive(0.0, forwarded_request(dont_reply=True))
    assert sends(out) == []


def test_registers_periodically_signed_with_want_map_notify() -> None:
    role = xtr(**{"map-servers": [MS, "198.51.100.4"], "algorithm": 2})
    clock = Clock(role)
    out = clock.run(0.0)
    regs = sends(out)
    assert [str(d.dst.address) for d in regs] == [MS, "198.51.100.4"]
    for dgram in regs:
        assert dgram.dst.port == 4342 and dgram.src == Endpoint.of(RLOC, 4342)
        msg = parse_control(dgram.payload)
        assert isinstance(msg, MapRegister)
        assert msg.verify(SECRET) is True and msg.algorithm_id == 2
        assert msg.want_map_notify and not msg.proxy_map_reply
        (rec,) = msg.records
        assert rec.eid_prefix == "10.1.0.0/16" and [str(x.address) for x in rec.locators] == [RLOC]
    assert role.next_deadline() == 60.0
    assert sends(clock.run(59.9)) == []
    assert len(sends(clock.run(60.0))) == 2
    assert len(sends(clock.run(180.0))) == 4


def test_map_notify_is_checked() -> None:
    role = xtr()
    (dgram, _) = sends(role.tick(0.0))[:1] * 2
    reg = parse_control(dgram.payload)
    assert isinstance(reg, MapRegister)
    good = MapNotify(nonce=reg.nonce, key_id=reg.key_id, records=reg.records).sign(SECRET)
    src, dst = Endpoint.of(MS, 4342), Endpoint.of(RLOC, 4342)
    assert kinds(role.receive(1.0, Datagram(good.build(), src, dst))) == ["notify-received"]
    bad = MapNotify(nonce=reg.nonce, key_id=reg.key_id, records=reg.records).sign(b"other")
    assert kinds(role.receive(1.0, Datagram(bad.build(), src, dst))) == ["notify-rejected"]


def test_decapsulates_data_for_its_eids_only() -> None:
    role = xtr()
    inner = packet(src=PEER_EID, dst=OUR_EID, body=b"payload")
    header = DataHeader.make(nonce=0x123456).build()
    src, dst = Endpoint.of(PEER_OLD, 4341), Endpoint.of(RLOC, 4341)
    assert role.receive(0.0, Datagram(header + inner, src, dst)) == [Deliver(inner)]
    foreign = packet(src=PEER_EID, dst="10.9.0.1")
    out = role.receive(0.0, Datagram(header + foreign, src, dst))
    assert delivered(out) == [] and kinds(out) == ["decap-refused"]


def test_real_payloads_in_real_payloads_out_between_two_xtrs() -> None:
    a = xtr()
    b = Xtr(
        XtrConfig.from_dict(
            {"rlocs": [PEER_OLD], "eid-prefixes": ["10.2.0.0/16"], "map-resolvers": [MR]}
        )
    )
    resolved(a)
    payloads = [bytes(range(i % 256)) * 3 for i in range(1, 40)]
    for i, body in enumerate(payloads):
        pkt = packet(sport=2000 + i, body=body)
        (dgram,) = sends(a.send_packet(1.0, pkt))
        assert b.receive(1.0, dgram) == [Deliver(pkt)]


def test_local_destinations_are_delivered_without_encapsulation() -> None:
    role = xtr()
    pkt = packet(dst="10.1.9.9")
    assert role.send_packet(0.0, pkt) == [Deliver(pkt)]


# -- private RLOCs and the private-rloc fault ------------------------------------------------


def registered_locators(role: Xtr) -> list[tuple[str, int]]:
    msg = parse_control(sends(role.tick(0.0))[0].payload)
    assert isinstance(msg, MapRegister)
    return [(str(loc.address), loc.priority) for loc in msg.records[0].locators]


def registered_set(role: Xtr) -> list[tuple[str, int, int]]:
    msg = parse_control(sends(role.tick(0.0))[0].payload)
    assert isinstance(msg, MapRegister)
    return [(str(loc.address), loc.priority, loc.weight) for loc in msg.records[0].locators]


def test_private_rlocs_are_withheld_unless_allowed() -> None:
    role = xtr(rlocs=[RLOC, "192.168.1.2"])
    assert registered_locators(role) == [(RLOC, 1)]
    assert "private-rloc-withheld" in kinds(xtr(rlocs=[RLOC, "192.168.1.2"]).tick(0.0))
    allowed = xtr(rlocs=[RLOC, "192.168.1.2"], **{"allow-private-rlocs": True})
    assert registered_locators(allowed) == [(RLOC, 1), ("192.168.1.2", 1)]


def test_fault_private_rloc_advertises_an_rfc1918_rloc_and_nothing_else_changes() -> None:
    normal, faulty = xtr(), xtr(faults=["private-rloc"])
    assert registered_locators(normal) == [(RLOC, 1)]
    # a usable locator (the public RLOC's priority and weight, not 255): MN-NO-PRIVATE-RLOC
    # is broken even for an audit that ignores unusable locators
    assert registered_set(faulty) == [(RLOC, 1, 100), ("10.255.0.1", 1, 100)]
    # its Map-Replies carry the same locator set as its registrations
    msg = parse_control(sends(faulty.receive(0.0, forwarded_request()))[0].payload)
    assert isinstance(msg, MapReply)
    assert [(str(x.address), x.priority, x.weight) for x in msg.records[0].locators] == [
        (RLOC, 1, 100),
        ("10.255.0.1", 1, 100),
    ]
    assert all(x.priority != 255 for x in msg.records[0].locators)
    # it follows the best configured RLOC's priority and weight
    other = xtr(
        rlocs=[
            {"address": "192.0.2.7", "priority": 5, "weight": 30},
            {"address": RLOC, "priority": 2, "weight": 40},
        ],
        faults=["private-rloc"],
    )
    assert registered_set(other)[-1] == ("10.255.0.1", 2, 40)
    # data path and ITR behaviour unchanged
    for role in (normal, faulty):
        resolved(role, now=1.0)
    assert sends(normal.send_packet(2.0, packet())) == sends(faulty.send_packet(2.0, packet()))


# -- configuration and the sans-I/O contract --------------------------------------------------


def test_config_from_dict_converts_and_checks() -> None:
    cfg = XtrConfig.from_dict(
        {
            "name": "xtr-a",
            "rlocs": ["192.0.2.1", {"address": "2001:db8::1", "priority": 2, "weight": 50}],
            "eid-prefixes": ["10.1.0.0/16", "2001:db8:1::/48"],
            "map-servers": [MS],
            "secret-hex": "736563",
            "key-id": 1,
            "register-interval": 30,
            "faults": ["ignore-smr"],
        }
    )
    assert cfg.rlocs[1].address == ip("2001:db8::1") and cfg.rlocs[1].weight == 50
    assert cfg.secret == b"sec" and cfg.raw_key_id == 0x0101 and cfg.register_interval == 30.0
    assert "sec" not in repr(cfg)
    with pytest.raises(ValueError, match="unknown key"):
        XtrConfig.from_dict({"rloc": [RLOC]})
    with pytest.raises(ValueError, match="unknown faults"):
        XtrConfig.from_dict({"faults": ["no-smr"]})
    with pytest.raises(ValueError, match="instance"):
        XtrConfig.from_dict({"eid-prefixes": ["[5]10.0.0.0/8"]})
    with pytest.raises(ValueError, match="expected bool"):
        XtrConfig.from_dict({"use-petr": "yes"})


def test_binds_control_and_data_ports_and_shares_the_itr_engine() -> None:
    role = xtr()
    assert role.bind() == [Endpoint.of(RLOC, 4342), Endpoint.of(RLOC, 4341)]
    assert isinstance(role.itr, ItrEngine)
    assert role.next_deadline() == 0.0  # first registration due at once


def test_undecodable_input_is_logged_not_raised() -> None:
    role = xtr()
    src, dst = Endpoint.of(PEER_OLD, 4342), Endpoint.of(RLOC, 4342)
    assert kinds(role.receive(0.0, Datagram(b"\x10", src, dst))) == ["undecodable"]
    assert kinds(role.send_packet(0.0, b"\x00garbage")) == ["packet-undecodable"]
    dst = Endpoint.of(RLOC, 4341)
    assert kinds(role.receive(0.0, Datagram(b"\x80\x00", src, dst))) == ["undecodable"]


def test_requests_for_ipv6_eids_from_an_ipv4_only_xtr() -> None:
    role = xtr()
    header = Ipv6Header(src=ip("2001:db8:1::1"), dst=ip("2001:db8:2::1"))  # type: ignore[arg-type]
    pkt = IpPacket(header, UdpDatagram(1, 2, b"x", checksum=None)).build()
    (dgram,) = sends(role.send_packet(0.0, pkt))
    req, ecm = request_of(dgram)
    assert str(ecm.inner.dst) == "2001:db8:2::1" and str(ecm.inner.src) == "2001:db8:1::1"
    assert req.source_eid != NoAddress()


# -- on real sockets ------------------------------------------------------------------------


def test_two_xtrs_resolve_and_carry_real_payloads_over_loopback_udp() -> None:
    """ITR A asks ETR B directly (B stands in for the mapping system: it answers the ECM'd
    Map-Request itself), then carries packets to B, which delivers them unchanged."""
    a_rloc, b_rloc = "127.77.0.1", "127.77.0.2"
    a = Xtr(
        XtrConfig.from_dict(
            {"rlocs": [a_rloc], "eid-prefixes": ["10.1.0.0/16"], "map-resolvers": [b_rloc]}
        )
    )
    b = Xtr(XtrConfig.from_dict({"rlocs": [b_rloc], "eid-prefixes": ["10.2.0.0/16"]}))
    payloads = [packet(sport=3000 + i, body=b"payload %d" % i) for i in range(5)]

    async def scenario() -> tuple[list[bytes], list[Decision]]:
        got: list[bytes] = []
        log: list[Decision] = []
        adapters = [UdpAdapter(a, log=log.append), UdpAdapter(b, deliver=got.append)]
        try:
            for adapter in adapters:
                await adapter.start()
        except OSError as exc:  # pragma: no cover - the LISP ports are taken on this host
            for adapter in adapters:
                adapter.close()
            pytest.skip(f"cannot bind the LISP ports on loopback: {exc}")
        for pkt in payloads:
            adapters[0].inject(a.send_packet(adapters[0].now(), pkt))
        for _ in range(300):
            if len(got) == len(payloads):
                break
            await asyncio.sleep(0.01)
        for adapter in adapters:
            adapter.close()
        return got, log

    got, log = asyncio.run(scenario())
    assert got == payloads
    assert [d.kind for d in log] == ["map-request-sent", "cache-installed"]
