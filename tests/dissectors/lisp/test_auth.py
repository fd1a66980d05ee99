"""Authentication data: HMAC vectors computed independently with hmac.new on hand-made bytes."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import ANOMALY_CODES, Anomaly
from dissectors.lisp import auth
from dissectors.lisp.afi import IPv4
from dissectors.lisp.info import Info
from dissectors.lisp.map_notify import MapNotify, MapNotifyAck, MsRtrAuth
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.records import EidRecord, Locator
from tests.support.hexvec import h

KEY = b"lisp-mn-shared-secret"

# Map-Register, M=1, I=1, Key ID 1 (SHA-1), 20 zero bytes where the HMAC goes, one record,
# the xTR-ID/Site-ID trailer (covered by the HMAC too).
REG_ZEROED = h(
    """
    32 00 01 01  # Type=3, I=1, M=1, Record Count 1
    00 00 00 00 00 00 00 63  # Nonce 99
    00 01 00 14  # Key ID 1, Authentication Data Length 20
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # zeroed Authentication Data
    00 00 00 3c  # Record TTL 60
    01 20 10 00  # Locator Count 1, EID mask-len 32, A=1
    00 00 00 01  # Map-Version 0, EID-Prefix-AFI 1
    0a 00 00 01  # EID 10.0.0.1
    01 64 ff 00  # Priority 1, Weight 100, M Priority 255, M Weight 0
    00 05 00 01  # L=1, R=1, Loc-AFI 1
    c6 33 64 07  # Locator 198.51.100.7
    01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01  # xTR-ID
    00 00 00 00 00 00 00 02  # Site-ID 2
    """
)


def with_auth(zeroed: bytes, mac: bytes) -> bytes:
    return zeroed[:16] + mac + zeroed[16 + len(mac) :]


def test_sha1_full_digest() -> None:
    expected = hmac.new(KEY, REG_ZEROED, hashlib.sha1).digest()
    assert len(expected) == 20
    signed = with_auth(REG_ZEROED, expected)
    assert auth.sign(REG_ZEROED, KEY) == signed
    assert auth.verify(signed, KEY) is True
    assert auth.verify(signed, b"wrong key") is False
    msg = MapRegister.parse(REG_ZEROED)
    assert msg.sign(KEY).build() == signed
    assert MapRegister.parse(signed).verify(KEY) is True
    assert MapRegister.parse(signed).auth_data == expected


def test_sha1_truncated_12() -> None:
    zeroed = REG_ZEROED[:14] + b"\x00\x0c" + bytes(12) + REG_ZEROED[36:]
    expected = hmac.new(KEY, zeroed, hashlib.sha1).digest()[:12]
    signed = with_auth(zeroed, expected)
    assert auth.sign(zeroed, KEY) == signed
    assert auth.verify(signed, KEY) is True
    assert MapRegister.parse(signed).anomalies == ()


@pytest.mark.parametrize("length", [16, 32])
@pytest.mark.parametrize("key_id", [0x0002, 0x0702])  # 6830 key id 2; 9301 key 7 / alg 2
def test_sha256(length: int, key_id: int) -> None:
    zeroed = (
        REG_ZEROED[:12]
        + key_id.to_bytes(2, "big")
        + length.to_bytes(2, "big")
        + bytes(length)
        + REG_ZEROED[36:]
    )
    expected = hmac.new(KEY, zeroed, hashlib.sha256).digest()[:length]
    signed = with_auth(zeroed, expected)
    assert auth.sign(zeroed, KEY) == signed
    assert auth.verify(signed, KEY) is True
    m = MapRegister.parse(signed)
    assert m.algorithm_id == 2 and m.key_id_9301 == key_id >> 8 and m.anomalies == ()
    assert m.verify(KEY) is True


def test_coverage_includes_trailer_and_header() -> None:
    signed = auth.sign(REG_ZEROED, KEY)
    for i in (0, 3, 5, 12, 40, len(signed) - 1):  # type, count, nonce, key id, record, site-id
        tampered = bytearray(signed)
        tampered[i] ^= 0x01
        assert auth.verify(bytes(tampered), KEY) is False, i


def test_none_cases() -> None:
    signed = auth.sign(REG_ZEROED, KEY)
    assert auth.verify(signed, None) is None  # no key
    no_auth = MapRegister(nonce=1).build()
    assert auth.verify(no_auth, KEY) is None  # no auth data
    alg3 = REG_ZEROED[:12] + b"\x00\x03\x00\x20" + bytes(32) + REG_ZEROED[36:]
    assert auth.verify(alg3, KEY) is None  # HKDF variant: not implemented, never guessed
    with pytest.raises(ValueError):
        auth.sign(alg3, KEY)
    unknown = REG_ZEROED[:12] + b"\x00\x09" + REG_ZEROED[14:]
    assert auth.verify(unknown, KEY) is None
    odd_length = REG_ZEROED[:14] + b"\x00\x0a" + REG_ZEROED[16:]
    assert auth.verify(odd_length, KEY) is None
    assert auth.verify(b"\x30\x00", KEY) is None  # too short


def test_check_and_checked_add_bad_hmac() -> None:
    bad = with_auth(REG_ZEROED, b"\xee" * 20)
    found: list[Anomaly] = []
    assert auth.check(bad, KEY, found) is False
    assert [a.code for a in found] == [auth.BAD_HMAC] and found[0].offset == 16
    assert ANOMALY_CODES[auth.BAD_HMAC].level == "error"
    good: list[Anomaly] = []
    assert auth.check(auth.sign(REG_ZEROED, KEY), KEY, good) is True and good == []
    msg = MapRegister.parse(bad)
    result, flagged = auth.checked(msg, KEY)
    assert result is False and flagged == msg
    assert [a.code for a in flagged.anomalies] == [auth.BAD_HMAC]
    assert flagged.spans == msg.spans
    result, same = auth.checked(msg, None)
    assert result is None and same is msg


def test_notify_ack_info_sign() -> None:
    rec = EidRecord(IPv4.of("10.0.0.1"), 32, (Locator(IPv4.of("192.0.2.1")),))
    for msg in (
        MapNotify(nonce=5, key_id=1, records=(rec,), ms_rtr=MsRtrAuth(1, bytes(20))),
        MapNotifyAck(nonce=5, key_id=2, records=(rec,)),
        Info(nonce=7, key_id=1, eid=IPv4.of("10.0.0.1"), eid_mask_len=32),
    ):
        signed = msg.sign(KEY)
        n = 20 if msg.algorithm_id == 1 else 32
        assert len(signed.auth_data) == n
        zeroed = msg.__class__(**{**_fields(msg), "auth_data": bytes(n)}).build()
        digest = hashlib.sha1 if msg.algorithm_id == 1 else hashlib.sha256
        assert signed.auth_data == hmac.new(KEY, zeroed, digest).digest()
        assert type(msg).parse(signed.build()).verify(KEY) is True
        assert signed.sign(KEY, length=12 if n == 20 else 16).verify(KEY) is True


def _fields(msg: object) -> dict[str, object]:
    import dataclasses

    return {
        f.name: getattr(msg, f.name)
        for f in dataclasses.fields(msg)  # type: ignore[arg-type]
        if f.name not in ("spans", "anomalies")
    }


def test_sign_refuses_no_algorithm() -> None:
    with pytest.raises(ValueError):
        MapRegister(key_id=0).sign(KEY)


@pytest.mark.parametrize(
    ("key_id", "length", "code"),
    [
        (0x0000, 20, "lisp.auth.data_without_algorithm"),
        (0x0100, 4, "lisp.auth.data_without_algorithm"),  # 9301 key 1, algorithm 0
        (0x0001, 0, "lisp.auth.algorithm_without_data"),
        (0x0001, 16, "lisp.auth.bad_length"),
        (0x0002, 20, "lisp.auth.bad_length"),
        (0x0009, 8, "lisp.auth.unknown_algorithm"),
    ],
)
def test_field_anomalies(key_id: int, length: int, code: str) -> None:
    for cls in (MapRegister, MapNotify, MapNotifyAck):
        m = cls.parse(cls(key_id=key_id, auth_data=bytes(length)).build())
        assert [a.code for a in m.anomalies] == [code]
    info = Info.parse(Info(key_id=key_id, auth_data=bytes(length)).build())
    assert [a.code for a in info.anomalies] == [code]


@pytest.mark.parametrize("key_id,length", [(1, 12), (1, 20), (2, 16), (2, 32), (0, 0), (3, 32)])
def test_valid_lengths_no_anomaly(key_id: int, length: int) -> None:
    assert (
        MapRegister.parse(MapRegister(key_id=key_id, auth_data=bytes(length)).build()).anomalies
        == ()
    )


@settings(max_examples=100)
@given(
    st.sampled_from([(1, 12), (1, 20), (2, 16), (2, 32)]),
    st.integers(0, 255),
    st.binary(min_size=1, max_size=64),
    st.integers(0, 2**64 - 1),
)
def test_sign_verify_property(alg_len: tuple[int, int], kid: int, key: bytes, nonce: int) -> None:
    alg, length = alg_len
    m = MapRegister(nonce=nonce, key_id=(kid << 8) | alg, auth_data=bytes(length)).sign(KEY)
    raw = m.build()
    digest = hashlib.sha1 if alg == 1 else hashlib.sha256
    zeroed = raw[:16] + bytes(length) + raw[16 + length :]
    assert m.auth_data == hmac.new(KEY, zeroed, digest).digest()[:length]
    assert auth.verify(raw, KEY) is True
    assert auth.verify(raw, key + b"x") is False
