"""The Map-Resolver with a fake clock (issue 4 point 2), alone and wired to Map-Servers and a
stand-in ITR/ETR through the in-memory transfer helper."""

from __future__ import annotations

from typing import Any

import pytest

from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action
from lisptrace.stack.config import MapResolverConfig, MapServerConfig, loads
from lisptrace.stack.map_resolver import MapResolver
from lisptrace.stack.map_server import MapServer
from lisptrace.stack.role import Datagram, Decision, Endpoint, Output, Send
from tests.lisptrace.stack.messages import ecm, map_request, record, register
from tests.lisptrace.stack.transfer import Host, Network

MR = Endpoint.of("192.0.2.1", 4342)
MS_REMOTE = Endpoint.of("192.0.2.2", 4342)
ITR = Endpoint.of("203.0.113.5", 40000)
MN = Endpoint.of("198.51.100.7", 61001)
KEY = b"mn-site-key"

SITES = """
[[map-server.sites]]
name = "mobile-nodes"
eid-prefixes = ["10.1.0.0/16", "2001:db8:1::/48", "[1000]10.9.0.0/16"]
accept-more-specifics = true

[[map-server.sites.keys]]
secret = "mn-site-key"
"""


def colocated(mr_extra: str = "") -> tuple[MapResolver, MapServer]:
    cfg = loads(
        f'[map-server]\nlisten = ["192.0.2.1:4342"]\n{SITES}\n'
        f'[map-resolver]\nlisten = ["192.0.2.1:4342"]\n{mr_extra}\n'
    )
    ms = MapServer(cfg.role("map-server"))
    return MapResolver(cfg.role("map-resolver"), ms), ms


def remote(mr_extra: str = 'eid-prefixes = ["10.1.0.0/16"]') -> tuple[MapResolver, MapServer]:
    cfg = loads(
        f'[map-server]\nlisten = ["192.0.2.2:4342"]\n{SITES}\n'
        f'[map-resolver]\nlisten = ["192.0.2.1:4342"]\nmap-server = "192.0.2.2"\n{mr_extra}\n'
    )
    return MapResolver(cfg.role("map-resolver")), MapServer(cfg.role("map-server"))


def ask(mr: MapResolver, eid: str, now: float = 1.0, **kw: Any) -> list[Output]:
    addr = eid.split("]")[-1].split("/")[0]
    inner_src = "2001:db8:ff::5" if ":" in addr else str(ITR.address)  # same family as the EID
    payload = ecm(map_request(eid, str(ITR.address), **kw), inner_src, addr).build()
    return mr.receive(now, Datagram(payload, ITR, MR))


def only_reply(out: list[Output]) -> MapReply:
    [send] = [o for o in out if isinstance(o, Send)]
    assert send.datagram.dst == ITR and send.datagram.src == MR
    reply = parse_control(send.datagram.payload)
    assert isinstance(reply, MapReply)
    return reply


def mn_register(eid: str = "10.1.0.5/32", proxy: bool = True, ttl: int = 2) -> Datagram:
    payload = register([record(eid, [str(MN.address)], ttl=ttl)], KEY, proxy=proxy)
    return Datagram(payload, MN, MR)


# -- co-located -----------------------------------------------------------------------------


def test_colocated_resolves_through_the_map_server() -> None:
    mr, ms = colocated()
    ms.receive(0.0, mn_register())
    reply = only_reply(ask(mr, "10.1.0.5/32", nonce=7))
    assert reply.nonce == 7
    [rec] = reply.records
    assert rec.eid_prefix == "10.1.0.5/32" and not rec.authoritative and rec.ttl == 2
    assert mr.counters["resolved"] == 1 and ms.counters["proxy-replies"] == 1


