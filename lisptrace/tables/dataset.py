"""Open a decoded output directory: the tables as Arrow, ready for DuckDB and pandas."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.ipc as ipc

from lisptrace.tables.schema import META_VERSION, SCHEMA_VERSION, TABLES
from lisptrace.tables.writer import MANIFEST, MANIFEST_KIND, SUFFIX

if TYPE_CHECKING:  # pyarrow.dataset imports pandas (~0.3 s): only when a table is opened
    import pyarrow.dataset as ds


class NotDecodedError(ValueError):
    """The path is not a decoded output lisptrace can read (the message is one line)."""


class Decoded:
    """A decoded output directory.

    ``packets``, ``control``, ``records``, ``locators``, ``data``, ``mobility`` and ``nd_map``
    are, for Parquet output, ``pyarrow.dataset.Dataset`` (nothing read until asked: use
    ``.to_table(columns=..., filter=...)``, or hand it to DuckDB, which pushes projections and
    filters down); for Arrow IPC output, ``pyarrow.Table`` memory-mapped from the file (no read,
    no copy). :meth:`table` always gives a ``pyarrow.Table``. ``manifest`` is the parsed
    ``manifest.json``.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.format: str = manifest["format"]
        self._mapped_cache: dict[str, pa.Table] = {}
        self._files: dict[str, Path] = {
            name: path / file for name, file in manifest["tables"].items()
        }

    def __repr__(self) -> str:
        rows = ", ".join(f"{t}={n}" for t, n in self.manifest["rows"].items())
        return f"<Decoded {self.path} ({self.format}): {rows}>"

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables this output holds (a ``--tables`` decode may hold fewer than all)."""
        return tuple(t for t in TABLES if t in self._files)

    def _file(self, name: str) -> Path:
        if name not in self._files:
            if name in TABLES:
                raise KeyError(f"{self.path}: table {name!r} was not decoded into this output")
            raise KeyError(f"unknown table {name!r} (tables: {', '.join(TABLES)})")
        return self._files[name]

    def dataset(self, name: str) -> ds.Dataset:
        """The table as a ``pyarrow.dataset.Dataset`` (either format)."""
        import pyarrow.dataset as ds

        fmt = "parquet" if self.format == "parquet" else "ipc"
        return ds.dataset(self._file(name), format=fmt)

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """The table as a ``pyarrow.Table`` (IPC: memory-mapped; Parquet: read and decoded)."""
        if self.format == "arrow":
            table = self._mapped(name)
            return table if columns is None else table.select(columns)
        return self.dataset(name).to_table(columns=columns)

    def _mapped(self, name: str) -> pa.Table:
        if name not in self._mapped_cache:
            source = pa.memory_map(str(self._file(name)), "r")
            self._mapped_cache[name] = ipc.open_file(source).read_all()
        return self._mapped_cache[name]

    def _get(self, name: str) -> pa.Table | ds.Dataset:
        return self._mapped(name) if self.format == "arrow" else self.dataset(name)

    @cached_property
    def packets(self) -> pa.Table | ds.Dataset:
        return self._get("packets")

    @cached_property
    def control(self) -> pa.Table | ds.Dataset:
        return self._get("control")

    @cached_property
    def records(self) -> pa.Table | ds.Dataset:
        return self._get("records")

    @cached_property
    def locators(self) -> pa.Table | ds.Dataset:
        return self._get("locators")

    @cached_property
    def data(self) -> pa.Table | ds.Dataset:
        return self._get("data")

    @cached_property
    def mobility(self) -> pa.Table | ds.Dataset:
        return self._get("mobility")

    @cached_property
    def nd_map(self) -> pa.Table | ds.Dataset:
        return self._get("nd_map")


def _fail(path: Path, why: str) -> NotDecodedError:
    return NotDecodedError(f"{path}: {why}")


def open_decoded(path: str | os.PathLike[str]) -> Decoded:
    """Open the directory written by ``lisptrace decode -o`` (or :class:`DecodedWriter`).

    Raises :class:`NotDecodedError` (a ``ValueError``) with a one-line message when ``path`` is
    not such a directory, its manifest is unreadable, it comes from another schema version, or
    a table file is missing.
    """
    p = Path(path)
    if not p.exists():
        raise _fail(p, "no such file or directory")
    if not p.is_dir():
        raise _fail(
            p,
            "not a decoded output directory (decode a capture first: "
            "lisptrace decode CAPTURE -o DIR)",
        )
    mpath = p / MANIFEST
    if not mpath.is_file():
        raise _fail(p, f"not a decoded output directory (no {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(p, f"unreadable {MANIFEST} ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise _fail(p, f"{MANIFEST} is not a lisptrace manifest")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(
            p,
            f"decoded with schema version {version}, this lisptrace reads "
            f"{SCHEMA_VERSION}: decode the capture again",
        )
    fmt = manifest.get("format")
    tables = manifest.get("tables")
    if fmt not in SUFFIX or not isinstance(tables, dict) or "packets" not in tables:
        raise _fail(p, f"{MANIFEST} is incomplete (format/tables)")
    for name, file in tables.items():
        if name not in TABLES or not isinstance(file, str) or Path(file).name != file:
            raise _fail(p, f"{MANIFEST} names an unknown table or file: {name!r}")
        if not (p / file).is_file():
            raise _fail(p, f"table file {file} is missing")
    decoded = Decoded(p, manifest)
    try:
        meta = decoded.dataset("packets").schema.metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise _fail(p, f"packets table unreadable ({type(exc).__name__})") from None
    if meta.get(META_VERSION) != str(SCHEMA_VERSION).encode():
        raise _fail(p, "packets table has another schema version than its manifest")
    return decoded
