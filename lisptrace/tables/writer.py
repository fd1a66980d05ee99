"""Streaming writers: record batches in, one file per table plus ``manifest.json`` out.

Memory stays bounded: batches are buffered per table only up to ``row_group_rows`` rows and
``row_group_bytes`` of Arrow data (wide rows: control messages with their flags and lists),
then written (one Parquet row group / one IPC record batch), so a capture of any size costs the
same.
The manifest is written last, on :meth:`DecodedWriter.close`; a directory without it is not a
decoded output (:func:`lisptrace.tables.open_decoded` refuses it).
"""

from __future__ import annotations

import inspect
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from lisptrace.tables.schema import SCHEMA_VERSION, TABLES, conform, schema

Format = Literal["parquet", "arrow"]

MANIFEST = "manifest.json"
MANIFEST_KIND = "lisptrace-decoded"
SUFFIX: dict[str, str] = {"parquet": ".parquet", "arrow": ".arrow"}
DEFAULT_ROW_GROUP_ROWS = 65_536
DEFAULT_ROW_GROUP_BYTES = 16 << 20  # reached first by tables of ~256 bytes a row and more
DELTA = ("frame", "time_ns")  # increasing integers: delta-encoded in Parquet
NO_DICTIONARY = frozenset((*DELTA, "nonce", "nonce_map_version", "checksum", "timestamp"))
# Text columns written without Parquet statistics (see _parquet_options): names of a code
# that has its own numeric column, categories, and free text.
NO_STATISTICS = frozenset(
    (
        *("type_name", "label", "status_name", "action_name"),
        *("layer", "payload_kind", "section"),
        "info_body",
    )
)

_PAGE_ROWS_OPTION = "max_rows_per_page" in inspect.signature(pq.ParquetWriter).parameters

_FORBIDDEN_WORDS = ("key", "secret", "password", "passphrase", "token")
_ALLOWED_EXTRA = frozenset({"auth_checked"})


def _refuse_secrets(extra: Mapping[str, Any], where: str = "extra") -> None:
    """Keys are never written: refuse manifest fields that look like they could carry one."""
    for name, value in extra.items():
        lowered = name.lower()
        if name not in _ALLOWED_EXTRA and any(w in lowered for w in _FORBIDDEN_WORDS):
            raise ValueError(f"manifest {where}: field {name!r} refused (keys are never written)")
        if isinstance(value, Mapping):
            _refuse_secrets(value, f"{where}.{name}")


def _parquet_options(sch: pa.Schema, rows_per_group: int) -> dict[str, Any]:
    """How a table's columns are laid out in Parquet; none of it changes what a reader gets.

    Measured on the benchmark capture (1M frames, medians of alternating runs): the writer
    alone took 0.86 s of CPU before the statistics and page choices below, 0.79 s after
    (0.78 -> 0.74 s in the decode's writer thread), the files 1.5 % smaller. Almost all of
    it is Parquet encoding (dictionary hashing, definition levels, statistics, zstd); the
    Python side (``conform``, the manifest counts) is ~0.03 s.

    * ``use_dictionary`` only where values repeat (addresses, ports, names, small codes): on
      unique values (``NO_DICTIONARY``: frame, time, nonces, checksums, timestamps) the
      dictionary costs time and then falls back to plain anyway. Plain encoding of the
      repeating integer columns is no faster (zstd then has 4 bytes a value to compress) and
      ~1.6x larger.
    * ``frame``/``time_ns``: DELTA_BINARY_PACKED (increasing integers): about a quarter of
      the packets file, at about the same CPU as plain.
    * ``write_statistics``: min/max and null counts are what readers (DuckDB, pyarrow
      datasets) use to skip row groups, and they are computed value by value: ~17 % of the
      writer's CPU with every column. They are kept on every top-level column except
      booleans and the text in ``NO_STATISTICS``: names of a code that has its own numeric
      column (``type_name``/``type``, ``label``, ``status_name``, ``action_name``),
      categories (``layer``, ``payload_kind``, ``section``: text min/max compares the strings
      one by one, ``layer`` and ``payload_kind`` alone cost ~4 %), free text, and the text
      form of every address (~7 %: their ``*_bin`` twins keep theirs, and prune for prefix
      and range tests too, which text order cannot). So ``frame``, ``time_ns``, every
      ``*_bin`` address, port, integer column (codes, Instance IDs, lengths) and the sparse
      ``error``/``comment`` keep them (~12 % saved). List columns have none (readers do not
      prune on list elements).
    * ``max_rows_per_page``: one data page per column chunk (still cut at the 1 MiB
      ``data_page_size``) instead of pyarrow's 20,000 rows: fewer pages to compress (zstd
      sets up a context per page) and fewer page headers: ~3 % CPU and 2 % smaller files.
      No page index is written, so smaller pages would not help readers skip. (Older
      pyarrow has neither the 20,000-row default nor the option: it is then not passed.)
    * zstd at its default level (1) is kept: lz4 or snappy would save another ~8 % of the
      writer's CPU for files 10-13 % larger, no compression ~10 % for 21 %; negative zstd
      levels ~2 % for 11 %. Row groups of 128Ki-1Mi rows instead of 65,536 made no
      difference beyond the noise.
    """
    names = sch.names
    stats = [
        f.name
        for f in sch
        if not (pa.types.is_nested(f.type) or pa.types.is_boolean(f.type))
        and f.name not in NO_STATISTICS
        and not (pa.types.is_string(f.type) and f"{f.name}_bin" in names)  # text addresses
    ]
    options: dict[str, Any] = {
        "use_dictionary": [n for n in names if n not in NO_DICTIONARY],
        "column_encoding": {n: "DELTA_BINARY_PACKED" for n in DELTA if n in names},
        "write_statistics": stats,
    }
    if _PAGE_ROWS_OPTION:
        options["max_rows_per_page"] = rows_per_group
    return options


