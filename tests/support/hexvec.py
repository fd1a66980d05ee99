"""Byte-exact test vectors written out as commented hex."""

from __future__ import annotations


def h(text: str) -> bytes:
    """Bytes from hex written with spaces, newlines and ``#`` comments."""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return bytes.fromhex("".join("".join(lines).split()))
