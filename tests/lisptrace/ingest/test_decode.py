"""The decode stage: captures -> the seven tables (rows == frames, contents, vectorised ==
codec path, keys, truncation, robustness, tshark differential)."""

from __future__ import annotations

import ipaddress
import random
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from benchmarks.generate import data_templates, generate, ipv4, ipv6, tcp, udp
from dissectors.core import ANOMALY_CODES
from dissectors.inet import IpPacket, Ipv4Header, UdpDatagram, internet_checksum
from dissectors.lisp.afi import IPv4, IPv6
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import EidRecord, Locator
from dissectors.mip6.nd import MapOption, RouterAdvertisement
from lisptrace.ingest.capture import merge_captures, open_capture
from lisptrace.ingest.decode import BatchDecoder, decode
from lisptrace.ingest.keys import KeyFileError, load_keys
from lisptrace.ingest.reassembly import Reassembler
from lisptrace.render import anomaly_catalog_markdown  # noqa: F401  (registers every code)
from lisptrace.tables import open_decoded
from tests.support.mutate import mutate
from tests.support.tshark import ip_frame, requires_tshark, tshark_json, udp_frame, write_pcap

SHARED = Path(__file__).resolve().parents[4] / "shared" / "captures"
CAPTURES = sorted(p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))

KEY = b"site key"
REC4 = EidRecord(
    IPv4.of("10.1.0.0"),
    16,
    (Locator(IPv4.of("203.0.113.1"), 1, 50), Locator(IPv4.of("203.0.113.2"), 2, 50)),
    ttl=1440,
    authoritative=True,
    map_version=7,
)
REC6 = EidRecord(
    InstanceId(iid=1000, address=IPv6.of("2001:db8:1::")),
    48,
    (Locator(IPv6.of("2001:db8:ff::1"), 1, 100),),
    ttl=60,
)


def table(out: Path, name: str) -> pa.Table:
    return pq.read_table(out / f"{name}.parquet")


def _lisp_data(inner: bytes, header: DataHeader | None = None) -> bytes:
    h = header or DataHeader.make(nonce=0xABCDEF, lsbs=0x3)
    return h.build() + inner


def small_frames() -> list[bytes]:
    """One of each: Map-Request, signed Map-Register, Map-Reply (IPv6 outer), Map-Notify,
    ECM'd Map-Request, data IPv4/TCP, data IPv6/UDP, nested LISP, a non-LISP UDP packet."""
    req = MapRequest(
        nonce=0x1122334455667788,
        source_eid=IPv4.of("10.1.0.5"),
        itr_rlocs=(IPv4.of("203.0.113.1"),),
        records=(RequestRecord(IPv4.of("10.2.0.0"), 24),),
        smr=True,
    )
    reg = MapRegister(nonce=7, key_id=0x0001, records=(REC4,), want_map_notify=True).sign(KEY)
    rep = MapReply(nonce=9, records=(REC6,))
    notify = MapNotify(nonce=7, key_id=0x0001, records=(REC4,)).sign(KEY)
    hdr = Ipv4Header(ipaddress.IPv4Address("10.1.0.5"), ipaddress.IPv4Address("10.9.9.9"))
    ecm = EncapsulatedControlMessage(IpPacket(hdr, UdpDatagram(61000, 4342, req, checksum=None)))
    inner4 = ipv4("10.1.0.5", "10.2.0.7", 6, tcp(40000, 443, b"x" * 30))
    inner6 = ipv6("2001:db8:1::5", "2001:db8:2::7", 6, tcp(40001, 80, b"y" * 10))
    nested_inner = udp(5000, 4341, _lisp_data(inner4, DataHeader.make(instance_id=5)))
    nested = ipv4("203.0.113.9", "198.51.100.9", 17, nested_inner)
    return [
        udp_frame(req.build(), 4342, 4342),
        udp_frame(reg.build(), 4342, 4342),
        udp_frame(rep.build(), 4342, 4342, "2001:db8:fe::1", "2001:db8:ff::1"),
        udp_frame(notify.build(), 4342, 4342),
        udp_frame(ecm.build(), 4342, 4342),
        udp_frame(_lisp_data(inner4), 1234, 4341),
        udp_frame(_lisp_data(inner6), 1234, 4341, "2001:db8:ff::1", "2001:db8:fe::1"),
        udp_frame(_lisp_data(nested), 1234, 4341),
        udp_frame(b"hello", 1000, 53),
    ]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("small")
    write_pcap(d / "small.pcap", small_frames())
    keys = d / "keys.toml"
    keys.write_text('[sites.lab]\nkey = "site key"\neid_prefixes = ["10.0.0.0/8"]\n')
    decode([d / "small.pcap"], d / "out", keys=load_keys(keys))
    return d / "out"