class _TableSink:
    """One table's file: buffers at most ``rows_per_group`` rows and ``bytes_per_group`` of
    Arrow data and writes them as one row group when the next batch would not fit, or when
    one of the size of the last would not (a batch larger than that alone is written in row
    groups of ``rows_per_group`` rows)."""

    def __init__(
        self,
        name: str,
        path: Path,
        fmt: Format,
        compression: str | None,
        rows_per_group: int,
        bytes_per_group: int,
    ) -> None:
        self.name = name
        self.path = path
        self.schema = schema(name)
        self.fmt = fmt
        self.compression = compression
        self.rows_per_group = rows_per_group
        self.bytes_per_group = bytes_per_group
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._writer: pq.ParquetWriter | ipc.RecordBatchFileWriter | None = None
        self._sink: pa.NativeFile | None = None

    def _open(self) -> None:
        if self.fmt == "parquet":
            self._writer = pq.ParquetWriter(
                self.path,
                self.schema,
                compression=self.compression or "none",
                **_parquet_options(self.schema, self.rows_per_group),
            )
        else:
            self._sink = pa.OSFile(str(self.path), "wb")
            options = ipc.IpcWriteOptions(compression=self.compression)
            self._writer = ipc.new_file(self._sink, self.schema, options=options)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._pending and self._overflows_with(batch):
            self._flush()
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        self.rows += batch.num_rows
        # written now if a batch like this one would not fit beside it: holding it until the
        # next batch proves so would keep its memory for one batch longer
        if self._overflows_with(batch):
            self._flush()

    def _overflows_with(self, batch: pa.RecordBatch) -> bool:
        """Whether ``batch`` added to the pending rows would exceed a row group's limits."""
        return (
            self._pending_rows + batch.num_rows > self.rows_per_group
            or self._pending_bytes + batch.nbytes > self.bytes_per_group
        )

    def _flush(self) -> None:
        if self._writer is None:
            self._open()
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
        if isinstance(self._writer, pq.ParquetWriter):
            self._writer.write_table(table, row_group_size=self.rows_per_group)
        else:
            assert self._writer is not None
            for batch in table.combine_chunks().to_batches(max_chunksize=self.rows_per_group):
                self._writer.write_batch(batch)

    def close(self) -> None:
        self._flush()  # opens the file if nothing came, so every table exists (maybe empty)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def abort(self) -> None:
        self._pending = []
        try:
            if self._writer is not None:
                self._writer.close()
            if self._sink is not None:
                self._sink.close()
        finally:
            self._writer = self._sink = None
            self.path.unlink(missing_ok=True)


class _Stats:
    """What the manifest says about the packets table, gathered batch by batch."""

    def __init__(self) -> None:
        self.time_min: int | None = None
        self.time_max: int | None = None
        self.anomalies: Counter[str] = Counter()
        self.errors = 0
        self.layers: Counter[str] = Counter()

    def time(self, col: pa.Array | pa.ChunkedArray) -> None:
        if len(col) == 0:
            return
        lo, hi = pc.min_max(col).values()
        if lo.is_valid:
            lo_v, hi_v = lo.as_py(), hi.as_py()
            self.time_min = lo_v if self.time_min is None else min(self.time_min, lo_v)
            self.time_max = hi_v if self.time_max is None else max(self.time_max, hi_v)

    def packets(self, batch: pa.RecordBatch) -> None:
        codes = pc.list_flatten(batch.column("anomalies"))
        if len(codes):
            counts = pc.value_counts(codes)
            for value, count in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                if value is not None:
                    self.anomalies[value] += count
        self.errors += batch.column("error").is_valid().true_count if batch.num_rows else 0
        counts = pc.value_counts(batch.column("layer"))
        for value, count in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            self.layers[value] += count


