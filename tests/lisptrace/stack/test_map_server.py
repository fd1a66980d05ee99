"""The Map-Server role with a fake clock: every bullet of issue 4 point 1 is a test here."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest

from dissectors.lisp.auth import verify
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.map_notify import MapNotify, MapNotifyAck
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action
from lisptrace.stack.config import MapServerConfig, loads
from lisptrace.stack.map_server import LONG_TTL, MapServer
from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import Datagram, Decision, Endpoint, Output, Send
from tests.lisptrace.stack.messages import ecm, map_request, record, register

MS = Endpoint.of("192.0.2.1", 4342)
MN = Endpoint.of("198.51.100.7", 61001)  # the mobile node's RLOC, random source port
ITR = "203.0.113.5"
KEY = b"mn-site-key"
KEY3 = b"key-number-three"
WRONG = b"not-the-key"

TOML = """
[map-server]
listen = ["192.0.2.1:4342"]
{extra}

[[map-server.sites]]
name = "mobile-nodes"
eid-prefixes = ["10.1.0.0/16", "2001:db8:1::/48", "[1000]10.9.0.0/16"]
accept-more-specifics = true
advertise = "{advertise}"

[[map-server.sites.keys]]
secret = "mn-site-key"

[[map-server.sites.keys]]
key-id = 3
secret-hex = "{key3}"

[[map-server.sites]]
name = "static"
eid-prefixes = ["10.2.0.0/24"]