def test_packets_one_row_per_frame_with_layers(small: Path) -> None:
    p = table(small, "packets")
    assert p.num_rows == 9
    assert p.column("frame").to_pylist() == list(range(1, 10))
    assert p.column("layer").to_pylist() == ["lisp"] * 5 + ["lisp-data"] * 3 + [""]
    assert p.column("src").to_pylist()[2] == "2001:db8:fe::1"
    assert p.column("src").to_pylist()[0] == "192.0.2.1"
    assert p.column("dst_port").to_pylist()[8] == 53
    assert p.column("error").null_count == 9


def test_control_rows_with_ecm_inner_message_and_hmac(small: Path) -> None:
    c = table(small, "control").to_pylist()
    assert [(r["frame"], r["type_name"], r["depth"]) for r in c] == [
        (1, "Map-Request", 0),
        (2, "Map-Register", 0),
        (3, "Map-Reply", 0),
        (4, "Map-Notify", 0),
        (5, "ECM", 0),
        (5, "Map-Request", 1),
    ]
    req, reg, rep, notify, ecm, inner = c
    assert req["nonce"] == 0x1122334455667788 and req["smr"] is True
    assert req["source_eid"] == "10.1.0.5" and req["itr_rlocs"] == ["203.0.113.1"]
    assert req["src"] == "192.0.2.1" and req["src_port"] == 4342
    assert reg["auth_ok"] is True and notify["auth_ok"] is True
    assert reg["want_map_notify"] is True and reg["record_count"] == 1
    assert reg["key_id_9301"] == 0 and reg["algorithm_id"] == 1 and reg["auth_len"] == 20
    assert rep["auth_ok"] is None and rep["src"] == "2001:db8:fe::1"
    assert ecm["nonce"] is None
    assert inner["parent_index"] == ecm["msg_index"] == 0 and inner["msg_index"] == 1
    assert inner["src"] == "10.1.0.5" and inner["dst"] == "10.9.9.9"
    assert inner["src_port"] == 61000


def test_records_and_locators(small: Path) -> None:
    r = table(small, "records").to_pylist()
    sections = [(x["frame"], x["section"], x["eid"]) for x in r]
    assert sections == [
        (1, "request", "10.2.0.0/24"),
        (2, "mapping", "10.1.0.0/16"),
        (3, "mapping", "[1000]2001:db8:1::/48"),
        (4, "mapping", "10.1.0.0/16"),
        (5, "request", "10.2.0.0/24"),
    ]
    reg = r[1]
    assert reg["ttl"] == 1440 and reg["map_version"] == 7 and reg["locator_count"] == 2
    assert reg["eid_bin"] == bytes(10) + b"\xff\xff" + bytes([10, 1, 0, 0])
    assert reg["eid_end_bin"] == bytes(10) + b"\xff\xff" + bytes([10, 1, 255, 255])
    assert r[2]["eid_iid"] == 1000 and r[2]["eid_lcaf_type"] == 2
    assert r[4]["msg_index"] == 1  # the ECM's inner Map-Request
    loc = table(small, "locators").to_pylist()
    assert [(x["frame"], x["address"], x["priority"]) for x in loc] == [
        (2, "203.0.113.1", 1),
        (2, "203.0.113.2", 2),
        (3, "2001:db8:ff::1", 1),
        (4, "203.0.113.1", 1),
        (4, "203.0.113.2", 2),
    ]