class DecodedWriter:
    """Write the decoded tables of one or more captures into ``out_dir``.

    ::

        with DecodedWriter("OUT", sources=["a.pcapng"]) as w:
            for batch in batches:
                w.write("packets", batch)      # any table, any order, any batch size
        # OUT/packets.parquet ... OUT/nd_map.parquet, OUT/manifest.json

    ``fmt`` is ``"parquet"`` (default, zstd) or ``"arrow"`` (Arrow IPC file format,
    uncompressed by default so that it can be memory-mapped without a copy; ``compression``
    ``"zstd"``/``"lz4"`` trades that for size). ``tables`` limits the tables written (the
    others are refused by :meth:`write`); ``packets`` is always written. An existing decoded
    output is replaced only with ``overwrite=True``. Leaving the ``with`` block by an exception
    removes the files written so far and writes no manifest.

    The manifest's anomaly counts, error count and time span come from the ``packets`` batches
    (whose ``anomalies`` column holds every code raised in the frame); the time span falls back
    to the other tables when no packet was written.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        fmt: Format = "parquet",
        compression: str | None = "default",
        tables: Iterable[str] | None = None,
        sources: Sequence[str] = (),
        overwrite: bool = False,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
    ) -> None:
        if fmt not in SUFFIX:
            raise ValueError(f"unknown format {fmt!r} (parquet or arrow)")
        if compression == "default":
            compression = "zstd" if fmt == "parquet" else None
        wanted = list(TABLES) if tables is None else ["packets", *tables]
        for name in wanted:
            schema(name)  # KeyError with the known names
        self.out_dir = Path(out_dir)
        self.fmt: Format = fmt
        self.sources: list[str] = [os.fspath(s) for s in sources]
        self._prepare_dir(overwrite)
        self._sinks = {
            name: _TableSink(
                name,
                self.out_dir / f"{name}{SUFFIX[fmt]}",
                fmt,
                compression,
                max(1, row_group_rows),
                max(1, row_group_bytes),
            )
            for name in TABLES
            if name in wanted
        }
        self._stats = _Stats()
        self._other_times = _Stats()
        self._closed = False
        self.manifest: dict[str, Any] | None = None

    def _prepare_dir(self, overwrite: bool) -> None:
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"{out}: exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        ours = [out / MANIFEST] + [out / f"{t}{s}" for t in TABLES for s in SUFFIX.values()]
        present = [p for p in ours if p.exists()]
        if present and not overwrite:
            raise FileExistsError(f"{out}: already holds decoded tables (overwrite to replace)")
        for p in present:
            p.unlink()

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self._sinks)

    def add_source(self, name: str) -> int:
        """Register another input capture; returns its index for ``packets.source``."""
        self.sources.append(os.fspath(name))
        return len(self.sources) - 1

    def write(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        """Append rows to ``table``; the schema must match (safe casts are done)."""
        if self._closed:
            raise ValueError("writer is closed")
        sink = self._sinks.get(table)
        if sink is None:
            schema(table)  # unknown table: KeyError naming the known ones
            raise ValueError(f"table {table!r} was not selected (tables: {', '.join(self._sinks)})")
        data = conform(table, batch)
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        for b in batches:
            if table == "packets":
                self._stats.packets(b)
                self._stats.time(b.column("time_ns"))
            else:
                self._other_times.time(b.column("time_ns"))
            sink.write(b)

    def close(
        self, *, auth_checked: bool = False, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Finish every file, write ``manifest.json`` and return it.

        ``auth_checked`` records whether HMACs were verified (a key file was given; the keys
        themselves are never written). ``extra`` adds JSON-serialisable fields (e.g. a
        truncation warning); names that could carry a secret are refused.
        """
        if self._closed:
            assert self.manifest is not None
            return self.manifest
        extra = dict(extra or {})
        _refuse_secrets(extra)
        # the last row groups of every table, written side by side (Parquet encoding releases
        # the GIL): at the end of a decode nothing else is left to run
        workers = max(1, min(len(self._sinks), os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="lisptrace-close") as pool:
            for done in [pool.submit(sink.close) for sink in self._sinks.values()]:
                done.result()
        self._closed = True
        stats = self._stats
        lo, hi = stats.time_min, stats.time_max
        if lo is None:
            lo, hi = self._other_times.time_min, self._other_times.time_max
        manifest: dict[str, Any] = {
            "kind": MANIFEST_KIND,
            "schema_version": SCHEMA_VERSION,
            "format": self.fmt,
            "tables": {name: sink.path.name for name, sink in self._sinks.items()},
            "rows": {name: sink.rows for name, sink in self._sinks.items()},
            "sources": list(self.sources),
            "time_span_ns": None if lo is None else [lo, hi],
            "frames": self._sinks["packets"].rows,
            "errors": stats.errors,
            "layers": dict(sorted(stats.layers.items())),
            "anomalies": dict(sorted(stats.anomalies.items())),
            "auth_checked": auth_checked,
        }
        clash = set(extra) & set(manifest)
        if clash:
            raise ValueError(f"manifest extra: fields {sorted(clash)} are the writer's own")
        manifest.update(extra)
        tmp = self.out_dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        tmp.replace(self.out_dir / MANIFEST)
        self.manifest = manifest
        return manifest

    def abort(self) -> None:
        """Stop without a manifest and remove the table files written so far."""
        if self._closed:
            return
        self._closed = True
        for sink in self._sinks.values():
            sink.abort()

    def __enter__(self) -> DecodedWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