def test_negative_reply_for_non_lisp_space_has_the_covering_prefix() -> None:
    mr, _ = colocated()
    reply = only_reply(ask(mr, "10.2.0.1/32", nonce=9))
    assert reply.nonce == 9
    [rec] = reply.records
    assert rec.negative and not rec.authoritative
    assert rec.action == Action.NATIVELY_FORWARD and rec.ttl == 15
    assert rec.eid_prefix == "10.2.0.0/15"  # the widest block holding no LISP prefix
    reply = only_reply(ask(mr, "2001:db8:2::1/128"))
    assert reply.records[0].eid_prefix == "2001:db8:2::/47"
    reply = only_reply(ask(mr, "[1000]10.8.0.1/32"))
    assert reply.records[0].eid_prefix == "[1000]10.8.0.0/16"
    reply = only_reply(ask(mr, "[77]10.1.0.5/32"))  # nothing configured in instance 77
    assert reply.records[0].eid_prefix == "[77]0.0.0.0/0"


def test_unregistered_lisp_space_gets_send_map_request() -> None:
    mr, ms = colocated()
    ms.receive(0.0, mn_register("10.1.0.5/32"))
    [rec] = only_reply(ask(mr, "10.1.0.6/32")).records
    assert rec.action == Action.SEND_MAP_REQUEST and rec.ttl == 1
    assert rec.eid_prefix == "10.1.0.6/31"
    [rec] = only_reply(ask(mr, "2001:db8:1::9/128")).records
    assert rec.eid_prefix == "2001:db8:1::/48" and rec.action == Action.SEND_MAP_REQUEST


def test_ttl_and_actions_are_configurable() -> None:
    mr, _ = colocated(
        'negative-ttl = 5\nnegative-action = "drop"\n'
        'unregistered-ttl = 0\nunregistered-action = "no-action"'
    )
    [rec] = only_reply(ask(mr, "10.2.0.1/32")).records
    assert (rec.ttl, rec.action) == (5, Action.DROP_NO_REASON)
    [rec] = only_reply(ask(mr, "10.1.0.1/32")).records
    assert (rec.ttl, rec.action) == (0, Action.NO_ACTION)


def test_resolver_eid_prefixes_add_to_lisp_space() -> None:
    mr, _ = colocated('eid-prefixes = ["10.2.0.0/16"]')
    [rec] = only_reply(ask(mr, "10.2.0.1/32")).records
    assert rec.action == Action.SEND_MAP_REQUEST and rec.eid_prefix == "10.2.0.0/16"


def test_expiry_seen_through_the_resolver() -> None:
    mr, ms = colocated()
    ms.receive(0.0, mn_register())
    out = ask(mr, "10.1.0.5/32", now=200.0)
    assert [o.kind for o in out if isinstance(o, Decision)] == [
        "registration-expired",
        "negative-reply",
    ]
    assert only_reply(out).records[0].action == Action.SEND_MAP_REQUEST


def test_non_requests_are_ignored_and_garbage_dropped() -> None:
    mr, _ = colocated()
    out = mr.receive(0.0, Datagram(MapReply(nonce=1).build(), ITR, MR))
    assert [o.kind for o in out if isinstance(o, Decision)] == ["ignored"]
    out = mr.receive(0.0, Datagram(b"\x80", ITR, MR))
    assert [o.kind for o in out if isinstance(o, Decision)] == ["dropped"]
    assert mr.counters["ignored"] == 1 and mr.counters["malformed"] == 1
    assert mr.tick(0.0) == [] and mr.next_deadline() is None and mr.bind() == [MR]


def test_colocated_needs_its_map_server() -> None:
    with pytest.raises(ValueError):
        MapResolver(MapResolverConfig())
    assert MapResolver(MapResolverConfig(), MapServer(MapServerConfig())).map_server is not None


# -- remote Map-Server ----------------------------------------------------------------------


def test_remote_forwards_lisp_space_as_ecm_with_m_bit() -> None:
    mr, _ = remote()
    out = ask(mr, "10.1.0.5/32")
    [send] = [o for o in out if isinstance(o, Send)]
    assert send.datagram.dst == MS_REMOTE and send.datagram.src == MR
    fwd = parse_control(send.datagram.payload)
    assert isinstance(fwd, EncapsulatedControlMessage) and fwd.to_ms and not fwd.to_etr
    assert [o.kind for o in out if isinstance(o, Decision)] == ["request-forwarded"]
    # outside the configured LISP space: answered here
    [rec] = only_reply(ask(mr, "10.2.0.1/32")).records
    assert rec.action == Action.NATIVELY_FORWARD and rec.eid_prefix == "10.2.0.0/15"


