"""Anomaly codes raised by the ingest layers (link/IP/UDP/TCP, fragment reassembly, LISP over
TCP), registered in the same catalog as the codecs' (``lisptrace anomalies``,
docs/dissectors.md). Kept free of numpy so that the catalog loads without the decode."""

from __future__ import annotations

from dissectors.core import anomaly_code

IP_TRUNCATED = anomaly_code(
    "ip.truncated", "warn", "IPv4 total length runs past the bytes captured"
)
IPV6_TRUNCATED = anomaly_code(
    "ipv6.truncated", "warn", "IPv6 payload length runs past the bytes captured"
)
IPV6_ATOMIC_FRAGMENT = anomaly_code(
    "ipv6.atomic_fragment", "note", "IPv6 Fragment header with offset 0 and M = 0 (RFC 6946)"
)
IPV6_EXT_MALFORMED = anomaly_code(
    "ipv6.ext.malformed", "error", "an IPv6 extension header could not be decoded"
)
UDP_TRUNCATED = anomaly_code("udp.truncated", "warn", "UDP header or datagram not captured whole")
TCP_TRUNCATED = anomaly_code("tcp.truncated", "warn", "TCP header not captured whole")
TCP_BAD_HEADER_LENGTH = anomaly_code(
    "tcp.bad_header_length", "error", "TCP data offset below 20 bytes or past the segment"
)
FRAGMENT_TRUNCATED = anomaly_code(
    "ip.fragment.truncated", "warn", "IP fragment not captured whole: not reassembled"
)
FRAGMENT_DUPLICATE = anomaly_code(
    "ip.fragment.duplicate", "note", "IP fragment received again (ignored)"
)
FRAGMENT_OVERLAP = anomaly_code(
    "ip.fragment.overlap", "warn", "IP fragment overlaps fragments held, with the same bytes"
)
FRAGMENT_OVERLAP_CONFLICT = anomaly_code(
    "ip.fragment.overlap_conflict",
    "error",
    "IP fragment overlaps fragments held with different bytes: the datagram is given up",
)
FRAGMENT_INCONSISTENT = anomaly_code(
    "ip.fragment.inconsistent", "error", "IP fragments disagree on the datagram's end: given up"
)
FRAGMENT_BAD_LENGTH = anomaly_code(
    "ip.fragment.bad_length", "error", "IP fragment length not a multiple of 8 before the last"
)
FRAGMENT_TOO_BIG = anomaly_code(
    "ip.fragment.too_big", "error", "IP fragment ends past the largest datagram reassembled"
)
FRAGMENT_EVICTED = anomaly_code(
    "ip.fragment.evicted", "warn", "IP fragments given up (memory limit or timeout)"
)
LISP_TCP_NOT_WHOLE = anomaly_code(
    "lisp_tcp.not_whole", "warn", "LISP over TCP: a segment does not hold whole control "
    "messages (no stream reassembly)"
)  # fmt: skip
