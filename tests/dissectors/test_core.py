"""The shared codec machinery: reader bounds, spans, scopes, limits, anomalies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dissectors.core import (
    ANOMALY_CODES,
    TRAILING_BYTES,
    Anomaly,
    DecodeError,
    Malformed,
    Reader,
    Truncated,
    anomaly_code,
)


def test_reads_are_big_endian_and_record_spans() -> None:
    r = Reader(bytes.fromhex("01 0203 040506 0708090a 0b0c0d0e0f101112 ff"))
    assert r.u8("a") == 0x01
    assert r.u16("b") == 0x0203
    assert r.u24("c") == 0x040506
    assert r.u32("d") == 0x0708090A
    assert r.u64("e") == 0x0B0C0D0E0F101112
    assert r.raw(1, "f") == b"\xff"
    assert r.spans == {
        "a": (0, 1),
        "b": (1, 2),
        "c": (3, 3),
        "d": (6, 4),
        "e": (10, 8),
        "f": (18, 1),
    }
    assert r.remaining == 0


def test_reading_past_the_end_raises_truncated_with_offset_and_field() -> None:
    r = Reader(b"\x00\x01\x02")
    r.u16("first")
    with pytest.raises(Truncated) as err:
        r.u32("nonce")
    assert err.value.offset == 2
    assert "nonce needs 4 bytes, 1 left" in err.value.reason
    assert isinstance(err.value, DecodeError)


def test_scope_prefixes_names_and_records_its_own_span() -> None:
    r = Reader(bytes(8))
    r.u16("head")
    with r.scope("records[0]"):
        r.u16("ttl")
        with r.scope("eid"):
            r.u16("afi")
    assert r.spans["records[0].ttl"] == (2, 2)
    assert r.spans["records[0].eid.afi"] == (4, 2)
    assert r.spans["records[0].eid"] == (4, 2)
    assert r.spans["records[0]"] == (2, 4)
    assert r.prefix == ""


def test_truncation_inside_a_scope_names_the_full_path() -> None:
    r = Reader(bytes(3))
    with pytest.raises(Truncated, match=r"records\[1\]\.ttl"), r.scope("records[1]"):
        r.u32("ttl")


def test_limit_bounds_the_inside_and_reports_unread_bytes() -> None:
    r = Reader(bytes(10))
    with r.limit(6, "body"):
        r.u16("x")
        with pytest.raises(Truncated):
            r.u64("too_long")
    assert r.pos == 6
    assert [a.code for a in r.anomalies] == [TRAILING_BYTES]
    with pytest.raises(Truncated):
        r.limit(5, "beyond").__enter__()


@pytest.fixture
def example_code() -> Iterator[str]:
    """A code registered for the test only (the catalog is global: leave it as found)."""
    yield anomaly_code("test.core.example", "note", "an example")
    del ANOMALY_CODES["test.core.example"]


def test_anomaly_codes_must_be_registered_and_consistent(example_code: str) -> None:
    r = Reader(b"")
    with pytest.raises(KeyError):
        r.anomaly("no.such.code")
    code = example_code
    assert anomaly_code("test.core.example", "note", "an example") == code
    with pytest.raises(ValueError):
        anomaly_code("test.core.example", "error", "something else")
    r.anomaly(code, "detail", offset=7)
    assert r.anomalies == [Anomaly(code, 7, "detail")]
    assert r.anomalies[0].level == "note"
    assert ANOMALY_CODES[code].summary == "an example"


def test_malformed_is_a_decode_error() -> None:
    assert issubclass(Malformed, DecodeError)
    assert str(Malformed(5, "unknown AFI 99")) == "at byte 5: unknown AFI 99"