def test_data_rows(small: Path) -> None:
    d = table(small, "data").to_pylist()
    assert [(x["frame"], x["level"], x["depth"], x["payload_kind"]) for x in d] == [
        (6, 0, 1, "ipv4"),
        (7, 0, 1, "ipv6"),
        (8, 0, 2, "lisp-data"),
        (8, 1, 2, "ipv4"),
    ]
    v4 = d[0]
    assert v4["nonce"] == 0xABCDEF and v4["lsb"] == 3 and v4["iid"] is None
    assert (v4["inner_src"], v4["inner_dst"], v4["inner_protocol"]) == ("10.1.0.5", "10.2.0.7", 6)
    assert (v4["inner_src_port"], v4["inner_dst_port"]) == (40000, 443)
    assert v4["inner_length"] == 20 + 20 + 30
    assert d[1]["inner_src"] == "2001:db8:1::5" and d[1]["inner_dst_port"] == 80
    assert d[3]["iid"] == 5 and d[3]["inner_dst"] == "10.2.0.7"


def test_data_rows_in_frame_order_whatever_path_decoded_them(tmp_path: Path) -> None:
    """A GPE frame (codec path, taken last) before a data frame the codec also decodes."""
    inner4 = ipv4("10.1.0.5", "10.2.0.7", 2, b"\x11" * 8)  # IGMP: not the vectorised path
    frames = [
        udp_frame(_lisp_data(inner4), 1234, 4790),
        udp_frame(_lisp_data(inner4), 1234, 4341),
        udp_frame(_lisp_data(inner4), 1234, 4790),
    ]
    write_pcap(tmp_path / "gpe.pcap", frames)
    decode([tmp_path / "gpe.pcap"], tmp_path / "out")
    assert table(tmp_path / "out", "data").column("frame").to_pylist() == [1, 2, 3]


def test_open_reads_the_output(small: Path) -> None:
    dec = open_decoded(small)
    assert dec.manifest["auth_checked"] is True
    assert dec.manifest["frames"] == 9
    text = (small / "manifest.json").read_text()
    assert "site key" not in text


def test_wrong_key_and_no_key(tmp_path: Path) -> None:
    write_pcap(tmp_path / "c.pcap", small_frames()[:2])
    keys = tmp_path / "keys.toml"
    keys.write_text('[eid."10.0.0.0/8"]\nkey_hex = "00ff"\nkey_id = 1\n')
    decode([tmp_path / "c.pcap"], tmp_path / "bad", keys=load_keys(keys))
    assert table(tmp_path / "bad", "control").column("auth_ok").to_pylist() == [None, False]
    decode([tmp_path / "c.pcap"], tmp_path / "none")
    assert table(tmp_path / "none", "control").column("auth_ok").to_pylist() == [None, None]


def test_key_file_errors_never_quote_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "k.toml"
    bad.write_text('[sites.x]\nkey = "hunter2"\neid_prefixes = ["not a prefix"]\n')
    with pytest.raises(KeyFileError) as info:
        load_keys(bad)
    assert "hunter2" not in str(info.value)
    ok = tmp_path / "ok.toml"
    ok.write_text('[default]\nkey = "hunter2"\n')
    assert "hunter2" not in repr(load_keys(ok))


def test_tables_option_limits_the_output(tmp_path: Path) -> None:
    write_pcap(tmp_path / "c.pcap", small_frames())
    s = decode([tmp_path / "c.pcap"], tmp_path / "o", tables=["data"])
    assert set(s.rows) == {"packets", "data"} and s.rows["data"] == 4


def test_fragmented_map_register_decoded_on_the_completing_frame(tmp_path: Path) -> None:
    recs = tuple(
        EidRecord(IPv4.of(f"10.{i}.0.0"), 16, (Locator(IPv4.of("203.0.113.1")),))
        for i in range(120)
    )
    payload = MapRegister(nonce=1, key_id=1, records=recs).sign(KEY).build()
    dgram = udp(4342, 4342, payload)
    frames, mtu = [], 1480
    for k, off in enumerate(range(0, len(dgram), mtu)):
        part = dgram[off : off + mtu]
        more = off + mtu < len(dgram)
        head = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(part),
            77,
            (0x2000 if more else 0) | (off // 8),
            64,
            17,
            0,
            bytes([192, 0, 2, 1]),
            bytes([192, 0, 2, 2]),
        )
        head = head[:10] + struct.pack("!H", internet_checksum(head)) + head[12:]
        frames.append(b"\x02" * 12 + b"\x08\x00" + head + part)
        assert k < 10
    write_pcap(tmp_path / "f.pcap", frames)
    s = decode([tmp_path / "f.pcap"], tmp_path / "o")
    p = table(tmp_path / "o", "packets")
    assert p.num_rows == len(frames)
    assert p.column("layer").to_pylist() == ["fragment"] * (len(frames) - 1) + ["lisp"]
    c = table(tmp_path / "o", "control")
    assert c.column("frame").to_pylist() == [len(frames)]
    assert s.rows["records"] == 120


