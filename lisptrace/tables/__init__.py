"""The decoded tables: Arrow schemas, streaming Parquet/IPC writers, and ``open_decoded``.

Knows nothing of captures, ingest or codecs (see docs/tables.md for every column).
"""

from lisptrace.tables.dataset import Decoded, NotDecodedError, open_decoded
from lisptrace.tables.schema import (
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
from lisptrace.tables.writer import MANIFEST, DecodedWriter

__all__ = [
    "ADDR_BIN",
    "MANIFEST",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLES",
    "Decoded",
    "DecodedWriter",
    "NotDecodedError",
    "canonical_from_bin",
    "conform",
    "ip_bin",
    "ipv4_bin_array",
    "ipv6_bin_array",
    "make_batch",
    "nullable_array",
    "open_decoded",
    "prefix_bounds",
    "schema",
    "schema_markdown",
]
