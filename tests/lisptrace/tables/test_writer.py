"""Streaming writers: batches in, one file per table and a manifest out, in both formats."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from lisptrace.tables import MANIFEST, SCHEMA_VERSION, TABLES, DecodedWriter, make_batch, schema

from .samples import T0, sample_batch

FORMATS = ["parquet", "arrow"]


def _read(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_table_round_trips(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    written = {t: sample_batch(t, 20) for t in TABLES}
    with DecodedWriter(out, fmt=fmt, sources=["a.pcapng"]) as w:  # type: ignore[arg-type]
        for table, batch in written.items():
            w.write(table, batch.slice(0, 5))
            w.write(table, batch.slice(5))
    suffix = ".parquet" if fmt == "parquet" else ".arrow"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST] + [f"{t}{suffix}" for t in TABLES]
    )
    for table, batch in written.items():
        back = _read(out / f"{table}{suffix}")
        assert back.schema.equals(schema(table), check_metadata=True)  # docs and version kept
        assert back.schema.field("frame").metadata[b"doc"]
        assert back.equals(pa.Table.from_batches([batch])), table


def test_parquet_is_zstd_by_default(tmp_path: Path) -> None:
    with DecodedWriter(tmp_path) as w:
        w.write("packets", sample_batch("packets", 10))
    meta = pq.ParquetFile(tmp_path / "packets.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_parquet_statistics_for_filter_push_down(tmp_path: Path) -> None:
    """Row-group min/max (what DuckDB and pyarrow datasets skip row groups with) are written
    for frame, time, binary addresses, ports and integer codes; booleans, text names of
    codes/categories, text addresses (their binary twins prune) and list elements go without
    (they cost writer CPU for no pruning)."""
    with DecodedWriter(tmp_path, row_group_rows=50) as w:
        for table in ("packets", "data", "control", "records", "locators"):
            w.write(table, sample_batch(table, 50))
            w.write(table, sample_batch(table, 50, start=50))
    kept = {
        "packets": ["frame", "time_ns", "src_bin", "dst_bin", "src_port", "caplen", "error"],
        "data": ["inner_src_bin", "inner_dst_port", "iid", "inner_protocol"],
        "control": ["src_bin", "source_eid_bin", "info_eid_end_bin", "type"],
        "records": ["eid_bin", "eid_end_bin", "eid_iid", "eid_mask_len", "msg_type"],
        "locators": ["address_bin", "priority"],
    }
    dropped = {
        "packets": ["layer", "reassembled", "anomalies.list.element", "src", "dst"],
        "data": ["payload_kind", "gpe", "inner_src", "inner_dst"],
        "control": ["type_name", "probe", "itr_rlocs.list.element", "src", "source_eid"],
        "records": ["action_name", "section", "negative", "eid"],
        "locators": ["reachable", "address"],
    }
    for table in kept:
        meta = pq.ParquetFile(tmp_path / f"{table}.parquet").metadata
        assert meta.num_row_groups == 2
        for g in range(meta.num_row_groups):
            cols = {
                meta.row_group(g).column(i).path_in_schema: meta.row_group(g).column(i)
                for i in range(meta.num_columns)
            }
            for name in kept[table]:
                stats = cols[name].statistics
                assert stats is not None and stats.has_min_max, f"{table}.{name}"
            for name in dropped[table]:
                assert not cols[name].is_stats_set, f"{table}.{name}"
    meta = pq.ParquetFile(tmp_path / "packets.parquet").metadata
    frames = meta.row_group(1).column(0).statistics
    assert (frames.min, frames.max) == (51, 100)  # what a frame filter prunes on
    ds = pytest.importorskip("pyarrow.dataset")
    (fragment,) = ds.dataset(tmp_path / "packets.parquet").get_fragments()
    assert len(fragment.split_by_row_group(filter=ds.field("frame") > 60)) == 1


def test_manifest_contents(tmp_path: Path) -> None:
    packets = make_batch(
        "packets",
        {
            "frame": [1, 2, 3, 4],
            "time_ns": [T0 + 30, T0 + 10, T0 + 40, T0 + 20],
            "caplen": [60] * 4,
            "origlen": [60] * 4,
            "linktype": [1] * 4,
            "interface": [0] * 4,
            "source": [0, 0, 1, 1],
            "reassembled": [False] * 4,
            "layer": ["lisp", "lisp-data", "", "lisp"],
            "anomalies": [["reserved_bits"], [], ["reserved_bits", "udp.checksum_bad"], None],
            "error": [None, "Truncated at records[0]", None, None],
        },
    )
    with DecodedWriter(tmp_path, sources=["a.pcap"]) as w:
        assert w.add_source("b.pcapng") == 1
        w.write("packets", packets)
        w.write("control", sample_batch("control", 3))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest == w.manifest
    assert manifest["kind"] == "lisptrace-decoded"
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["format"] == "parquet"
    assert manifest["sources"] == ["a.pcap", "b.pcapng"]
    assert manifest["rows"] == {
        "packets": 4,
        "control": 3,
        "records": 0,
        "locators": 0,
        "data": 0,
        "mobility": 0,
        "nd_map": 0,
    }
    assert manifest["frames"] == 4
    assert manifest["tables"]["records"] == "records.parquet"
    assert manifest["time_span_ns"] == [T0 + 10, T0 + 40]
    assert manifest["anomalies"] == {"reserved_bits": 2, "udp.checksum_bad": 1}
    assert manifest["errors"] == 1
    assert manifest["layers"] == {"": 1, "lisp": 2, "lisp-data": 1}
    assert manifest["auth_checked"] is False
    assert pq.read_table(tmp_path / "mobility.parquet").num_rows == 0  # empty tables exist


def test_manifest_extra_and_no_keys(tmp_path: Path) -> None:
    w = DecodedWriter(tmp_path / "a")
    with pytest.raises(ValueError, match="keys are never written"):
        w.close(extra={"keys": {"ms": "s3cret"}})
    with pytest.raises(ValueError, match="keys are never written"):
        w.close(extra={"notes": {"hmac_key": "s3cret"}})
    m = w.close(auth_checked=True, extra={"truncated": {"file": "a.pcap", "at_frame": 7}})
    assert m["auth_checked"] is True and m["truncated"]["at_frame"] == 7
    assert m["time_span_ns"] is None
    with pytest.raises(ValueError, match="writer's own"):
        DecodedWriter(tmp_path / "b").close(extra={"rows": 1})


def test_streaming_many_small_batches_in_bounded_row_groups(tmp_path: Path) -> None:
    with DecodedWriter(tmp_path, row_group_rows=1000) as w:
        for k in range(500):
            w.write("data", sample_batch("data", 7, start=k * 7))
            assert sum(b.num_rows for b in w._sinks["data"]._pending) < 1000  # bounded buffer
        w.write("data", sample_batch("data", 2500, start=3500))  # alone more than a group
    pf = pq.ParquetFile(tmp_path / "data.parquet")
    assert pf.metadata.num_rows == 6000
    groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    # 142 batches of 7 fit in 1000 rows (not 500 tiny groups), then the rest; the large batch
    # in groups of at most 1000
    assert groups == [994, 994, 994, 518, 1000, 1000, 500]
    frames = pf.read(columns=["frame"]).column("frame").to_pylist()
    assert frames == list(range(1, 6001))
    assert w.manifest is not None and w.manifest["rows"]["data"] == 6000


def test_a_batch_is_written_at_once_when_one_like_it_would_not_fit(tmp_path: Path) -> None:
    """A batch of more than half a row group is not held until the next one proves that it
    does not fit beside it (that would keep a large batch's memory one batch longer); small
    batches still gather into one row group."""
    with DecodedWriter(tmp_path, row_group_rows=1000) as w:
        sink = w._sinks["data"]
        w.write("data", sample_batch("data", 600))
        assert not sink._pending
        for k in range(3):
            w.write("data", sample_batch("data", 300, start=600 + k * 300))
            assert sink._pending_rows == (300 * (k + 1) if k < 2 else 0)  # a 4th would not fit
        w.write("data", sample_batch("data", 100, start=1500))
        assert sink._pending_rows == 100
    pf = pq.ParquetFile(tmp_path / "data.parquet")
    groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    assert groups == [600, 900, 100]
    assert pf.read(columns=["frame"]).column("frame").to_pylist() == list(range(1, 1601))


def test_row_groups_also_bounded_in_bytes(tmp_path: Path) -> None:
    """Wide rows reach ``row_group_bytes`` before ``row_group_rows``: the buffer stays bounded
    in memory, and each row group holds at most that much Arrow data (here three batches)."""
    one = sample_batch("control", 100)
    limit = int(3.5 * one.nbytes)
    with DecodedWriter(tmp_path, row_group_bytes=limit) as w:
        for k in range(10):
            w.write("control", sample_batch("control", 100, start=k * 100))
            assert sum(b.nbytes for b in w._sinks["control"]._pending) <= limit
    pf = pq.ParquetFile(tmp_path / "control.parquet")
    groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    assert groups == [300, 300, 300, 100]
    assert pf.read(columns=["frame"]).column("frame").to_pylist() == list(range(1, 1001))


def test_streaming_arrow_ipc(tmp_path: Path) -> None:
    with DecodedWriter(tmp_path, fmt="arrow", row_group_rows=100) as w:
        for k in range(50):
            w.write("locators", sample_batch("locators", 9, start=k * 9))
    with pa.memory_map(str(tmp_path / "locators.arrow")) as source:
        reader = ipc.open_file(source)
        assert reader.num_record_batches == 5
        assert reader.read_all().num_rows == 450


def test_table_selection_and_errors(tmp_path: Path) -> None:
    w = DecodedWriter(tmp_path, tables=["control"])
    assert w.tables == ("packets", "control")
    with pytest.raises(ValueError, match="not selected"):
        w.write("records", sample_batch("records", 1))
    with pytest.raises(KeyError, match="unknown table"):
        w.write("nope", sample_batch("records", 1))
    with pytest.raises(ValueError, match="columns differ"):
        w.write("control", sample_batch("records", 1))
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "control.parquet",
        MANIFEST,
        "packets.parquet",
    ]
    with pytest.raises(ValueError, match="closed"):
        w.write("packets", sample_batch("packets", 1))
    with pytest.raises(KeyError, match="unknown table"):
        DecodedWriter(tmp_path / "x", tables=["nope"])
    with pytest.raises(ValueError, match="unknown format"):
        DecodedWriter(tmp_path / "y", fmt="csv")  # type: ignore[arg-type]


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    with DecodedWriter(tmp_path) as w:
        w.write("packets", sample_batch("packets", 3))
    with pytest.raises(FileExistsError, match="already holds decoded tables"):
        DecodedWriter(tmp_path)
    with DecodedWriter(tmp_path, fmt="arrow", overwrite=True) as w:
        w.write("packets", sample_batch("packets", 2))
    assert not (tmp_path / "packets.parquet").exists()
    assert json.loads((tmp_path / MANIFEST).read_text())["rows"]["packets"] == 2
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        DecodedWriter(tmp_path / "file")


def test_an_exception_leaves_no_decoded_output(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DecodedWriter(tmp_path, row_group_rows=10) as w:
        w.write("packets", sample_batch("packets", 5))
        w.write("control", sample_batch("control", 10))
        assert (tmp_path / "control.parquet").exists()  # flushed: a file exists
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