def test_vectorised_data_path_equals_codec_path(tmp_path: Path) -> None:
    frames = [f for f, _ in data_templates(random.Random(3), 128)]
    rng = random.Random(4)
    for _ in range(200):  # more inner variety: UDP v4 checksum 0, odd lengths, IID, v6/UDP
        inner = ipv4("10.0.0.1", f"10.0.{rng.randrange(4)}.2", 17, udp(1, rng.randrange(99), b""))
        h = DataHeader.make(
            nonce=rng.randrange(1 << 24) if rng.random() < 0.7 else None,
            instance_id=rng.randrange(1 << 24) if rng.random() < 0.5 else None,
            lsbs=rng.randrange(256) if rng.random() < 0.5 else None,
        )
        frames.append(udp_frame(_lisp_data(inner, h), 9, 4341))
    write_pcap(tmp_path / "d.pcap", frames)
    (batch,) = list(open_capture(tmp_path / "d.pcap").batches())
    fast = BatchDecoder().decode(batch, Reassembler())["data"]
    slow = BatchDecoder(vectorised=False).decode(batch, Reassembler())["data"]
    assert fast.num_rows == slow.num_rows == len(frames)
    for name in fast.schema.names:
        assert fast.column(name).equals(slow.column(name)), name


def test_generated_capture_rows_and_paths(tmp_path: Path) -> None:
    generate(tmp_path / "g.pcap", 20_000, seed=5)
    s = decode([tmp_path / "g.pcap"], tmp_path / "o")
    assert s.frames == 20_000 == s.rows["packets"]
    assert s.errors == 0
    assert s.rows["data"] + s.rows["control"] - _ecm_inner(tmp_path / "o") == 20_000
    (batch,) = list(open_capture(tmp_path / "g.pcap").batches(20_000))[:1]
    fast = BatchDecoder().decode(batch, Reassembler())
    slow = BatchDecoder(vectorised=False).decode(batch, Reassembler())
    for name in fast["data"].schema.names:
        assert fast["data"].column(name).equals(slow["data"].column(name)), name
    assert fast["control"].equals(slow["control"])


def _ecm_inner(out: Path) -> int:
    depth = table(out, "control").column("depth").to_numpy()
    return int((depth > 0).sum())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_shared_captures_rows_equal_frames(path: Path, tmp_path: Path) -> None:
    frames = sum(len(b) for b in open_capture(path).batches())
    s = decode([path], tmp_path / "o")
    assert s.frames == frames == table(tmp_path / "o", "packets").num_rows


def test_merged_captures_are_numbered_across(tmp_path: Path) -> None:
    a, b = CAPTURES[0], CAPTURES[1]
    s = decode([a, b], tmp_path / "o")
    n = sum(len(x) for p in (a, b) for x in open_capture(p).batches())
    assert s.frames == n
    assert table(tmp_path / "o", "packets").column("frame").to_pylist() == list(range(1, n + 1))


