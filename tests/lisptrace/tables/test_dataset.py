"""open_decoded / lisptrace.open: Arrow tables for DuckDB and pandas, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import lisptrace
from lisptrace.tables import (
    MANIFEST,
    TABLES,
    Decoded,
    DecodedWriter,
    NotDecodedError,
    ip_bin,
    make_batch,
    open_decoded,
    prefix_bounds,
)

from .samples import T0, sample_batch


def _decode(out: Path, fmt: str, n: int = 50) -> dict[str, pa.RecordBatch]:
    batches = {t: sample_batch(t, n) for t in TABLES}
    with DecodedWriter(out, fmt=fmt, sources=["x.pcap"]) as w:  # type: ignore[arg-type]
        for t, b in batches.items():
            w.write(t, b)
    return batches


def test_import_lisptrace_does_not_import_pyarrow() -> None:
    code = "import sys, lisptrace; assert 'pyarrow' not in sys.modules, 'pyarrow imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_open_gives_every_table_and_the_manifest(tmp_path: Path, fmt: str) -> None:
    batches = _decode(tmp_path, fmt)
    d = lisptrace.open(tmp_path)
    assert isinstance(d, Decoded)
    assert d.tables == TABLES
    assert d.manifest["rows"]["packets"] == 50 and d.manifest["sources"] == ["x.pcap"]
    assert d.format == fmt and "packets=50" in repr(d)
    for t in TABLES:
        got = getattr(d, t)
        if fmt == "parquet":
            assert isinstance(got, ds.Dataset)
            table = got.to_table()
        else:
            assert isinstance(got, pa.Table)
            table = got
        assert table.equals(pa.Table.from_batches([batches[t]])), t
        assert d.table(t).equals(table)
    assert d.table("records", columns=["frame", "eid"]).column_names == ["frame", "eid"]


def test_ipc_tables_are_memory_mapped(tmp_path: Path) -> None:
    _decode(tmp_path, "arrow", n=1000)
    d = open_decoded(tmp_path)
    before = pa.total_allocated_bytes()
    table = d.packets
    assert table.num_rows == 1000
    assert pa.total_allocated_bytes() - before < 1024  # buffers point into the mapped file


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_duckdb_reads_the_tables_and_does_prefix_tests(tmp_path: Path, fmt: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    lo, hi = prefix_bounds("10.1.0.0/16")
    records = make_batch(
        "records",
        {
            "frame": [1, 2, 3],
            "time_ns": [T0, T0 + 1, T0 + 2],
            "msg_index": [0, 0, 0],
            "record_index": [0, 0, 0],
            "msg_type": [2, 2, 2],
            "section": ["mapping"] * 3,
            "eid": ["10.1.0.0/16", "10.0.0.0/8", "2001:db8::/32"],
            "eid_mask_len": [16, 8, 32],
            "eid_bin": [lo, prefix_bounds("10.0.0.0/8")[0], prefix_bounds("2001:db8::/32")[0]],
            "eid_end_bin": [hi, prefix_bounds("10.0.0.0/8")[1], prefix_bounds("2001:db8::/32")[1]],
        },
    )
    with DecodedWriter(tmp_path, fmt=fmt) as w:  # type: ignore[arg-type]
        w.write("records", records)
    d = open_decoded(tmp_path)
    rec = d.records  # noqa: F841 - DuckDB finds it by name
    addr = ip_bin("10.1.2.3")
    rows = duckdb.sql(
        "select eid from rec where eid_bin <= $a and $a <= eid_end_bin order by eid_mask_len desc",
        params={"a": addr},
    ).fetchall()
    assert rows == [("10.1.0.0/16",), ("10.0.0.0/8",)]  # longest match first
    joined = duckdb.sql("select count(*) from rec r join rec s using (eid)").fetchall()
    assert joined == [(3,)]


def test_pandas_without_copies(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    _decode(tmp_path, "arrow", n=200)
    d = open_decoded(tmp_path)
    before = pa.total_allocated_bytes()
    df = d.table("packets").to_pandas(types_mapper=pd.ArrowDtype)
    assert pa.total_allocated_bytes() - before < 4096  # the Arrow buffers are shared
    assert len(df) == 200 and str(df["frame"].dtype) == "int64[pyarrow]"
    assert pa.types.is_list(df["anomalies"].dtype.pyarrow_dtype)
    # plain numpy columns zero-copy where the type allows (no nulls, fixed width)
    frames = d.table("packets").column("frame").chunk(0).to_numpy(zero_copy_only=True)
    assert frames[0] == 1


def test_open_a_capture_decodes_it_into_a_directory_gone_with_the_object(tmp_path: Path) -> None:
    import gc

    from lisptrace.ingest.capture import CaptureError
    from lisptrace.ingest.decode import decode

    capture = Path(__file__).resolve().parents[3] / "captures" / "clean-roam-mn.pcapng"
    decode(capture, tmp_path / "cli")
    expected = open_decoded(tmp_path / "cli")
    d = lisptrace.open(capture)
    assert d.manifest["rows"] == expected.manifest["rows"] and d.manifest["frames"] == 53
    assert d.manifest["sources"] == [str(capture)] and d.manifest["auth_checked"] is False
    for t in TABLES:
        assert d.table(t).equals(expected.table(t)), t
    where = d.path
    assert where.is_dir() and where != tmp_path / "cli"
    del d
    gc.collect()
    assert not where.exists()
    keys = tmp_path / "keys.toml"
    keys.write_text('[default]\nkey = "not-the-key"\n')
    checked = lisptrace.open(capture, keys=keys)
    assert checked.manifest["auth_checked"] is True
    assert set(checked.table("control").column("auth_ok").to_pylist()) >= {False}
    not_a_capture = tmp_path / "notes.txt"
    not_a_capture.write_text("hello\n")
    with pytest.raises(CaptureError) as info:
        lisptrace.open(not_a_capture)
    assert "\n" not in str(info.value)


def test_not_a_decoded_output(tmp_path: Path) -> None:
    def err(path: Path) -> str:
        with pytest.raises(NotDecodedError) as info:
            open_decoded(path)
        assert isinstance(info.value, ValueError)
        msg = str(info.value)
        assert "\n" not in msg
        return msg

    assert "no such file" in err(tmp_path / "missing")
    capture = tmp_path / "c.pcap"
    capture.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))
    assert "decode a capture first" in err(capture)
    assert f"no {MANIFEST}" in err(tmp_path)
    (tmp_path / MANIFEST).write_text("{nope")
    assert "unreadable" in err(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"kind": "other"}))
    assert "not a lisptrace manifest" in err(tmp_path)

    out = tmp_path / "out"
    _decode(out, "parquet", n=3)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "schema_version": 99}))
    assert "schema version 99" in err(out)
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "records.parquet").unlink()
    assert "records.parquet is missing" in err(out)
    (out / MANIFEST).write_text(json.dumps({**manifest, "tables": {"packets": "../x"}}))
    assert "unknown table or file" in err(out)
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "records.parquet").write_bytes(b"")
    (out / "packets.parquet").write_bytes(b"garbage")
    assert "packets table unreadable" in err(out)


def test_missing_table_in_a_partial_decode(tmp_path: Path) -> None:
    with DecodedWriter(tmp_path, tables=["control"]) as w:
        w.write("control", sample_batch("control", 2))
    d = open_decoded(tmp_path)
    assert d.tables == ("packets", "control")
    with pytest.raises(KeyError, match="not decoded into this output"):
        d.records  # noqa: B018
    with pytest.raises(KeyError, match="unknown table"):
        d.table("nope")
