"""The truth written beside each lab capture: ``NAME.pcapng`` -> ``NAME.manifest.json``.

A :class:`Manifest` says what the scenario was and what an analysis of its captures must
find: the hosts and their addresses, the capture files and their vantage points, the
roaming events with wall-clock nanosecond times (``time.time_ns()``, the clock of the
capture timestamps), the registrations the Map-Server must have accepted, the application
flows and how they must end, and the rule ids of the violations that must be found --
an empty list means *none* may be found (a clean scenario).

JSON keys are the dataclass field names; unknown keys are kept in ``extra`` so an older
reader does not lose what a newer writer put there. ``version`` is bumped on incompatible
changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lisptrace.lab.netns import Change

if TYPE_CHECKING:
    from lisptrace.lab.capture import CaptureResult
    from lisptrace.lab.netns import Topology

VERSION = 1
CLOCK = "CLOCK_REALTIME ns since the Unix epoch (time.time_ns, pcapng timestamps)"
SUFFIX = ".manifest.json"

T = TypeVar("T")


class ManifestError(ValueError):
    """The file is not a manifest this reader understands."""


@dataclass(slots=True)
class HostInfo:
    """One lab host: its role and the addresses of each interface (``addr/len``)."""

    name: str
    role: str = ""  # "map-server", "mobile-node", "xtr", "router", "app", ...
    namespace: str | None = None
    interfaces: dict[str, list[str]] = field(default_factory=dict)
    eids: list[str] = field(default_factory=list)  # EID prefixes the host owns


@dataclass(slots=True)
class CaptureInfo:
    """A capture file (relative to the manifest) and where it was taken."""

    file: str
    vantage: str  # "mn", "ms", "core", ...
    host: str
    interface: str
    packets: int | None = None
    dropped: int | None = None

    @classmethod
    def from_result(cls, result: CaptureResult, manifest: str | Path) -> CaptureInfo:
        """Describe a finished capture; ``file`` relative to the manifest's directory."""
        base = Path(manifest).resolve().parent
        try:
            file = str(result.path.resolve().relative_to(base))
        except ValueError:
            file = str(result.path)
        return cls(
            file, result.vantage, result.host, result.interface, result.packets, result.dropped
        )


@dataclass(slots=True)
class RoamEvent:
    """A change of a host's point of attachment; times bracket the configuration change."""

    time_ns: int
    host: str
    kind: str  # "set-address" | "move-link" | "nat-rebind" | ...
    end_ns: int | None = None
    interface_from: str = ""
    interface_to: str = ""
    address_from: str | None = None
    address_to: str | None = None

    @classmethod
    def from_change(cls, change: Change) -> RoamEvent:
        return cls(
            change.start_ns,
            change.host,
            change.kind,
            change.end_ns,
            change.interface_from,
            change.interface_to,
            change.address_from,
            change.address_to,
        )


@dataclass(slots=True)
class Registration:
    """A registration the Map-Server must accept (``after_event``: index into events, the
    registration must follow that roam; None: the initial one)."""

    eid_prefix: str
    rlocs: list[str]
    map_server: str
    site: str = ""
    ttl_minutes: int | None = None
    proxy_reply: bool = False
    after_event: int | None = None


@dataclass(slots=True)
class Flow:
    """An application flow of the scenario and what must hold at its end."""

    kind: str  # "tcp" | "udp"
    src: str  # host name
    dst: str
    src_address: str
    dst_address: str
    port: int
    must_survive: bool = True  # tcp: the connection survives; udp: it is still delivered
    max_loss: int | None = None  # udp: datagrams that may be lost (None: not judged)
    result: dict[str, Any] | None = None  # the app's JSON result, once known


@dataclass(slots=True)
class Manifest:
    scenario: str
    backend: str = "netns"  # "netns" | "loopback"
    description: str = ""
    created_ns: int = 0
    clock: str = CLOCK
    version: int = VERSION
    faults: list[str] = field(default_factory=list)  # fault switches that were on
    hosts: list[HostInfo] = field(default_factory=list)
    captures: list[CaptureInfo] = field(default_factory=list)
    events: list[RoamEvent] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # rule ids that must be found
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when no violation may be found."""
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if not isinstance(data, dict) or "scenario" not in data:
            raise ManifestError("not a lisptrace lab manifest (no 'scenario')")
        if int(data.get("version", VERSION)) > VERSION:
            raise ManifestError(f"manifest version {data['version']} is newer than {VERSION}")
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {k: v for k, v in data.items() if k in known and k != "extra"}
        kw["extra"] = {k: v for k, v in data.items() if k not in known}
        nested = {
            "hosts": HostInfo,
            "captures": CaptureInfo,
            "events": RoamEvent,
            "registrations": Registration,
            "flows": Flow,
        }
        try:
            for key, kind in nested.items():
                kw[key] = [_build(kind, item) for item in kw.get(key, [])]
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest: {exc}") from exc

    def write(self, path: str | Path) -> Path:
        """Write (atomically) to ``path``; returns it."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not JSON ({exc})") from exc
        return cls.from_json(data)


def hosts_of(
    topology: Topology,
    roles: dict[str, str] | None = None,
    eids: dict[str, list[str]] | None = None,
) -> list[HostInfo]:
    """:class:`HostInfo` for every host of a topology, addresses as the kernel holds them."""
    roles, eids = roles or {}, eids or {}
    described = topology.describe()
    return [
        HostInfo(name, roles.get(name, host.kind), host.ns, described[name], eids.get(name, []))
        for name, host in topology.hosts.items()
    ]


def _build(kind: type[T], item: dict[str, Any]) -> T:
    known = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v for k, v in item.items() if k in known})


def manifest_path(capture: str | Path) -> Path:
    """``dir/NAME.pcapng`` -> ``dir/NAME.manifest.json``."""
    capture = Path(capture)
    name = capture.name
    for suffix in (".pcapng.gz", ".pcap.gz", ".pcapng", ".pcap"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return capture.with_name(name + SUFFIX)