def test_truncated_capture_rows_up_to_the_cut(tmp_path: Path) -> None:
    write_pcap(tmp_path / "c.pcap", small_frames())
    raw = (tmp_path / "c.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(raw[:-10])
    s = decode([tmp_path / "cut.pcap"], tmp_path / "o")
    assert s.truncated and s.frames == 8 and s.warnings
    assert open_decoded(tmp_path / "o").manifest["truncated"] is True


def test_mutated_frames_never_raise_and_rows_hold(tmp_path: Path) -> None:
    """100k mutants of every kind of frame (and lying pcap record lengths at the end)."""
    seeds = [*small_frames(), *(f for f, _ in data_templates(random.Random(1), 16))]
    for p in CAPTURES:
        for b in open_capture(p).batches():
            seeds += [b.frame(i) for i in range(len(b))]
    rng = random.Random(2024)
    frames = [mutate(rng.choice(seeds), rng) for _ in range(100_000)]
    path = tmp_path / "m.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, i % 1000, len(fr), len(fr)))
            f.write(fr)
        f.write(struct.pack("<IIII", 1_700_000_100, 0, 5000, 5000) + b"short")  # a lying length
    s = decode([path], tmp_path / "o")
    assert s.frames == len(frames) and s.truncated
    p = table(tmp_path / "o", "packets")
    assert p.num_rows == len(frames)
    assert not any("internal error" in (e or "") for e in p.column("error").to_pylist())
    # every anomaly code is in the catalog (`lisptrace anomalies`, docs/dissectors.md)
    codes = set(pc.unique(pc.list_flatten(p.column("anomalies"))).to_pylist())
    assert codes and codes <= set(ANOMALY_CODES), codes - set(ANOMALY_CODES)
    # tables all readable, frames of every table exist in packets
    for name in ("control", "records", "locators", "data", "mobility", "nd_map"):
        t = table(tmp_path / "o", name)
        if t.num_rows:
            assert np.all(np.isin(t.column("frame").to_numpy(), p.column("frame").to_numpy()))


# -- tshark differential on the shared captures ------------------------------------------------

TSHARK_FIELDS = [
    "frame.number",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "udp.srcport",
    "udp.dstport",
    "lisp.type",
    "lisp.nonce",
    "lisp.mapping.eid.ipv4",
    "lisp.mapping.eid.ipv6",
    "lisp.mapping.eid.masklen",
    "mip6.mhtype",
    "mip6.csum",
]


@requires_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_against_tshark(path: Path, tmp_path: Path) -> None:
    ts = tshark_json(path, TSHARK_FIELDS)
    decode([path], tmp_path / "o")
    pk = table(tmp_path / "o", "packets").to_pylist()
    assert len(ts) == len(pk)
    ctl = table(tmp_path / "o", "control").to_pylist()
    rec = table(tmp_path / "o", "records").to_pylist()
    mob = table(tmp_path / "o", "mobility").to_pylist()
    for have, row in zip(ts, pk, strict=True):
        n = row["frame"]
        assert have["frame.number"] == [str(n)]
        if row["ip_version"] == 4 and "ip.src" in have:
            assert have["ip.src"][0] == row["src"] and have["ip.dst"][0] == row["dst"]
        if row["ip_version"] == 6 and "ipv6.src" in have:
            assert have["ipv6.src"][0] == row["src"] and have["ipv6.dst"][0] == row["dst"]
        if "udp.srcport" in have and row["src_port"] is not None:
            assert have["udp.srcport"][0] == str(row["src_port"])
            assert have["udp.dstport"][0] == str(row["dst_port"])
        mine = [c for c in ctl if c["frame"] == n and c["depth"] == 0]
        if mine and "lisp.type" in have:
            assert [int(t) for t in have["lisp.type"]][:1] == [mine[0]["type"]]
        if mine and "lisp.nonce" in have and mine[0]["nonce"] is not None:
            assert int(have["lisp.nonce"][0], 16) == mine[0]["nonce"]
        eids = [r for r in rec if r["frame"] == n and r["section"] == "mapping"]
        if eids and not row["error"]:
            ts_eids = have.get("lisp.mapping.eid.ipv4", []) + have.get("lisp.mapping.eid.ipv6", [])
            ours = [r["eid"].split("/")[0] for r in eids]
            assert sorted(ts_eids) == sorted(ours)
            masks = [str(r["eid_mask_len"]) for r in eids]
            assert sorted(have.get("lisp.mapping.eid.masklen", [])) == sorted(masks)
        m = [x for x in mob if x["frame"] == n]
        if m and "mip6.mhtype" in have:
            assert have["mip6.mhtype"] == [str(m[0]["mh_type"])]
            assert int(have["mip6.csum"][0], 16) == m[0]["checksum"]


def test_lisp_over_tcp_whole_messages(tmp_path: Path) -> None:
    reg = MapRegister(nonce=5, key_id=1, records=(REC4,)).sign(KEY).build()
    notify = MapNotify(nonce=5, key_id=1, records=(REC4,)).sign(KEY).build()
    frames = [
        ip_frame("192.0.2.1", "192.0.2.2", 6, tcp(50000, 4342, reg + notify)),
        ip_frame("192.0.2.1", "192.0.2.2", 6, tcp(50000, 4342, reg[:30])),  # a partial one
        ip_frame("192.0.2.2", "192.0.2.1", 6, tcp(4342, 50000, b"")),  # a bare ACK
    ]
    write_pcap(tmp_path / "t.pcap", frames)
    decode([tmp_path / "t.pcap"], tmp_path / "o")
    p = table(tmp_path / "o", "packets").to_pylist()
    assert [r["layer"] for r in p] == ["lisp-tcp"] * 3
    assert any(a.startswith("lisp_tcp.not_whole") for a in p[1]["anomalies"])
    c = table(tmp_path / "o", "control").to_pylist()
    assert [(r["frame"], r["type_name"], r["via_tcp"], r["msg_index"]) for r in c] == [
        (1, "Map-Register", True, 0),
        (1, "Map-Notify", True, 1),
    ]
    assert c[0]["src_port"] == 50000 and c[0]["dst"] == "192.0.2.2"


def test_mobility_and_nd_map_tables(tmp_path: Path) -> None:
    bu = SHARED / "zeek" / "mip6_bu.pcap"
    bad = SHARED / "zeek" / "mip6-bad-mh-chksum.pcap"
    decode([bu, bad], tmp_path / "o")
    m = table(tmp_path / "o", "mobility").to_pylist()
    assert len(m) == 2
    by_type = {r["mh_type"]: r for r in m}
    assert by_type[5]["type_name"] and by_type[5]["checksum_ok"] is True
    assert by_type[5]["a"] is True and by_type[5]["lifetime_s"] == 4 * by_type[5]["lifetime"]
    assert any(r["checksum_ok"] is False for r in m)
    router, dst = "fe80::1", "ff02::1"
    ra = RouterAdvertisement(
        router_lifetime=1800,
        options=(
            MapOption(
                dist=1, pref=7, valid_lifetime=600, map_address=IPv6.of("2001:db8::9").address
            ),
        ),
    ).build(src=router, dst=dst)
    write_pcap(tmp_path / "ra.pcap", [ip_frame(router, dst, 58, ra)])
    decode([tmp_path / "ra.pcap"], tmp_path / "r")
    (row,) = table(tmp_path / "r", "nd_map").to_pylist()
    assert row["router"] == router and row["map_address"] == "2001:db8::9"
    assert (row["dist"], row["pref"], row["valid_lifetime"], row["length_ok"]) == (1, 7, 600, True)
    assert row["router_lifetime"] == 1800


def test_cached_and_uncached_control_payloads_agree(tmp_path: Path) -> None:
    """Repeated payloads (taken from the cache's Arrow templates), first sightings (decoded,
    half in the worker process) and unique ones, mixed in the same batches."""
    generate(tmp_path / "r.pcap", 30_000, seed=7, unique_control=False)
    generate(tmp_path / "u.pcap", 30_000, seed=8, unique_control=True)
    decode([tmp_path / "r.pcap", tmp_path / "u.pcap"], tmp_path / "o")
    c = table(tmp_path / "o", "control")
    p = table(tmp_path / "o", "packets")
    want: dict[int, tuple[int, int | None, int]] = {}
    layers = p.column("layer").to_pylist()
    for b in merge_captures([tmp_path / "r.pcap", tmp_path / "u.pcap"]):
        for i in range(len(b)):
            n = int(b.number[i])
            if layers[n - 1] != "lisp":
                continue
            frame = b.frame(i)
            at = 14 + (40 if frame[12:14] == b"\x86\xdd" else 20) + 8
            msg = parse_control(frame[at:])
            want[n] = (msg.type, getattr(msg, "nonce", None), len(getattr(msg, "records", ())))
    top = c.filter(pc.equal(c.column("depth"), 0)).to_pylist()
    assert len(top) == len(want)
    for row in top:
        assert want[row["frame"]] == (row["type"], row["nonce"], row["record_count"] or 0)
    assert c.column("frame").to_pylist() == sorted(c.column("frame").to_pylist())


_CODE = r"^[a-z0-9_.\-]+$"


def test_anomalies_columns_hold_codes_and_details_beside(tmp_path: Path) -> None:
    from dissectors.mip6.mh import BAD_CHECKSUM, Heartbeat

    src, dst = "2001:db8::1", "2001:db8::2"
    good = Heartbeat(sequence=0xDEADBEEF, r=True).padded().build(src=src, dst=dst)
    bad = good[:4] + bytes([good[4] ^ 0xFF]) + good[5:]  # a wrong checksum: an anomaly
    reg = MapRegister(nonce=5, key_id=1, records=(REC4,)).sign(KEY).build()
    frames = [
        ip_frame(src, dst, 135, good),
        ip_frame(src, dst, 135, bad),
        ip_frame("192.0.2.1", "192.0.2.2", 6, tcp(50000, 4342, reg[:30])),  # layer anomaly
    ]
    write_pcap(tmp_path / "a.pcap", frames)
    summary = decode([tmp_path / "a.pcap"], tmp_path / "o")
    for name in ("packets", "control", "records", "locators", "data", "mobility", "nd_map"):
        path = tmp_path / "o" / f"{name}.parquet"
        if not path.exists():
            continue
        t = table(tmp_path / "o", name)
        if "anomalies" not in t.schema.names:
            continue
        codes = pc.list_value_length(t.column("anomalies"))
        details = pc.list_value_length(t.column("anomaly_details"))
        assert codes.equals(details), name
        flat = pc.list_flatten(t.column("anomalies")).to_pylist()
        assert all(pc.match_substring_regex(pa.array(flat, pa.string()), _CODE).to_pylist())
    p = table(tmp_path / "o", "packets").to_pylist()
    assert p[0]["anomalies"] == [] and p[0]["anomaly_details"] == []
    assert BAD_CHECKSUM in p[1]["anomalies"]
    assert p[2]["anomalies"] == ["lisp_tcp.not_whole"]
    assert p[2]["anomaly_details"][0].startswith("bytes 0.. are not a whole control message")
    m = table(tmp_path / "o", "mobility").to_pylist()
    assert BAD_CHECKSUM in m[1]["anomalies"] and all(m[1]["anomaly_details"])
    # the manifest (and the summary) count codes, not "code: detail" texts
    assert summary.anomalies == {BAD_CHECKSUM: 1, "lisp_tcp.not_whole": 1}
    manifest = open_decoded(tmp_path / "o").manifest
    assert manifest["anomalies"] == summary.anomalies


def test_heartbeat_sequence_is_32_bits(tmp_path: Path) -> None:
    from dissectors.mip6.mh import Heartbeat

    src, dst = "2001:db8::1", "2001:db8::2"
    frames = [
        ip_frame(src, dst, 135, Heartbeat(sequence=s, u=True).padded().build(src=src, dst=dst))
        for s in (0, 0xFFFF, 0x10000, 0xFFFFFFFF)
    ]
    write_pcap(tmp_path / "hb.pcap", frames)
    decode([tmp_path / "hb.pcap"], tmp_path / "o")
    t = table(tmp_path / "o", "mobility")
    assert t.schema.field("sequence").type == pa.uint32()
    assert t.column("sequence").to_pylist() == [0, 0xFFFF, 0x10000, 0xFFFFFFFF]
    assert t.column("label").to_pylist() == ["HB"] * 4


def test_shape_cache_gives_the_rows_of_decoding_each_payload(tmp_path: Path) -> None:
    """Control payloads that differ only in their nonces (and Authentication Data) share a
    cache entry; every row, the ECM inner nonces included, equals decoding them one by one."""
    generate(tmp_path / "u.pcap", 20_000, seed=3, unique_control=True)
    # a signed Map-Register repeated with fresh nonces and so fresh HMACs
    regs = [MapRegister(nonce=n, key_id=1, records=(REC4,)).sign(KEY).build() for n in range(1, 4)]
    write_pcap(tmp_path / "r.pcap", [udp_frame(r) for r in regs])
    got: dict[bool, dict[str, pa.Table]] = {}
    for shapes in (True, False):
        decoder = BatchDecoder()
        decoder.shape_cache = shapes
        parts: dict[str, list[pa.RecordBatch]] = {}
        reassembler = Reassembler()
        try:
            for path in ("u.pcap", "r.pcap"):
                for b in open_capture(tmp_path / path).batches(4096):
                    for name, rb in decoder.decode(b, reassembler).items():
                        parts.setdefault(name, []).append(rb)
        finally:
            decoder.close()
        got[shapes] = {n: pa.Table.from_batches(v) for n, v in parts.items()}
        if shapes:
            assert decoder.cache_hits > 500  # the shapes did hit
    for name in ("packets", "control", "records", "locators"):
        assert got[True][name].equals(got[False][name]), name
    c = got[True]["control"]
    inner = c.filter(pc.equal(c.column("depth"), 1))
    assert len(inner) > 50 and inner.column("nonce").null_count == 0
    assert len(set(c.column("nonce").drop_null().to_pylist())) > 900


def test_vlan_ids_outermost_first(tmp_path: Path) -> None:
    ip = ipv4("203.0.113.1", "198.51.100.1", 17, udp(1000, 53, b"q"))
    cases = [
        ([], None),
        ([(0x8100, 10)], [10]),
        ([(0x8100, 0xF005)], [5]),  # priority and DEI bits are not part of the ID
        ([(0x88A8, 100), (0x8100, 200)], [100, 200]),
        ([(0x9100, 1), (0x88A8, 2), (0x8100, 4095)], [1, 2, 4095]),
        ([(0x8100, 7)], [7]),
        ([], None),
    ]
    frames = []
    for tags, _ in cases:
        head = b"\x02" * 12 + b"".join(struct.pack("!HH", t, v) for t, v in tags)
        frames.append(head + b"\x08\x00" + ip)
    frames.append(b"\x02" * 12 + struct.pack("!HH", 0x8100, 9) + b"\x08\x06" + bytes(28))  # ARP
    write_pcap(tmp_path / "v.pcap", frames)
    decode([tmp_path / "v.pcap"], tmp_path / "out")
    got = table(tmp_path / "out", "packets").column("vlans").to_pylist()
    assert got == [want for _, want in cases] + [None]  # a non-IP frame: no layer 3 to reach


def test_sink_lane_holds_one_batch_waiting_besides_the_one_being_written() -> None:
    import threading

    from lisptrace.ingest.decode import _Sink

    gate = threading.Event()

    class Held:
        def write(self, table: str, rb: pa.RecordBatch) -> None:
            gate.wait()

    sink = _Sink(Held())  # type: ignore[arg-type]
    item = {"packets": pa.record_batch({"x": [1]})}
    sink.put(item)  # taken by the lane's thread, which waits at the gate
    sink.put(item)  # waits in the lane
    third = threading.Thread(target=sink.put, args=(item,))
    third.start()
    third.join(0.3)
    assert third.is_alive()  # the decoding thread waits instead of queueing more batches
    gate.set()
    third.join(10)
    assert not third.is_alive()
    sink.finish()


def test_sink_writes_every_table_on_its_lane_and_surfaces_errors() -> None:
    """The writer threads: each table's batches in order on one lane, the lanes side by side;
    an error on any lane reaches the decoding thread."""
    import threading

    from lisptrace.ingest.decode import _Sink

    class Recorder:
        def __init__(self, fail: str | None = None) -> None:
            self.seen: dict[str, list[int]] = {}
            self.threads: dict[str, set[str]] = {}
            self.fail = fail

        def write(self, table: str, rb: pa.RecordBatch) -> None:
            if table == self.fail:
                raise OSError(f"disk full writing {table}")
            self.seen.setdefault(table, []).append(rb.num_rows)
            self.threads.setdefault(table, set()).add(threading.current_thread().name)

    tables = ("packets", "control", "records", "locators", "data", "mobility", "nd_map")
    rec = Recorder()
    sink = _Sink(rec)  # type: ignore[arg-type]
    for k in range(1, 6):
        sink.put({t: pa.record_batch({"x": list(range(k))}) for t in tables})
    sink.finish()
    assert rec.seen == {t: [1, 2, 3, 4, 5] for t in tables}
    assert all(len(names) == 1 for names in rec.threads.values())
    lanes = {t: next(iter(rec.threads[t])) for t in tables}
    assert len({lanes["packets"], lanes["data"], lanes["control"]}) == 3
    for fail in ("packets", "data", "nd_map"):
        sink = _Sink(Recorder(fail))  # type: ignore[arg-type]
        with pytest.raises(OSError, match=f"writing {fail}"):
            for _ in range(10):
                sink.put({t: pa.record_batch({"x": [1]}) for t in tables})
            sink.finish()
        sink.finish()  # the threads are gone; nothing raised twice
