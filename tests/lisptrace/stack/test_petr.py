"""PETR (decapsulation only from registered RLOCs) and PITR (the shared ITR engine, p bit)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from dissectors.inet import PROTO_UDP, IpPacket, Ipv4Header, UdpDatagram
from dissectors.lisp.afi import IPv4, NoAddress, address
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action, EidRecord, Locator
from lisptrace.stack.petr import Petr, PetrConfig, Pitr, PitrConfig, RegistrationView
from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, IPAddress, Output, Send
from lisptrace.stack.xtr import ItrEngine

ip = ipaddress.ip_address

PETR_RLOC = "198.51.100.9"
MN_RLOC = "203.0.113.5"
OTHER_RLOC = "203.0.113.66"
MN_EID = "10.1.0.5"
HOST = "192.0.2.80"  # a non-LISP host
MR = "198.51.100.1"


@dataclass
class FakeRegistrations:
    """A registration table: EID-prefix -> (RLOCs, valid until)."""

    table: dict[str, tuple[set[IPAddress], float]] = field(default_factory=dict)

    def rlocs_for(self, eid: IPAddress, now: float) -> set[IPAddress] | None:
        for prefix, (rlocs, until) in self.table.items():
            if eid in ipaddress.ip_network(prefix):
                return rlocs if now < until else set()
        return None


def packet(src: str = MN_EID, dst: str = HOST, body: bytes = b"data") -> bytes:
    header = Ipv4Header(src=ip(src), dst=ip(dst), protocol=PROTO_UDP)  # type: ignore[arg-type]
    return IpPacket(header, UdpDatagram(4000, 80, body, checksum=None)).build()


def encapsulated(outer_src: str, inner: bytes) -> Datagram:
    payload = DataHeader.make(nonce=0xABCDE).build() + inner
    return Datagram(payload, Endpoint.of(outer_src, 4341), Endpoint.of(PETR_RLOC, 4341))


def kinds(out: list[Output]) -> list[str]:
    return [o.kind for o in out if isinstance(o, Decision)]


def petr(*faults: str) -> tuple[Petr, FakeRegistrations]:
    regs = FakeRegistrations({"10.1.0.0/16": ({ip(MN_RLOC)}, 180.0)})
    config = PetrConfig.from_dict({"rlocs": [PETR_RLOC], "faults": list(faults)})
    role = Petr(config, regs)
    assert isinstance(regs, RegistrationView)  # the fake keeps the Protocol
    return role, regs


def test_fake_registrations_satisfy_the_protocol() -> None:
    assert isinstance(FakeRegistrations(), RegistrationView)


def test_petr_decapsulates_from_a_registered_rloc() -> None:
    role, _ = petr()
    assert role.bind() == [Endpoint.of(PETR_RLOC, 4341)]
    assert role.receive(10.0, encapsulated(MN_RLOC, packet())) == [Deliver(packet())]
    assert role.counters.decapsulated == 1


def test_petr_refuses_an_unregistered_rloc_counts_and_logs() -> None:
    role, _ = petr()
    out = role.receive(10.0, encapsulated(OTHER_RLOC, packet()))
    assert not [o for o in out if isinstance(o, Deliver)]
    (decision,) = out
    assert isinstance(decision, Decision) and decision.kind == "decap-refused"
    assert decision.fields == {"outer_src": OTHER_RLOC, "eid": MN_EID}
    assert role.counters.decap_refused == 1


def test_petr_refuses_eids_in_no_registered_prefix() -> None:
    role, _ = petr()
    out = role.receive(10.0, encapsulated(MN_RLOC, packet(src="10.9.0.1")))
    assert kinds(out) == ["decap-refused"] and "no registered" in out[0].detail  # type: ignore[union-attr]


def test_petr_follows_the_registration_table_over_time() -> None:
    role, regs = petr()
    assert role.receive(100.0, encapsulated(MN_RLOC, packet())) == [Deliver(packet())]
    # the registration lapses: refused
    assert kinds(role.receive(200.0, encapsulated(MN_RLOC, packet()))) == ["decap-refused"]
    # the mobile node registers a new RLOC: the old one is refused, the new one accepted
    regs.table["10.1.0.0/16"] = ({ip(OTHER_RLOC)}, 400.0)
    assert kinds(role.receive(210.0, encapsulated(MN_RLOC, packet()))) == ["decap-refused"]
    assert role.receive(210.0, encapsulated(OTHER_RLOC, packet())) == [Deliver(packet())]


def test_fault_petr_decap_any_changes_only_the_admission_check() -> None:
    normal, _ = petr()
    faulty, _ = petr("petr-decap-any")
    out = faulty.receive(10.0, encapsulated(OTHER_RLOC, packet()))
    assert out[0] == Deliver(packet()) and kinds(out) == ["decap-unregistered"]
    assert faulty.counters.decap_unregistered == 1 and faulty.counters.decap_refused == 0
    # registered traffic and garbage are treated exactly as without the fault
    for role in (normal, faulty):
        assert role.receive(10.0, encapsulated(MN_RLOC, packet())) == [Deliver(packet())]
    garbage = Datagram(b"\x80\x00", Endpoint.of(MN_RLOC, 4341), Endpoint.of(PETR_RLOC, 4341))
    assert kinds(normal.receive(0.0, garbage)) == kinds(faulty.receive(0.0, garbage))


def test_petr_config_checks_faults() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        PetrConfig.from_dict({"rlocs": [PETR_RLOC], "faults": ["ignore-smr"]})


# -- PITR -----------------------------------------------------------------------------------


def pitr(*faults: str) -> Pitr:
    return Pitr(
        PitrConfig.from_dict(
            {
                "rlocs": [PETR_RLOC],
                "map-resolvers": [MR],
                "faults": list(faults),
                "seed": 3,
            }
        )
    )


def sends(out: list[Output]) -> list[Datagram]:
    return [o.datagram for o in out if isinstance(o, Send)]


def answer(role: Pitr, now: float, locators: tuple[Locator, ...], action: int = 0) -> list[Output]:
    out = role.send_packet(now, packet(src=HOST, dst=MN_EID))
    (dgram,) = sends(out)
    ecm = parse_control(dgram.payload)
    assert isinstance(ecm, EncapsulatedControlMessage) and isinstance(ecm.message, MapRequest)
    rec = EidRecord(IPv4(ip("10.1.0.0")), 16, locators, ttl=1, action=action)  # type: ignore[arg-type]
    msg = MapReply(nonce=ecm.message.nonce, records=(rec,))
    return role.receive(
        now + 0.1, Datagram(msg.build(), Endpoint.of(MR, 4342), Endpoint.of(PETR_RLOC, 4342))
    )


def test_pitr_resolves_with_the_p_bit_and_encapsulates() -> None:
    role = pitr()
    assert isinstance(role.itr, ItrEngine) and role.itr.pitr
    out = role.send_packet(0.0, packet(src=HOST, dst=MN_EID))
    (dgram,) = sends(out)
    assert dgram.dst == Endpoint.of(MR, 4342)
    ecm = parse_control(dgram.payload)
    assert isinstance(ecm, EncapsulatedControlMessage)
    req = ecm.message
    assert isinstance(req, MapRequest) and req.pitr and not req.smr_invoked
    assert req.source_eid == NoAddress() and req.records == (RequestRecord(address(MN_EID), 32),)
    out = answer(pitr(), 0.0, (Locator(address(MN_RLOC)),))
    (data,) = sends(out)
    assert data.dst == Endpoint.of(MN_RLOC, 4341) and data.src == Endpoint.of(PETR_RLOC, 4341)
    assert data.payload[8:] == packet(src=HOST, dst=MN_EID)


def test_pitr_sends_natively_to_non_lisp_space() -> None:
    out = answer(pitr(), 0.0, (), Action.NATIVELY_FORWARD)
    assert [o for o in out if isinstance(o, Deliver)] == [Deliver(packet(src=HOST, dst=MN_EID))]


def smr_to(role: Pitr, now: float) -> list[Output]:
    msg = MapRequest(
        nonce=9,
        source_eid=address(MN_EID),
        itr_rlocs=(address(OTHER_RLOC),),
        records=(RequestRecord(address(HOST), 32),),
        smr=True,
    )
    return role.receive(
        now, Datagram(msg.build(), Endpoint.of(OTHER_RLOC, 4342), Endpoint.of(PETR_RLOC, 4342))
    )


def test_pitr_answers_smrs_like_an_itr_and_the_ignore_smr_fault_stops_only_that() -> None:
    normal, faulty = pitr(), pitr("ignore-smr")
    for role in (normal, faulty):
        answer(role, 0.0, (Locator(address(MN_RLOC)),))
    (dgram,) = sends(smr_to(normal, 5.0))
    ecm = parse_control(dgram.payload)
    assert isinstance(ecm, EncapsulatedControlMessage) and isinstance(ecm.message, MapRequest)
    assert ecm.message.smr_invoked and ecm.message.pitr and dgram.dst == Endpoint.of(MR, 4342)
    assert sends(smr_to(faulty, 5.0)) == []
    for role in (normal, faulty):
        (data,) = sends(role.send_packet(6.0, packet(src=HOST, dst=MN_EID)))
        assert data.dst == Endpoint.of(MN_RLOC, 4341)


def test_petr_admits_by_the_co_located_map_servers_real_registrations() -> None:
    from lisptrace.stack.config import loads
    from lisptrace.stack.map_server import MapServer
    from tests.lisptrace.stack.messages import record, register

    ms_config = loads(
        '[map-server]\nlisten = ["192.0.2.1:4342"]\n'
        '[[map-server.sites]]\nname = "mn"\neid-prefixes = ["10.1.0.0/16"]\n'
        'accept-more-specifics = true\n[[map-server.sites.keys]]\nsecret = "k"\n'
    ).role("map-server")
    ms = MapServer(ms_config)
    reg = register([record(f"{MN_EID}/32", [MN_RLOC])], b"k")
    ms.receive(0.0, Datagram(reg, Endpoint.of(MN_RLOC, 61000), Endpoint.of("192.0.2.1", 4342)))
    role = Petr(PetrConfig.from_dict({"rlocs": [PETR_RLOC]}), ms)
    assert "decap-refused" not in kinds(role.receive(1.0, encapsulated(MN_RLOC, packet())))
    assert "decap-refused" in kinds(role.receive(1.0, encapsulated("203.0.113.99", packet())))
    # the registration lapses after 3 x 60 s without refresh: then nothing is admitted
    assert "decap-refused" in kinds(role.receive(181.0, encapsulated(MN_RLOC, packet())))
