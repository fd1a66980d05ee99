"""The ``--keys`` file: which HMAC key authenticates which site's messages.

A TOML file; every key is tied to EID prefixes (the records a Map-Register, Map-Notify(-Ack) or
Info message carries), optionally to one Key ID::

    # a site: a name of your choice, its key and the EID prefixes it registers
    [sites.campus]
    key = "it's a secret"          # the shared key as text (UTF-8) ...
    # key_hex = "0011aabb..."      # ... or as hex bytes (exactly one of key / key_hex)
    key_id = 1                     # optional: only messages with this Key ID (RFC 9301 high
                                   # byte, or the raw 16-bit value); any Key ID if left out
    eid_prefixes = ["10.1.0.0/16", "2001:db8:1::/48", "[1000]10.2.0.0/16"]

    # shorthand: one prefix, one key
    [eid."192.0.2.0/24"]
    key = "other secret"

    # fallback for messages whose records match no prefix (optional)
    [default]
    key = "lab key"

A message is matched by its first record whose EID prefix lies inside a configured prefix
(the longest configured prefix wins); a message without a match uses ``[default]`` if given,
else its ``auth_ok`` is null. Keys are never printed, logged or written: :class:`KeyRing`'s
``repr`` names only the sites.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dissectors.lisp.auth import key_id_9301_of


class KeyFileError(Exception):
    """The key file cannot be used (one line; never quotes a key)."""


IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class _Entry:
    site: str
    key: bytes = field(repr=False)
    key_id: int | None
    iid: int | None
    net: IpNet | None  # None: the default entry


_IID = re.compile(r"^\[(\d+)\](.*)$")


def _prefix(text: str, where: str) -> tuple[int | None, IpNet]:
    m = _IID.match(text.strip())
    iid = int(m.group(1)) if m else None
    try:
        return iid, ipaddress.ip_network(m.group(2) if m else text.strip(), strict=False)
    except ValueError:
        raise KeyFileError(f"{where}: {text!r} is not an EID prefix") from None


class KeyRing:
    """The keys of a ``--keys`` file, looked up by EID prefix and Key ID."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = sorted(
            entries, key=lambda e: -1 if e.net is None else e.net.prefixlen, reverse=True
        )

    def __repr__(self) -> str:  # never the keys
        return f"KeyRing(sites={sorted({e.site for e in self._entries})})"

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, eids: list[tuple[int | None, str]], key_id: int) -> bytes | None:
        """The key for a message whose records carry ``eids`` (IID or None, ``addr/len``)."""
        nets = []
        for iid, text in eids:
            try:
                nets.append((iid, ipaddress.ip_network(text, strict=False)))
            except ValueError:
                continue
        for e in self._entries:
            if e.key_id is not None and e.key_id not in (key_id, key_id_9301_of(key_id)):
                continue
            if e.net is None:
                return e.key
            for iid, net in nets:
                same = (e.iid is None or e.iid == iid) and net.version == e.net.version
                if same and net.subnet_of(e.net):  # type: ignore[arg-type]
                    return e.key
        return None


def _key_of(table: dict[str, object], where: str) -> bytes:
    text, hexed = table.get("key"), table.get("key_hex")
    if (text is None) == (hexed is None):
        raise KeyFileError(f"{where}: give exactly one of key / key_hex")
    if text is not None:
        if not isinstance(text, str) or not text:
            raise KeyFileError(f"{where}: key must be a non-empty string")
        return text.encode()
    try:
        return bytes.fromhex(str(hexed))
    except ValueError:
        raise KeyFileError(f"{where}: key_hex is not hexadecimal") from None


def _key_id(table: dict[str, object], where: str) -> int | None:
    value = table.get("key_id")
    if value is None:
        return None
    if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise KeyFileError(f"{where}: key_id must be an integer 0-65535")
    return value


def load_keys(path: str | os.PathLike[str]) -> KeyRing:
    """Read a ``--keys`` TOML file (see the module doc); :class:`KeyFileError` if unusable."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as exc:
        raise KeyFileError(f"{p}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{p}: not a TOML key file ({str(exc).splitlines()[0]})") from None
    entries: list[_Entry] = []
    unknown = set(data) - {"sites", "eid", "default"}
    if unknown:
        raise KeyFileError(f"{p}: unknown sections {sorted(unknown)} (sites, eid, default)")
    for name, site in dict(data.get("sites", {})).items():
        where = f"{p}: [sites.{name}]"
        if not isinstance(site, dict):
            raise KeyFileError(f"{where}: not a table")
        key, kid = _key_of(site, where), _key_id(site, where)
        prefixes = site.get("eid_prefixes", [])
        if not isinstance(prefixes, list) or not prefixes:
            raise KeyFileError(f"{where}: eid_prefixes must be a non-empty list")
        for text in prefixes:
            iid, net = _prefix(str(text), where)
            entries.append(_Entry(str(name), key, kid, iid, net))
    for text, table in dict(data.get("eid", {})).items():
        where = f"{p}: [eid.{text!r}]"
        if not isinstance(table, dict):
            raise KeyFileError(f"{where}: not a table")
        iid, net = _prefix(text, where)
        entries.append(_Entry(text, _key_of(table, where), _key_id(table, where), iid, net))
    if "default" in data:
        table = data["default"]
        if not isinstance(table, dict):
            raise KeyFileError(f"{p}: [default] is not a table")
        where = f"{p}: [default]"
        entries.append(_Entry("default", _key_of(table, where), _key_id(table, where), None, None))
    if not entries:
        raise KeyFileError(f"{p}: no keys (see docs/cli.md for the format)")
    return KeyRing(entries)
