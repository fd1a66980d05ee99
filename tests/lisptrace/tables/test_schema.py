"""The schemas: documented column by column, versioned, and docs/tables.md generated from them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lisptrace.tables import (
    ADDR_BIN,
    SCHEMA_VERSION,
    SCHEMAS,
    TABLES,
    canonical_from_bin,
    conform,
    ip_bin,
    ipv4_bin_array,
    ipv6_bin_array,
    make_batch,
    nullable_array,
    prefix_bounds,
    schema,
    schema_markdown,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_docs_tables_md_is_generated_from_the_schemas() -> None:
    text = (DOCS / "tables.md").read_text()
    assert text == schema_markdown(), "run: python -m lisptrace.tables > docs/tables.md"


def test_the_seven_tables() -> None:
    assert TABLES == ("packets", "control", "records", "locators", "data", "mobility", "nd_map")


@pytest.mark.parametrize("table", TABLES)
def test_every_column_is_documented_and_every_row_has_frame_and_time(table: str) -> None:
    sch = SCHEMAS[table]
    assert sch.names[:2] == ["frame", "time_ns"]
    assert not sch.field("frame").nullable and not sch.field("time_ns").nullable
    for field in sch:
        doc = (field.metadata or {}).get(b"doc", b"").decode()
        assert len(doc) > 10, f"{table}.{field.name} undocumented"
    assert sch.metadata[b"lisptrace.schema_version"] == str(SCHEMA_VERSION).encode()
    assert sch.metadata[b"lisptrace.table"] == table.encode()
    assert sch.metadata[b"doc"]


@pytest.mark.parametrize("table", TABLES)
def test_every_bin_column_is_16_bytes_beside_its_string(table: str) -> None:
    sch = SCHEMAS[table]
    for field in sch:
        if field.name.endswith("_bin"):
            assert field.type == ADDR_BIN or field.type.value_type == ADDR_BIN
            base = field.name.removesuffix("_end_bin").removesuffix("_bin")
            assert base in sch.names, f"{table}.{field.name} has no canonical string beside it"


def test_no_column_could_carry_a_key() -> None:
    for table, sch in SCHEMAS.items():
        for name in sch.names:
            assert "auth_data" not in name and name not in ("key", "keys", "secret"), (table, name)


def test_the_brief_columns_exist() -> None:
    want = {
        "packets": "frame time_ns caplen origlen linktype interface source src src_bin dst "
        "dst_bin src_port dst_port ip_proto layer anomalies error error_offset comment",
        "control": "msg_index parent_index depth type type_name nonce key_id key_id_9301 "
        "algorithm_id auth_len auth_ok record_count source_eid itr_rlocs xtr_id site_id "
        "security ddt_originated to_etr to_ms info_ttl probe smr pitr smr_invoked mobile_node",
        "records": "msg_index record_index eid eid_afi eid_iid eid_mask_len eid_bin eid_end_bin "
        "ttl action authoritative map_version locator_count negative",
        "locators": "msg_index record_index locator_index address address_afi address_bin "
        "priority weight m_priority m_weight local probed reachable",
        "data": "n l e v i key_phase nonce source_map_version dest_map_version iid lsb "
        "inner_src inner_dst inner_protocol inner_src_port inner_dst_port inner_length depth "
        "payload_kind",
        "mobility": "mh_type label sequence lifetime lifetime_s status status_name a h l k m r "
        "p f t b checksum_ok home_address alternate_coa mn_id hnp handoff_indicator "
        "access_tech_type timestamp options",
        "nd_map": "router router_bin dist pref r valid_lifetime map_address length_ok",
    }
    for table, cols in want.items():
        missing = set(cols.split()) - set(SCHEMAS[table].names)
        assert not missing, (table, missing)


def test_ip_bin_and_prefix_bounds() -> None:
    assert ip_bin("10.0.0.1") == bytes(10) + b"\xff\xff\x0a\x00\x00\x01"
    assert ip_bin("2001:db8::1") == bytes.fromhex("20010db8000000000000000000000001")
    assert ip_bin(None) is None
    lo, hi = prefix_bounds("10.1.2.3/16")
    assert lo == ip_bin("10.1.0.0") and hi == ip_bin("10.1.255.255")
    lo6, hi6 = prefix_bounds("2001:db8::/32")
    assert lo6 == ip_bin("2001:db8::") and hi6 == ip_bin("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
    assert lo <= ip_bin("10.1.200.7") <= hi  # type: ignore[operator]
    assert not lo <= ip_bin("10.2.0.0") <= hi  # type: ignore[operator]
    # IPv4 never falls in an IPv6 prefix outside ::ffff:0:0/96 and vice versa
    assert not lo6 <= ip_bin("10.1.0.0") <= hi6  # type: ignore[operator]


def test_vectorised_address_columns() -> None:
    v4 = ipv4_bin_array(np.array([0x0A000001, 0xC0A80101], dtype=np.uint32))
    assert v4.type == ADDR_BIN
    assert v4.to_pylist() == [ip_bin("10.0.0.1"), ip_bin("192.168.1.1")]
    raw = np.frombuffer(ip_bin("2001:db8::1") + ip_bin("fe80::2"), dtype=np.uint8)  # type: ignore[operator]
    v6 = ipv6_bin_array(raw.reshape(2, 16))
    assert v6.to_pylist() == [ip_bin("2001:db8::1"), ip_bin("fe80::2")]


def test_make_batch_fills_nullable_columns_and_refuses_the_rest() -> None:
    b = make_batch(
        "records",
        {
            "frame": [1],
            "time_ns": [5],
            "msg_index": [0],
            "record_index": [0],
            "msg_type": [2],
            "section": ["mapping"],
        },
    )
    assert b.schema.equals(schema("records"), check_metadata=True)
    assert b.column("eid").null_count == 1
    with pytest.raises(ValueError, match="required"):
        make_batch("records", {"frame": [1]})
    with pytest.raises(ValueError, match="unknown columns"):
        make_batch("records", {"frame": [1], "nope": [1]})
    with pytest.raises(ValueError, match="non-nullable"):
        make_batch("nd_map", {"frame": [None]}, 1)
    with pytest.raises(KeyError, match="unknown table"):
        schema("nope")


def test_conform_casts_safely_and_refuses_other_columns() -> None:
    good = make_batch(
        "nd_map",
        {
            "frame": [1],
            "time_ns": [2],
            "option_index": [0],
            "dist": [1],
            "pref": [0],
            "r": [False],
            "valid_lifetime": [60],
            "length": [3],
            "length_ok": [True],
        },
    )
    loose = pa.RecordBatch.from_arrays(
        [c.cast(pa.int64()) if pa.types.is_integer(c.type) else c for c in good.columns],
        names=good.schema.names,
    )
    assert conform("nd_map", loose).schema.equals(schema("nd_map"), check_metadata=True)
    with pytest.raises(ValueError, match="columns differ"):
        conform("nd_map", loose.select(loose.schema.names[::-1]))
    too_big = loose.set_column(loose.schema.get_field_index("dist"), "dist", pa.array([300]))
    with pytest.raises(ValueError, match="nd_map"):
        conform("nd_map", too_big)


def test_canonical_strings_from_the_binary_form() -> None:
    rng = np.random.default_rng(7)
    v4 = [str(ipaddress.IPv4Address(int(x))) for x in rng.integers(0, 2**32, 50)]
    v6 = [str(ipaddress.IPv6Address(int.from_bytes(rng.bytes(16), "big"))) for _ in range(50)]
    v6 += ["2001:db8::1", "::", "fe80::1:0:0:1", "::1"]
    texts = [*v4, *v6, *v4[:5], *v6[:5]]
    raw = np.frombuffer(b"".join(ip_bin(t) for t in texts), dtype=np.uint8).reshape(-1, 16)  # type: ignore[misc]
    assert canonical_from_bin(raw).to_pylist() == texts
    assert canonical_from_bin(raw[:50]).to_pylist() == v4  # IPv4 only
    present = np.ones(len(texts), dtype=bool)
    present[3] = False
    assert canonical_from_bin(raw, present)[3].as_py() is None
    ipv6 = np.zeros(len(texts), dtype=bool)
    ipv6[0] = True  # a real IPv6 header carrying ::ffff:a.b.c.d keeps its IPv6 spelling
    assert canonical_from_bin(raw, None, ipv6)[0].as_py() == f"::ffff:{v4[0]}"
    assert len(canonical_from_bin(np.zeros((0, 16), dtype=np.uint8))) == 0


@pytest.mark.parametrize("type_", [pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000])
def test_nullable_array_is_pa_array_with_a_mask(type_: pa.DataType, n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(0, 2**8, n, dtype=np.int64)
    for valid in (np.ones(n, bool), np.zeros(n, bool), rng.random(n) < 0.5):
        got = nullable_array(values, valid, type_)
        want = pa.array(values, type_, mask=~valid)
        got.validate(full=True)
        assert got.equals(want) and got.null_count == want.null_count