def test_remote_without_eid_prefixes_forwards_everything() -> None:
    mr, _ = remote("")
    out = ask(mr, "192.0.2.200/32")
    assert [o.kind for o in out if isinstance(o, Decision)] == ["request-forwarded"]


# -- wired through the in-memory transfer helper --------------------------------------------


def test_itr_mr_ms_proxy_reply_over_the_transfer_helper() -> None:
    mr, ms = remote()
    net = Network()
    net.attach(mr)
    net.attach(ms)
    itr = net.attach(Host("itr", [ITR]))
    mn = net.attach(Host("mn", [MN]), any_port=[MN.address])
    net.send(
        0.0,
        Datagram(
            register([record("10.1.0.5/32", [str(MN.address)])], KEY, proxy=True, want_notify=True),
            MN,
            MS_REMOTE,
        ),
    )
    net.run(0.0)
    assert net.kinds("map-server") == ["register-accepted", "notify-sent"]
    assert len(mn.received) == 1  # the Map-Notify
    payload = ecm(
        map_request("10.1.0.5/32", str(ITR.address), nonce=99), str(ITR.address), "10.1.0.5"
    ).build()
    net.send(1.0, Datagram(payload, ITR, MR))
    net.run(1.0)
    assert net.kinds("map-resolver") == ["request-forwarded"]
    assert net.kinds("map-server")[-1] == "proxy-reply"
    [got] = itr.received
    assert got.src == MS_REMOTE  # the Map-Server answers the ITR directly
    reply = parse_control(got.payload)
    assert isinstance(reply, MapReply) and reply.nonce == 99
    assert str(reply.records[0].locators[0].address) == str(MN.address)
    assert not net.lost
    # after the registration lapses, a tick expires it and the next answer is negative
    net.tick(500.0)
    assert net.kinds("map-server")[-1] == "registration-expired"
    net.send(501.0, Datagram(payload, ITR, MR))
    net.run(501.0)
    reply = parse_control(itr.received[-1].payload)
    assert isinstance(reply, MapReply) and reply.records[0].negative


def test_forwarded_request_reaches_the_etr_over_the_transfer_helper() -> None:
    mr, ms = colocated()
    net = Network()
    net.attach(mr)  # MR and MS share 192.0.2.1:4342; the MR hands requests to the MS
    net.attach(Host("itr", [ITR]))
    etr = net.attach(Host("etr", [Endpoint.of(str(MN.address), 4342)]))
    ms.receive(0.0, mn_register(proxy=False))
    payload = ecm(map_request("10.1.0.5/32", str(ITR.address)), str(ITR.address), "10.1.0.5")
    net.send(1.0, Datagram(payload.build(), ITR, MR))
    net.run(1.0)
    [got] = etr.received
    fwd = parse_control(got.payload)
    assert isinstance(fwd, EncapsulatedControlMessage) and fwd.to_etr
    assert fwd.inner == parse_control(payload.build()).inner  # type: ignore[attr-defined]


def test_transfer_helper_refuses_double_binding_and_stops_loops() -> None:
    net = Network(max_steps=5)
    net.attach(Host("a", [ITR]))
    with pytest.raises(ValueError):
        net.attach(Host("b", [ITR]))

    class Echo(Host):
        def receive(self, now: float, datagram: Datagram) -> list[Output]:
            return [Send(Datagram(datagram.payload, datagram.dst, datagram.src))]

    net.attach(Echo("e1", [MR]))
    net.attach(Echo("e2", [MS_REMOTE]))
    net.send(0.0, Datagram(b"x", MS_REMOTE, MR))
    with pytest.raises(RuntimeError):
        net.run(0.0)
    net.queue.clear()
    net.send(0.0, Datagram(b"y", MR, Endpoint.of("192.0.2.250", 1)))
    net.run(0.0)
    assert net.lost and net.lost[0].payload == b"y"