[[map-server.sites.keys]]
secret = "static-key"
algorithms = [2]
"""


def config(extra: str = "", advertise: str = "aggregate") -> MapServerConfig:
    text = TOML.format(extra=extra, advertise=advertise, key3=KEY3.hex())
    cfg: MapServerConfig = loads(text).role("map-server")
    return cfg


def server(*faults: str, extra: str = "", advertise: str = "aggregate") -> MapServer:
    names = ", ".join(f'"{f}"' for f in faults)
    return MapServer(config(f"faults = [{names}]\n{extra}", advertise))


def deliver(ms: MapServer, now: float, payload: bytes, src: Endpoint = MN) -> list[Output]:
    return ms.receive(now, Datagram(payload, src, MS))


def sends(out: list[Output]) -> list[Send]:
    return [o for o in out if isinstance(o, Send)]


def decisions(out: list[Output], kind: str | None = None) -> list[Decision]:
    return [o for o in out if isinstance(o, Decision) and (kind is None or o.kind == kind)]


def mn_register(**kw: Any) -> bytes:
    rec = kw.pop("records", None) or [record("10.1.0.5/32", ["198.51.100.7"], ttl=1)]
    key = kw.pop("key", KEY)
    return register(rec, key, **kw)


def request_ecm(eid: str = "10.1.0.5/32", **kw: Any) -> bytes:
    return ecm(map_request(eid, ITR, **kw), ITR, str(EidPrefix.parse(eid).address)).build()


# -- registration and authentication --------------------------------------------------------

AUTH_VARIANTS = [
    pytest.param(1, 20, KEY, id="6830-key1-sha1-20"),
    pytest.param(1, 12, KEY, id="6830-key1-sha1-12"),
    pytest.param(2, 32, KEY, id="6830-key2-sha256-32"),
    pytest.param(2, 16, KEY, id="6830-key2-sha256-16"),
    pytest.param(0x0001, 20, KEY, id="9301-id0-alg1-20"),
    pytest.param(0x0301, 12, KEY3, id="9301-id3-alg1-12"),
    pytest.param(0x0302, 32, KEY3, id="9301-id3-alg2-32"),
    pytest.param(0x0302, 16, KEY3, id="9301-id3-alg2-16"),
]


@pytest.mark.parametrize(("key_id", "auth_len", "key"), AUTH_VARIANTS)
def test_register_accepted_with_every_key_id_algorithm_and_digest_length(
    key_id: int, auth_len: int, key: bytes
) -> None:
    ms = server()
    out = deliver(ms, 10.0, mn_register(key=key, key_id=key_id, auth_len=auth_len))
    assert [d.kind for d in decisions(out)] == ["register-accepted"]
    reg = ms.lookup("10.1.0.5", now=10.0)
    assert reg is not None and reg.site == "mobile-nodes"
    assert reg.rlocs == (ipaddress.ip_address("198.51.100.7"),)
    assert reg.key_id == key_id and reg.registerer == MN
    assert ms.counters["registers-accepted"] == 1 and not ms.rejected


@pytest.mark.parametrize(("key_id", "auth_len", "key"), AUTH_VARIANTS)
def test_register_with_the_wrong_key_is_rejected_silently_but_counted(
    key_id: int, auth_len: int, key: bytes
) -> None:
    ms = server()
    out = deliver(
        ms, 10.0, mn_register(key=WRONG, key_id=key_id, auth_len=auth_len, want_notify=True)
    )
    assert not sends(out)  # silent: no Map-Notify, nothing else
    [d] = decisions(out)
    assert d.kind == "register-rejected" and d.fields["reason"] == "bad-hmac"
    assert ms.rejected == {"bad-hmac": 1} and ms.registrations() == []


def _rejection(ms: MapServer, payload: bytes) -> str:
    out = deliver(ms, 1.0, payload)
    assert not sends(out)
    [d] = decisions(out)
    assert d.kind in ("register-rejected", "dropped")
    return str(d.fields.get("reason", "malformed"))


def test_every_rejection_reason_is_counted_and_logged() -> None:
    ms = server()
    cases = {
        "unknown-key-id": mn_register(key_id=0x0701),
        "no-auth": _unsigned(),
        "unsupported-algorithm": register([record("10.2.0.0/24")], b"static-key", key_id=1),
        "bad-auth-length": _odd_length(),
        "bad-hmac": mn_register(key=WRONG),
        "no-site": mn_register(records=[record("10.3.0.1/32")]),
        "eid-outside-site": mn_register(records=[record("10.1.0.5/32"), record("10.3.0.1/32")]),
        "more-specific-not-allowed": _static([record("10.2.0.128/25")]),
        "no-records": _no_records(),
    }
    for reason, payload in cases.items():
        assert _rejection(ms, payload) == reason, reason
    assert _rejection(ms, b"\x30\x00") == "malformed"
    assert dict(ms.rejected) == dict.fromkeys(cases, 1)
    assert ms.counters["malformed"] == 1 and ms.registrations() == []
    # the same registrations, properly made, are accepted
    out = deliver(ms, 2.0, _static([record("10.2.0.0/24")]))
    assert decisions(out)[0].kind == "register-accepted"


def _static(records: list[Any]) -> bytes:
    return register(records, b"static-key", key_id=2, auth_len=32)


def _unsigned() -> bytes:
    from dissectors.lisp.map_register import MapRegister

    return MapRegister(records=(record("10.1.0.5/32"),)).build()


def _no_records() -> bytes:
    from dissectors.lisp.map_register import MapRegister

    return MapRegister(key_id=1, auth_data=bytes(20)).sign(KEY).build()


def _odd_length() -> bytes:
    """SHA-1 with a 16-byte digest: neither 12 nor 20."""
    from dissectors.lisp.map_register import MapRegister

    blank = MapRegister(key_id=1, auth_data=bytes(16), records=(record("10.1.0.5/32"),))
    return blank.build()


def test_algorithm_3_is_refused_not_guessed() -> None:
    from dissectors.lisp.map_register import MapRegister

    msg = MapRegister(key_id=0x0003, auth_data=bytes(32), records=(record("10.1.0.5/32"),))
    assert _rejection(server(), msg.build()) == "unsupported-algorithm"


def test_decisions_never_carry_the_key() -> None:
    ms = server()
    out = deliver(ms, 1.0, mn_register(want_notify=True))
    out += deliver(ms, 2.0, mn_register(key=WRONG))
    text = repr(out) + repr(ms.config)
    assert KEY.decode() not in text and KEY3.hex() not in text and "static-key" not in text
    assert "Secret(***)" in repr(ms.config)


def test_more_specifics_and_exact_prefixes() -> None:
    ms = server()
    # exact site prefix always; more-specifics only where allowed
    assert decisions(deliver(ms, 1.0, mn_register(records=[record("10.1.0.0/16")])))[0].kind == (
        "register-accepted"
    )
    assert decisions(deliver(ms, 1.0, mn_register(records=[record("10.1.128.0/17")])))[0].kind == (
        "register-accepted"
    )


def test_ipv6_and_instance_id_eids() -> None:
    ms = server()
    recs = [record("2001:db8:1::5/128", ["2001:db8:ffff::7"]), record("[1000]10.9.0.5/32")]
    assert decisions(deliver(ms, 1.0, mn_register(records=recs)))[0].kind == "register-accepted"
    assert ms.lookup("2001:db8:1::5", now=1.0) is not None
    assert ms.lookup("10.9.0.5", iid=1000, now=1.0) is not None
    assert ms.lookup("10.9.0.5", now=1.0) is None  # instance 0 is another space


# -- Map-Notify -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key_id", "auth_len", "key"), AUTH_VARIANTS)
def test_map_notify_echoes_nonce_and_records_and_is_signed(
    key_id: int, auth_len: int, key: bytes
) -> None:
    ms = server()
    xtr, site = bytes(range(16)), bytes(range(8))
    payload = mn_register(
        key=key,
        key_id=key_id,
        auth_len=auth_len,
        nonce=0xDEADBEEF01020304,
        want_notify=True,
        xtr_id=xtr,
        site_id=site,
    )
    out = deliver(ms, 5.0, payload)
    [send] = sends(out)
    assert send.datagram.src == MS and send.datagram.dst == MN  # back to the source port
    notify = parse_control(send.datagram.payload)
    assert isinstance(notify, MapNotify)
    reg = parse_control(payload)
    assert notify.nonce == 0xDEADBEEF01020304
    assert notify.records == reg.records  # type: ignore[attr-defined]
    assert (notify.xtr_id, notify.site_id) == (xtr, site)
    assert notify.key_id == key_id and notify.auth_len == auth_len
    assert verify(send.datagram.payload, key) is True
    assert verify(send.datagram.payload, WRONG) is False
    assert [d.kind for d in decisions(out)] == ["register-accepted", "notify-sent"]


def test_no_map_notify_without_the_m_bit_and_acks_are_absorbed() -> None:
    ms = server()
    assert not sends(deliver(ms, 1.0, mn_register()))
    ack = MapNotifyAck(nonce=1, key_id=1, auth_data=bytes(20)).sign(KEY).build()
    assert deliver(ms, 2.0, ack) == [] and ms.counters["notify-acks"] == 1


# -- timeouts -------------------------------------------------------------------------------


def test_registration_times_out_after_three_minutes_by_default() -> None:
    ms = server()
    deliver(ms, 100.0, mn_register())
    assert ms.next_deadline() == 280.0
    assert ms.tick(279.9) == [] and ms.lookup("10.1.0.5", now=279.9) is not None
    assert ms.lookup("10.1.0.5", now=280.0) is None  # the read API never shows stale rows
    [d] = ms.tick(280.0)
    assert d.kind == "registration-expired" and d.fields["eid"] == "10.1.0.5/32"  # type: ignore[union-attr]
    assert ms.registrations() == [] and ms.next_deadline() is None


def test_refresh_extends_the_registration() -> None:
    ms = server()
    deliver(ms, 0.0, mn_register())
    deliver(ms, 60.0, mn_register())
    assert ms.tick(180.0) == []  # the first expiry is stale
    assert ms.next_deadline() == 240.0
    assert [d.kind for d in ms.tick(240.0)] == ["registration-expired"]  # type: ignore[union-attr]


def test_configured_timeout_and_t_bit_uses_the_record_ttl() -> None:
    ms = server(extra="registration-timeout = 30")
    deliver(ms, 0.0, mn_register())
    assert ms.next_deadline() == 30.0
    ms = server()
    deliver(ms, 0.0, mn_register(records=[record("10.1.0.5/32", ttl=2)], ttl_as_timeout=True))
    assert ms.next_deadline() == 120.0
    # without the T bit the TTL does not matter
    ms = server()
    deliver(ms, 0.0, mn_register(records=[record("10.1.0.5/32", ttl=10)]))
    assert ms.next_deadline() == 180.0


def test_expired_registrations_are_purged_on_receive_too() -> None:
    ms = server()
    deliver(ms, 0.0, mn_register())
    out = deliver(ms, 500.0, mn_register(records=[record("10.1.0.6/32")]))
    assert [d.kind for d in decisions(out)] == ["registration-expired", "register-accepted"]


# -- several records, xTR-ID ----------------------------------------------------------------


def test_several_records_and_xtr_id_site_id() -> None:
    ms = server()
    xtr, site = b"\x01" * 16, b"\x02" * 8
    recs = [
        record("10.1.0.5/32", ["198.51.100.7", "203.0.113.77"]),
        record("2001:db8:1::5/128", ["198.51.100.7"]),
        record("10.1.7.0/24", ["198.51.100.7"]),
    ]
    payload = register(recs, KEY3, key_id=0x0302, auth_len=32, xtr_id=xtr, site_id=site)
    assert decisions(deliver(ms, 1.0, payload))[0].kind == "register-accepted"
    rows = ms.registrations(now=1.0)
    assert [str(r.prefix) for r in rows] == ["10.1.0.5/32", "10.1.7.0/24", "2001:db8:1::5/128"]
    assert all(r.xtr_id == xtr and r.site_id == site for r in rows)
    assert ms.lookup("10.1.7.9", now=1.0).prefix == EidPrefix.parse("10.1.7.0/24")  # type: ignore[union-attr]


# -- MS-REG-REPLAY (9301 profile) ------------------------------------------------------------

XTR_A, XTR_B, SITE = b"\x0a" * 16, b"\x0b" * 16, b"\x5e" * 8


def replay_register(nonce: int, xtr_id: bytes | None = XTR_A, **kw: Any) -> bytes:
    site_id = kw.pop("site_id", SITE if xtr_id is not None else None)
    return mn_register(nonce=nonce, want_notify=True, xtr_id=xtr_id, site_id=site_id, **kw)


def test_9301_drops_registers_whose_nonce_is_not_above_the_last_accepted() -> None:
    ms = server()
    assert decisions(deliver(ms, 1.0, replay_register(10)))[0].kind == "register-accepted"
    for t, nonce in ((2.0, 10), (3.0, 9)):  # equal, then older: a replay
        out = deliver(ms, t, replay_register(nonce))
        [d] = decisions(out)
        assert d.kind == "register-rejected" and d.fields["reason"] == "replayed-nonce"
        assert d.fields["last_nonce"] == f"0x{10:016x}" and d.fields["xtr_id"] == XTR_A.hex()
        assert sends(out) == []  # dropped: no Map-Notify
    assert ms.rejected["replayed-nonce"] == 2
    assert ms.lookup("10.1.0.5", now=3.0).registered_at == 1.0  # type: ignore[union-attr]
    # a greater nonce is accepted and becomes the new floor
    assert decisions(deliver(ms, 4.0, replay_register(11)))[0].kind == "register-accepted"
    assert ms.last_nonce[(XTR_A, SITE)] == 11
    assert ms.counters["registers-accepted"] == 2


def test_9301_replay_state_is_per_xtr_id_and_site_id_and_only_after_auth() -> None:
    ms = server()
    deliver(ms, 1.0, replay_register(100))
    # another xTR-ID, or the same xTR-ID in another Site-ID: its own nonce space
    assert decisions(deliver(ms, 2.0, replay_register(5, XTR_B)))[0].kind == "register-accepted"
    other_site = replay_register(5, site_id=b"\x01" * 8)
    assert decisions(deliver(ms, 3.0, other_site))[0].kind == "register-accepted"
    # a forged register (bad HMAC) with a huge nonce does not move the floor
    forged = replay_register(2**63, key=WRONG)
    assert decisions(deliver(ms, 4.0, forged))[0].fields["reason"] == "bad-hmac"
    assert decisions(deliver(ms, 5.0, replay_register(101)))[0].kind == "register-accepted"
    # no xTR-ID: nothing to track the nonce of (nonce 0 over and over)
    for t in (6.0, 7.0):
        kind = decisions(deliver(ms, t, replay_register(0, None)))[0].kind
        assert kind == "register-accepted"
    assert set(ms.last_nonce) == {(XTR_A, SITE), (XTR_B, SITE), (XTR_A, b"\x01" * 8)}


def test_6830_profile_checks_no_nonce() -> None:
    ms = server(extra='profile = "6830"')
    for t, nonce in ((1.0, 0), (2.0, 0), (3.0, 7), (4.0, 3)):  # LISPmob: nonce 0; or random
        out = deliver(ms, t, replay_register(nonce))
        assert decisions(out)[0].kind == "register-accepted"
        assert len(sends(out)) == 1  # each one notified
    assert ms.rejected["replayed-nonce"] == 0 and ms.last_nonce == {}


# -- read API for the PETR ------------------------------------------------------------------


def test_read_api_for_the_co_located_petr() -> None:
    ms = server()
    recs = [record("10.1.0.5/32", ["198.51.100.7"], ttl=2)]
    deliver(ms, 0.0, mn_register(proxy=True, records=recs))
    [row] = ms.registrations(now=1.0)
    assert (str(row.prefix), row.proxy_reply, row.ttl, row.expires_at) == (
        "10.1.0.5/32",
        True,
        2,
        180.0,
    )
    assert ms.is_registered_rloc("10.1.0.5", "198.51.100.7", now=1.0)
    assert not ms.is_registered_rloc("10.1.0.5", "198.51.100.8", now=1.0)
    assert not ms.is_registered_rloc("10.1.0.6", "198.51.100.7", now=1.0)
    assert not ms.is_registered_rloc("10.1.0.5", "198.51.100.7", now=180.0)
    assert ms.site_of("10.1.99.1").name == "mobile-nodes"  # type: ignore[union-attr]
    assert ms.site_of("10.200.0.1") is None


# -- Map-Requests: proxy reply, forwarding, negative ----------------------------------------


def _one_reply(out: list[Output]) -> tuple[Send, MapReply]:
    [send] = sends(out)
    reply = parse_control(send.datagram.payload)
    assert isinstance(reply, MapReply)
    return send, reply


def test_proxy_reply_is_non_authoritative_with_the_registered_set_and_ttl() -> None:
    ms = server()
    recs = [record("10.1.0.5/32", ["198.51.100.7", "203.0.113.77"], ttl=2, local=True)]
    deliver(ms, 0.0, mn_register(proxy=True, records=recs))
    out = deliver(ms, 1.0, request_ecm(nonce=42), src=Endpoint.of("192.0.2.99", 4342))
    send, reply = _one_reply(out)
    assert send.datagram.src == MS and send.datagram.dst == Endpoint.of(ITR, 40000)
    assert reply.nonce == 42
    [rec] = reply.records
    assert rec.eid_prefix == "10.1.0.5/32" and rec.ttl == 2 and rec.action == Action.NO_ACTION
    assert rec.authoritative is False
    assert all(not loc.local and not loc.probed for loc in rec.locators)
    assert [str(loc.address) for loc in rec.locators] == ["198.51.100.7", "203.0.113.77"]
    assert decisions(out)[0].kind == "proxy-reply"
    assert ms.counters["proxy-replies"] == 1


def test_request_forwarded_to_the_registered_etr_without_the_p_bit() -> None:
    ms = server()
    deliver(ms, 0.0, mn_register())
    raw = request_ecm()
    out = deliver(ms, 1.0, raw, src=Endpoint.of("192.0.2.99", 4342))
    [send] = sends(out)
    assert send.datagram.dst == Endpoint.of("198.51.100.7", 4342) and send.datagram.src == MS
    fwd = parse_control(send.datagram.payload)
    assert isinstance(fwd, EncapsulatedControlMessage) and fwd.to_etr  # 9301: E bit
    original = parse_control(raw)
    assert fwd.inner == original.inner  # type: ignore[attr-defined]
    assert decisions(out)[0].kind == "request-forwarded"
    # the 6830 profile has no E bit
    ms = server(extra='profile = "6830"')
    deliver(ms, 0.0, mn_register())
    fwd = parse_control(sends(deliver(ms, 1.0, raw))[0].datagram.payload)
    assert isinstance(fwd, EncapsulatedControlMessage) and not fwd.to_etr


def test_negative_reply_when_nothing_is_registered() -> None:
    ms = server()
    _, reply = _one_reply(deliver(ms, 1.0, request_ecm("10.1.0.5/32")))
    [rec] = reply.records
    assert rec.negative and rec.action == Action.SEND_MAP_REQUEST and rec.ttl == 1
    assert rec.eid_prefix == "10.1.0.0/16"  # the whole (empty) aggregate
    _, reply = _one_reply(deliver(ms, 1.0, request_ecm("192.0.2.200/32")))
    [rec] = reply.records
    assert rec.action == Action.NATIVELY_FORWARD and rec.ttl == 15
    assert rec.eid_prefix == "128.0.0.0/1"


# -- the covering aggregate -----------------------------------------------------------------


def test_aggregate_is_advertised_but_replies_carry_the_mobile_nodes_32() -> None:
    ms = server()
    deliver(ms, 0.0, mn_register(proxy=True))
    assert EidPrefix.parse("10.1.0.0/16") in ms.advertised_prefixes(1.0)
    assert EidPrefix.parse("10.1.0.5/32") not in ms.advertised_prefixes(1.0)
    _, reply = _one_reply(deliver(ms, 1.0, request_ecm("10.1.0.5/32")))
    assert reply.records[0].eid_prefix == "10.1.0.5/32"
    # an unregistered neighbour inside the aggregate: the widest hole around it
    _, reply = _one_reply(deliver(ms, 1.0, request_ecm("10.1.0.4/32")))
    [rec] = reply.records
    assert rec.eid_prefix == "10.1.0.4/32"  # 10.1.0.4/31 would hold 10.1.0.5
    assert rec.action == Action.SEND_MAP_REQUEST
    _, reply = _one_reply(deliver(ms, 1.0, request_ecm("10.1.200.1/32")))
    assert reply.records[0].eid_prefix == "10.1.128.0/17"


def test_advertise_registrations_treats_unregistered_site_space_as_non_lisp() -> None:
    ms = server(advertise="registrations")
    deliver(ms, 0.0, mn_register(proxy=True))
    adv = ms.advertised_prefixes(1.0)
    assert EidPrefix.parse("10.1.0.5/32") in adv and EidPrefix.parse("10.1.0.0/16") not in adv
    _, reply = _one_reply(deliver(ms, 1.0, request_ecm("10.1.200.1/32")))
    [rec] = reply.records
    assert rec.action == Action.NATIVELY_FORWARD and rec.eid_prefix == "10.1.128.0/17"


# -- other traffic --------------------------------------------------------------------------


def test_other_messages_are_ignored_and_counted() -> None:
    ms = server()
    reply = MapReply(nonce=1).build()
    assert decisions(deliver(ms, 0.0, reply))[0].kind == "ignored"
    assert ms.counters["ignored"] == 1
    assert ms.bind() == [MS] and ms.name == "map-server"


# -- fault switches: each changes exactly its target ----------------------------------------


def _scenario(ms: MapServer) -> dict[str, list[bytes]]:
    """Everything a Map-Server emits over one fixed script, per step."""
    steps = {
        "good-register": mn_register(proxy=True, want_notify=True, records=[record("10.1.0.5/32")]),
        "bad-register": mn_register(key=WRONG, want_notify=True, records=[record("10.1.0.6/32")]),
        "unsigned": _unsigned(),
        "p0-register": mn_register(want_notify=True, records=[record("10.1.0.7/32")]),
        "request-p1": request_ecm("10.1.0.5/32"),
        "request-p0": request_ecm("10.1.0.7/32"),
        "request-unregistered": request_ecm("10.1.0.8/32"),
        "request-outside": request_ecm("192.0.2.200/32"),
    }
    return {
        name: [s.datagram.payload for s in sends(deliver(ms, float(i), payload))]
        for i, (name, payload) in enumerate(steps.items())
    }


def _diff(fault: str) -> dict[str, tuple[list[bytes], list[bytes]]]:
    good, bad = _scenario(server()), _scenario(server(fault))
    return {k: (good[k], bad[k]) for k in good if good[k] != bad[k]}


def test_fault_accept_bad_auth_only_accepts_a_bad_hmac() -> None:
    diff = _diff("accept-bad-auth")
    assert set(diff) == {"bad-register"}
    assert diff["bad-register"][0] == []
    [notify] = diff["bad-register"][1]
    assert isinstance(parse_control(notify), MapNotify)  # MS-REG-BAD-HMAC: Notify follows
    ms = server("accept-bad-auth")
    out = deliver(ms, 0.0, _unsigned())
    assert decisions(out)[0].fields["reason"] == "no-auth"  # other auth failures still reject


def test_fault_authoritative_proxy_reply_only_sets_a() -> None:
    diff = _diff("authoritative-proxy-reply")
    assert set(diff) == {"request-p1"}
    [good], [bad] = diff["request-p1"]
    g, b = parse_control(good), parse_control(bad)
    assert isinstance(g, MapReply) and isinstance(b, MapReply)
    assert b.records[0].authoritative and not g.records[0].authoritative
    assert dataclasses.replace(b.records[0], authoritative=False) == g.records[0]


def test_fault_forward_despite_proxy_only_forwards_p1_requests() -> None:
    diff = _diff("forward-despite-proxy")
    assert set(diff) == {"request-p1"}
    [good], [bad] = diff["request-p1"]
    assert isinstance(parse_control(good), MapReply)
    fwd = parse_control(bad)
    assert isinstance(fwd, EncapsulatedControlMessage) and fwd.to_etr


def test_fault_long_ttl_only_lengthens_proxy_reply_ttls() -> None:
    diff = _diff("long-ttl")
    assert set(diff) == {"request-p1"}
    [good], [bad] = diff["request-p1"]
    g, b = parse_control(good), parse_control(bad)
    assert isinstance(g, MapReply) and isinstance(b, MapReply)
    assert g.records[0].ttl == 1 and b.records[0].ttl == LONG_TTL
    assert dataclasses.replace(b.records[0], ttl=1) == g.records[0]


def test_fault_decisions_name_the_fault() -> None:
    ms = server("accept-bad-auth", "authoritative-proxy-reply", "long-ttl")
    out = deliver(ms, 0.0, mn_register(key=WRONG, proxy=True))
    assert decisions(out)[0].fields["fault"] == "accept-bad-auth"
    out = deliver(ms, 1.0, request_ecm())
    assert decisions(out)[0].fields["fault"] == "authoritative-proxy-reply,long-ttl"


def test_config_default_has_no_faults() -> None:
    assert server().faults == frozenset()
    assert MapServer(MapServerConfig()).registrations() == []


# -- NAT traversal: Info-Request / Info-Reply ---------------------------------------------------


def test_info_request_gets_the_observed_source_and_the_rtrs() -> None:
    from dissectors.lisp.afi import IPv4
    from dissectors.lisp.info import Info
    from dissectors.lisp.lcaf import NatTraversal

    ms = server(extra='rtrs = ["203.0.113.50"]\ninfo-ttl = 2')
    req = Info(reply=False, nonce=0xABC, key_id=1, eid_mask_len=32, eid=IPv4.of("10.1.0.9"))
    natted = Endpoint.of("198.51.100.150", 40001)  # the NAT's translation of the node's 4342
    out = deliver(ms, 1.0, req.sign(KEY).build(), natted)
    ((send,),) = [sends(out)]
    assert send.datagram.src == MS and send.datagram.dst == natted  # back through the NAT
    assert verify(send.datagram.payload, KEY) is True
    reply = parse_control(send.datagram.payload)
    assert isinstance(reply, Info) and reply.reply and reply.nonce == 0xABC and reply.ttl == 2
    nat = reply.nat_traversal
    assert isinstance(nat, NatTraversal)
    assert nat.global_etr_rloc == IPv4.of("198.51.100.150") and nat.etr_udp_port == 40001
    assert nat.ms_rloc == IPv4.of("192.0.2.1") and nat.ms_udp_port == 4342  # NAT-IR-TRUTH
    assert nat.rtr_rlocs == (IPv4.of("203.0.113.50"),)
    assert [d.kind for d in decisions(out)] == ["info-reply-sent"]
    # a wrong key or an EID outside every site: dropped, counted, logged
    out = deliver(ms, 2.0, req.sign(WRONG).build(), natted)
    assert sends(out) == [] and [d.kind for d in decisions(out)] == ["info-request-dropped"]
    stray = Info(reply=False, nonce=1, key_id=1, eid_mask_len=32, eid=IPv4.of("10.77.0.1"))
    out = deliver(ms, 3.0, stray.sign(KEY).build(), natted)
    assert sends(out) == [] and ms.counters["info-requests-dropped"] == 2
