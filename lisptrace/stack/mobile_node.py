"""The LISP mobile node (draft-meyer-lisp-mn): a lightweight xTR for its own EID.

What makes it a *mobile* node, on top of the xTR (map-cache, Map-Request on a miss,
encapsulation, SMR handling):

* its RLOCs change: :meth:`MobileNode.set_rlocs`, :meth:`MobileNode.interface_up` and
  :meth:`MobileNode.interface_down` tell it, with the time;
* on every change of its RLOC set it at once (MN-REG-IMMEDIATE) Map-Registers the new set, with
  priorities and weights, from each operational interface to every configured Map-Server
  (MN-REG-ALL-MS, MN-REG-EACH-LINK), flushes its map-cache (MN-CACHE-CLEAR) and sends SMRs to
  the RLOCs of the peers it was exchanging data with (MN-SMR-REQUIRED, SMR-FORMAT) - not its
  configured PETR, which only decapsulates and holds no map-cache entry for the node's EID,
  unless that RLOC also sent data to the node (then it acts as a PITR and has one);
* it refreshes its registration every ``register_interval`` seconds (MN-REG-PERIODIC), with a
  short TTL (MN-TTL-SHORT), want-Map-Notify set, optionally the proxy-Map-Reply bit;
* a Map-Register whose locator set no Map-Notify has confirmed yet (on that interface, to that
  Map-Server) is retransmitted 1, 2 and 4 s apart (3 retries, each with a fresh nonce; any of
  their Map-Notifies stops it), then the periodic refresh takes over; none without
  want-Map-Notify. Map-Register nonces increase (RFC 9301 sec. 5.6: the Map-Server's
  anti-replay check, MS-REG-REPLAY): the caller's clock in microseconds in the high bits, so a
  restarted node on the same (monotonic) clock keeps increasing;
* it answers Map-Requests for its EID itself (A=1, nonce echoed: MN-ANSWER-WHEN-P0);
* traffic covered by a negative mapping goes to its PETR (NEG-MR-TO-PETR);
* behind a NAT it asks its Map-Server with an Info-Request from each new RLOC, compares the
  Info-Reply's global ETR RLOC/port with its own, and if they differ registers through an RTR:
  an ECM-wrapped Map-Register sent to the RTR from port 4341 listing the RTR's RLOC, never its
  private address (NAT-IR-ON-ROAM, NAT-DETECT-ACT, MN-NO-PRIVATE-RLOC); with each such
  register it probes the RTR's data port (an Info-Request behind a data header with IID
  0xFFFFFF, lispers.net style) to open the NAT for the RTR's data, and while NATed sends its
  ECM'd Map-Requests to the RTR (which asks with its own RLOC as ITR-RLOC and relays the reply).

Fault switches (``MobileNodeConfig.faults``) each break exactly one rule of the catalog, so that
the audit and the conformance suite can be shown to catch it: see :data:`FAULTS`.

API (besides the :class:`~lisptrace.stack.role.Role` methods ``bind``/``receive``/``tick``/
``next_deadline``)::

    node = MobileNode(MobileNodeConfig.from_dict(table), seed=1)
    node.tick(now)                              # first tick: registers the configured RLOCs
    node.set_rlocs(now, {"wlan0": "198.51.100.7", "lte0": None})
    node.interface_up(now, "wlan0", "198.51.100.77")
    node.interface_down(now, "lte0")
    node.send_packet(now, ip_packet)            # from the node's own stack (source = its EID)

Each returns the outputs to carry out. The ``rlocs-changed`` Decision (fields ``rlocs``, ``new``,
``gone``) tells an adapter which local endpoints to (re)bind: :meth:`MobileNode.bind` always
lists the current ones.

The xTR part is :class:`lisptrace.stack.xtr.ItrEngine` (map-cache, Map-Requests with retries,
locator choice, encapsulation, SMR handling), composed here and told the current RLOCs (best
priority first) after every change; this module adds only what is mobile-node specific.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dissectors import DecodeError
from dissectors.inet import IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.afi import Address, IPv4, IPv6
from dissectors.lisp.auth import verify
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.info import Info
from dissectors.lisp.lcaf import NatTraversal
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import ControlMessage, parse_control
from dissectors.lisp.records import Action, EidRecord, Locator
from lisptrace.stack.map_cache import CacheEntry
from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import (
    LISP_CONTROL_PORT,
    LISP_DATA_PORT,
    Datagram,
    Decision,
    Deliver,
    Endpoint,
    IPAddress,
    Output,
    Send,
)
from lisptrace.stack.rtr import CONTROL_IID
from lisptrace.stack.xtr import ItrEngine, is_private, lisp_address, parse_ip

# -- faults --------------------------------------------------------------------------------

FAULTS: dict[str, str] = {
    "no-smr": "MN-SMR-REQUIRED",  # no SMRs after a roam
    "long-ttl": "MN-TTL-SHORT",  # advertises TTL 1440 minutes
    "late-register": "MN-REG-IMMEDIATE",  # registers only late_register_delay s after a change
    "no-cache-clear": "MN-CACHE-CLEAR",  # keeps its map-cache across a roam
    "private-rloc": "MN-NO-PRIVATE-RLOC",  # registers its private RLOC directly when NATed
}
"""Fault switch -> the catalog rule it breaks (and nothing else). The xTR's ``private-rloc``
breaks the same rule another way (it lists a private RLOC as a usable locator:
:mod:`lisptrace.stack.xtr`)."""

LONG_TTL_MINUTES = 1440
ACTIVE_ACTIVE = "active-active"
ACTIVE_PASSIVE = "active-passive"


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    """One interface of the mobile node: its name and, optionally, the priority/weight its RLOC
    is advertised with (``None``: derived from the multihoming policy)."""

    name: str
    priority: int | None = None
    weight: int | None = None
    address: IPAddress | None = None  # initial RLOC (None: down until interface_up)


def _addr(value: object) -> IPAddress:
    return ipaddress.ip_address(str(value))


def _bytes(value: object) -> bytes:
    """A key: bytes, a config ``Secret`` (``.reveal()``), ``"hex:..."`` or text."""
    reveal = getattr(value, "reveal", None)
    if callable(reveal):
        value = reveal()
    if isinstance(value, bytes):
        return value
    text = str(value)
    return bytes.fromhex(text[4:]) if text.startswith("hex:") else text.encode()


def _snake(table: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).replace("-", "_"): v for k, v in table.items()}


@dataclass(frozen=True)
class MobileNodeConfig:
    """Configuration of a :class:`MobileNode` (TOML via :meth:`from_dict`).

    ``ttl`` is in minutes (record TTL, default 1: MN-TTL-SHORT wants 1-2 minutes). ``key_id`` is
    the raw 16-bit Key ID field: 1 HMAC-SHA-1-96, 2 HMAC-SHA-256-128 (RFC 9301 key id 0 with
    algorithm 1/2). ``smr_dont_map_reply`` sets the RFC 9301 D bit on SMRs. ``faults``: names
    from :data:`FAULTS`.
    """

    eid: EidPrefix
    key: bytes
    map_servers: tuple[IPAddress, ...]
    key_id: int = 1
    auth_length: int | None = None  # digest bytes sent (None: full 20/32)
    map_resolver: IPAddress | None = None
    petr: IPAddress | None = None
    ttl: int = 1
    proxy_reply: bool = False
    want_map_notify: bool = True
    register_interval: float = 60.0
    interfaces: tuple[InterfaceConfig, ...] = ()
    multihoming: str = ACTIVE_ACTIVE
    smr_dont_map_reply: bool = True
    smr_after_notify: bool = True  # SMR once the Map-Notify confirms the new set ...
    smr_notify_wait: float = 1.0  # ... or after this many seconds without one
    smr_retries: int = 2  # further SMRs to a peer that neither asked nor sent data
    smr_retry_interval: float = 1.0
    peer_window: float = 60.0  # a peer is "talking to us" if data flowed within this window
    default_petr_entry: bool = False  # MN 7.2: send to the PETR while a mapping is resolved
    nat_traversal: bool = False
    allow_private_rlocs: bool = False  # closed private deployments (labs on 10/8 ...)
    info_timeout: float = 2.0  # no Info-Reply by then: register directly
    xtr_id: bytes | None = None  # for registrations through an RTR (default: from the EID)
    site_id: bytes = bytes(8)
    map_request_interval: float = 1.0  # MREQ-RATE: at most one request per EID per second
    faults: frozenset[str] = frozenset()
    late_register_delay: float = 10.0  # the `late-register` fault's N

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(FAULTS)}")
        if self.multihoming not in (ACTIVE_ACTIVE, ACTIVE_PASSIVE):
            raise ValueError(f"multihoming is {ACTIVE_ACTIVE!r} or {ACTIVE_PASSIVE!r}")
        if not self.map_servers:
            raise ValueError("a mobile node needs at least one Map-Server")
        if self.key_id & 0xFF not in (1, 2):
            raise ValueError("key_id: algorithm 1 (HMAC-SHA-1-96) or 2 (HMAC-SHA-256-128)")
        if not 0 <= self.ttl <= 0xFFFFFFFF:
            raise ValueError("ttl is in minutes, 0..0xFFFFFFFF")
        names = [i.name for i in self.interfaces]
        if len(set(names)) != len(names):
            raise ValueError("interface names must be unique")

    @property
    def record_ttl(self) -> int:
        """The TTL (minutes) the node advertises, after the `long-ttl` fault."""
        return LONG_TTL_MINUTES if "long-ttl" in self.faults else self.ttl

    @property
    def eid_address(self) -> IPAddress:
        return self.eid.address

    @property
    def effective_xtr_id(self) -> bytes:
        if self.xtr_id is not None:
            return self.xtr_id
        return hashlib.sha256(str(self.eid).encode()).digest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MobileNodeConfig:
        """From a TOML-shaped mapping::

        eid = "192.0.2.10"            # or "192.0.2.10/32", "[1000]192.0.2.10/32"
        key = "secret"
        key_id = 1
        map_servers = ["203.0.113.1"]
        map_resolver = "203.0.113.1"
        petr = "203.0.113.2"
        ttl = 1                        # minutes
        proxy_reply = false
        multihoming = "active-passive"
        faults = ["no-smr"]            # or a table: {late-register = 10}
        [interfaces.wlan0]
        priority = 1
        address = "198.51.100.7"
        """
        d = _snake(data)
        try:
            eid_text = str(d.pop("eid"))
            key = _bytes(d.pop("key"))
            servers = d.pop("map_servers", d.pop("map_server", None))
        except KeyError as exc:
            raise ValueError(f"mobile node configuration lacks {exc.args[0]!r}") from None
        if servers is None:
            raise ValueError("mobile node configuration lacks 'map_servers'")
        if isinstance(servers, str):
            servers = [servers]
        eid = EidPrefix.parse(eid_text) if "/" in eid_text else EidPrefix.host(eid_text)
        interfaces = d.pop("interfaces", {})
        ifaces: list[InterfaceConfig] = []
        items = (
            interfaces.items()
            if isinstance(interfaces, Mapping)
            else [(i["name"], i) for i in interfaces]
        )
        for name, spec in items:
            spec = _snake(spec or {})
            address = spec.get("address")
            ifaces.append(
                InterfaceConfig(
                    str(name),
                    spec.get("priority"),
                    spec.get("weight"),
                    _addr(address) if address else None,
                )
            )
        faults_raw = d.pop("faults", ())
        late = d.pop("late_register_delay", None)
        if isinstance(faults_raw, Mapping):
            faults = frozenset(str(k) for k, v in faults_raw.items() if v is not False)
            value = faults_raw.get("late-register")
            if isinstance(value, int | float) and not isinstance(value, bool):
                late = value
        elif isinstance(faults_raw, str):
            faults = frozenset([faults_raw])
        else:
            faults = frozenset(str(f) for f in faults_raw)
        kwargs: dict[str, Any] = {}
        for name in ("map_resolver", "petr"):
            if d.get(name):
                kwargs[name] = _addr(d.pop(name))
            else:
                d.pop(name, None)
        if "xtr_id" in d:
            kwargs["xtr_id"] = bytes.fromhex(str(d.pop("xtr_id")))
        if "site_id" in d:
            kwargs["site_id"] = bytes.fromhex(str(d.pop("site_id")))
        if late is not None:
            kwargs["late_register_delay"] = float(late)
        plain = {
            "key_id": int,
            "auth_length": int,
            "ttl": int,
            "proxy_reply": bool,
            "want_map_notify": bool,
            "register_interval": float,
            "multihoming": str,
            "smr_dont_map_reply": bool,
            "smr_after_notify": bool,
            "smr_notify_wait": float,
            "smr_retries": int,
            "smr_retry_interval": float,
            "peer_window": float,
            "default_petr_entry": bool,
            "nat_traversal": bool,
            "allow_private_rlocs": bool,
            "info_timeout": float,
            "map_request_interval": float,
        }
        for name, kind in plain.items():
            if name in d:
                kwargs[name] = kind(d.pop(name))
        d.pop("role", None)
        d.pop("name", None)
        if d:
            raise ValueError(f"unknown mobile node setting(s): {sorted(d)}")
        return cls(
            eid=eid,
            key=key,
            map_servers=tuple(_addr(s) for s in servers),
            interfaces=tuple(ifaces),
            faults=faults,
            **kwargs,
        )


# -- state ---------------------------------------------------------------------------------


@dataclass(slots=True)
class NatState:
    """What the node knows about the NAT in front of one interface."""

    nonce: int | None = None  # outstanding Info-Request
    sent: float = 0.0
    natted: bool | None = None  # None: not known yet
    global_rloc: IPAddress | None = None
    global_port: int | None = None
    rtrs: tuple[IPAddress, ...] = ()
    probe_nonce: int | None = None  # outstanding Info-Request probe to the RTR's data port


@dataclass(slots=True)
class Peer:
    """A peer RLOC the node exchanged data with: when, and the peer EID last seen there."""

    rloc: IPAddress
    eid: IPAddress
    last_seen: float
    last_inbound: float | None = None  # last data *from* this RLOC (None: we only sent)


@dataclass(slots=True)
class PendingSmr:
    rloc: IPAddress
    eid: IPAddress
    due: float
    left: int  # SMRs still to send (first one included)
    sent_at: float | None = None


@dataclass(slots=True)
class RegisterRetransmit:
    """Retransmission of the Map-Register on one path (interface, Map-Server) until a
    Map-Notify confirms the set it carries."""

    interface: str
    rloc: IPAddress
    map_server: IPAddress
    locators: tuple[Locator, ...]
    due: float
    retries: int = 0  # retransmissions sent so far
    exhausted: bool = False  # the last retry went; ``due`` = when to give up waiting


REGISTER_RETRY_FIRST = 1.0  # s: the first retransmission; then 2, 4 s (exponential back-off)
REGISTER_RETRIES = 3  # then the periodic refresh takes over


@dataclass(slots=True)
class OutstandingRegister:
    nonce: int
    sent: float
    interface: str
    map_server: IPAddress
    locators: tuple[Locator, ...]


def _split_weights(shares: list[int]) -> list[int]:
    """Scale positive ``shares`` to integers summing to 100 (largest remainder)."""
    total = sum(shares)
    exact = [s * 100 / total for s in shares]
    out = [int(x) for x in exact]
    rest = 100 - sum(out)
    order = sorted(range(len(shares)), key=lambda i: (out[i] - exact[i], i))
    for i in order[:rest]:
        out[i] += 1
    return [max(w, 1) for w in out]


def _ip_address(address: Address) -> IPAddress | None:
    return address.address if isinstance(address, IPv4 | IPv6) else None


def _wire(address: IPAddress) -> Address:
    return lisp_address(address)


# -- the role ------------------------------------------------------------------------------


class MobileNode:
    """The mobile node role (sans-I/O: see :mod:`lisptrace.stack.role`)."""

    def __init__(
        self, config: MobileNodeConfig, *, name: str = "mobile-node", seed: int | None = None
    ) -> None:
        self.config = config
        self.name = name
        self.rng = random.Random(seed)
        self.interfaces: dict[str, IPAddress] = {}  # operational interface -> its RLOC
        self.nat: dict[str, NatState] = {}
        self.peers: dict[IPAddress, Peer] = {}
        self.pending_smrs: dict[IPAddress, PendingSmr] = {}
        self.outstanding: dict[int, OutstandingRegister] = {}
        self.retransmits: dict[tuple[str, IPAddress], RegisterRetransmit] = {}
        # (interface, Map-Server) -> the locator set a verified Map-Notify confirmed there
        self.confirmed: dict[tuple[str, IPAddress], tuple[Locator, ...]] = {}
        self._last_register_nonce = 0
        self.advertised: tuple[Locator, ...] = ()
        self.registered_at: float | None = None  # last verified Map-Notify
        self.changed_at: float | None = None  # last RLOC-set change
        self._register_due: float | None = None
        self._due_reason = "register"
        self._hold_until = 0.0  # `late-register`: no registration before this
        self._smr_wait_until: float | None = None  # SMRs wait for a Map-Notify until then
        self._init_data_plane()
        self._started = False
        for iface in config.interfaces:
            if iface.address is not None:
                self.interfaces[iface.name] = iface.address

    # -- Role ------------------------------------------------------------------------------

    def bind(self) -> list[Endpoint]:
        """Control and data ports on every current RLOC."""
        return [
            Endpoint(addr, port)
            for addr in self.interfaces.values()
            for port in (LISP_CONTROL_PORT, LISP_DATA_PORT)
        ]

    def start(self, now: float) -> list[Output]:
        """Register the configured initial RLOCs (the first RLOC-set "change")."""
        self._started = True
        return self._rlocs_changed(now, set())

    def next_deadline(self) -> float | None:
        if not self._started and self.interfaces:
            return 0.0  # register the configured RLOCs at the first tick
        times = [
            t
            for t in (self._register_due, self._smr_wait_until, self._data_deadline())
            if t is not None
        ]
        times += [s.due for s in self.pending_smrs.values() if self._smr_wait_until is None]
        times += [r.due for r in self.retransmits.values()]
        times += [
            st.sent + self.config.info_timeout for st in self.nat.values() if st.nonce is not None
        ]
        return min(times) if times else None

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        if not self._started:
            out += self.start(now)
        for iface, st in list(self.nat.items()):
            if st.nonce is not None and now >= st.sent + self.config.info_timeout:
                st.nonce = None
                if st.natted is not None:  # a lost refresh: keep the verdict
                    out.append(Decision(now, "nat-info-timeout", f"{iface}: refresh unanswered"))
                    continue
                st.natted = False
                out.append(
                    Decision(now, "nat-info-timeout", f"{iface}: no Info-Reply, register directly")
                )
                out += self._request_round(now, "info-timeout")
        if self._register_due is not None and now >= self._register_due:
            out += self._register_round(now, self._due_reason)
        out += self._retransmit_registers(now)
        if self._smr_wait_until is not None and now >= self._smr_wait_until:
            out.append(Decision(now, "smr-notify-timeout", "no Map-Notify yet: SMR anyway"))
            self._smr_wait_until = None
        if self._smr_wait_until is None:
            out += self._send_due_smrs(now)
        out += self._data_tick(now)
        return out

    # -- RLOC changes ------------------------------------------------------------------------

    def set_rlocs(
        self, now: float, interfaces: Mapping[str, str | IPAddress | None]
    ) -> list[Output]:
        """Replace the whole set of operational interfaces (name -> RLOC; None = down)."""
        before = set(self.interfaces.items())
        self.interfaces = {
            name: _addr(addr) for name, addr in interfaces.items() if addr is not None
        }
        return self._after_change(now, before)

    def interface_up(self, now: float, name: str, address: str | IPAddress) -> list[Output]:
        """Interface ``name`` got RLOC ``address`` (a new one, or a changed address)."""
        before = set(self.interfaces.items())
        self.interfaces[name] = _addr(address)
        return self._after_change(now, before)

    def interface_down(
        self, now: float, name: str, address: str | IPAddress | None = None
    ) -> list[Output]:
        """Interface ``name`` lost its RLOC (``address``, if given, must be the current one)."""
        before = set(self.interfaces.items())
        current = self.interfaces.get(name)
        if current is not None and (address is None or _addr(address) == current):
            del self.interfaces[name]
        return self._after_change(now, before)

    def _after_change(self, now: float, before: set[tuple[str, IPAddress]]) -> list[Output]:
        self._order_interfaces()
        if set(self.interfaces.items()) == before:
            return []
        self._started = True
        return self._rlocs_changed(now, before)

    def _order_interfaces(self) -> None:
        order = {iface.name: i for i, iface in enumerate(self.config.interfaces)}
        self.interfaces = dict(
            sorted(self.interfaces.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        )

    def _rlocs_changed(self, now: float, before: set[tuple[str, IPAddress]]) -> list[Output]:
        cfg = self.config
        after = set(self.interfaces.items())
        out: list[Output] = [
            Decision(
                now,
                "rlocs-changed",
                ", ".join(f"{n}={a}" for n, a in self.interfaces.items()) or "no RLOC",
                {
                    "rlocs": [str(a) for a in self.interfaces.values()],
                    "gone": sorted(str(a) for _, a in before - after),
                    "new": sorted(str(a) for _, a in after - before),
                },
            )
        ]
        self.changed_at = now
        self._sync_itr()
        # peers of the old RLOC set, before the cache goes (MN-SMR-REQUIRED)
        targets = [p for p in self.peers.values() if p.last_seen >= now - cfg.peer_window]
        self.peers = {p.rloc: p for p in targets}
        targets, petr_skipped = self._smr_targets(now, targets)
        # our RTRs relayed for us (no map-cache entry for our EID there): no SMR to them
        rtrs = {r for st in self.nat.values() if st.natted for r in st.rtrs}
        rtr_skipped = [p for p in targets if p.rloc in rtrs]
        targets = [p for p in targets if p.rloc not in rtrs]
        # NAT state belongs to an (interface, address); a new address asks again
        for name in list(self.nat):
            if (name, self.interfaces.get(name)) not in after or (name, self.interfaces[name]) in (
                after - before
            ):
                del self.nat[name]
        if "late-register" in cfg.faults:
            self._hold_until = now + cfg.late_register_delay
        if cfg.nat_traversal:
            for name, addr in self.interfaces.items():
                if name not in self.nat:
                    out += self._send_info_request(now, name, addr)
        out += self._request_round(now, "rloc-change")
        if "no-cache-clear" in cfg.faults:
            out.append(Decision(now, "cache-kept", "fault no-cache-clear: map-cache kept"))
        else:
            out += self._clear_map_cache(now)
        if petr_skipped is not None:
            out.append(
                Decision(
                    now,
                    "peer-skipped",  # (no "smr" in the kind: the lab times SMR decisions)
                    f"no SMR to {petr_skipped.rloc}: the PETR, it sent us no data (no map-cache)",
                    {"peer_rloc": str(petr_skipped.rloc), "reason": "petr"},
                )
            )
        for p in rtr_skipped:
            out.append(
                Decision(
                    now,
                    "peer-skipped",
                    f"no SMR to {p.rloc}: our RTR, it relayed for us (no map-cache)",
                    {"peer_rloc": str(p.rloc), "reason": "rtr"},
                )
            )
        if "no-smr" in cfg.faults:
            if targets:
                out.append(Decision(now, "smr-suppressed", f"fault no-smr: {len(targets)} peer(s)"))
        elif targets and self.interfaces:
            self._schedule_smrs(now, targets)
            if self._smr_wait_until is None:
                out += self._send_due_smrs(now)
        return out

    # -- registration ----------------------------------------------------------------------

    def locator_set(self) -> tuple[Locator, ...]:
        """The locators the node advertises now: each operational interface's RLOC - or, for
        an interface found behind a NAT, the RTR RLOCs (unless the `private-rloc` fault) -
        with priorities/weights from the multihoming policy. Interfaces whose NAT verdict is
        still pending are left out (their address may be private), and so are RFC 1918 /
        fc00::/7 RLOCs unless ``allow_private_rlocs`` (MN-NO-PRIVATE-RLOC)."""
        cfg = self.config
        specs = self._interface_specs()
        entries: list[tuple[IPAddress, bool, InterfaceConfig]] = []
        for name, addr in self.interfaces.items():
            spec = specs[name]
            st = self.nat.get(name)
            if cfg.nat_traversal and (st is None or st.natted is None):
                continue
            if st is not None and st.natted and "private-rloc" not in cfg.faults:
                entries += [
                    (rtr, False, spec) for rtr in st.rtrs if rtr not in {e[0] for e in entries}
                ]
            elif addr in {e[0] for e in entries}:
                continue
            elif self._may_advertise(addr):
                entries.append((addr, True, spec))
        if not entries:
            return ()
        if cfg.multihoming == ACTIVE_ACTIVE:
            prio = min((s.priority for _, _, s in entries if s.priority is not None), default=1)
            priorities = [prio] * len(entries)
        else:
            priorities = [s.priority if s.priority is not None else 1 for _, _, s in entries]
        weights = _split_weights([s.weight if s.weight else 1 for _, _, s in entries])
        return tuple(
            Locator(_wire(addr), priority=p, weight=w, local=local)
            for (addr, local, _), p, w in zip(entries, priorities, weights, strict=True)
        )

    def _may_advertise(self, addr: IPAddress) -> bool:
        cfg = self.config
        return cfg.allow_private_rlocs or "private-rloc" in cfg.faults or not is_private(addr)

    def _interface_specs(self) -> dict[str, InterfaceConfig]:
        """Each operational interface's settings; active/passive without configured
        priorities ranks them in configuration order (1, 2, ...)."""
        cfg = self.config
        by_name = {i.name: i for i in cfg.interfaces}
        specs = {}
        for rank, name in enumerate(self.interfaces):
            spec = by_name.get(name, InterfaceConfig(name))
            if spec.priority is None and cfg.multihoming == ACTIVE_PASSIVE:
                spec = replace(spec, priority=rank + 1)
            specs[name] = spec
        return specs

    def _ranked_rlocs(self) -> list[IPAddress]:
        """The operational RLOCs, best priority first (configuration order among equals)."""
        active_active = self.config.multihoming == ACTIVE_ACTIVE
        specs = self._interface_specs()
        ranked = sorted(
            enumerate(self.interfaces.items()),
            key=lambda item: (
                0 if active_active else (specs[item[1][0]].priority or 1),
                item[0],
            ),
        )
        return [addr for _, (_, addr) in ranked]

    def eid_record(self) -> EidRecord:
        eid, mask_len = self.config.eid.to_wire()
        return EidRecord(
            eid,
            mask_len,
            self.advertised or self.locator_set(),
            ttl=self.config.record_ttl,
            authoritative=True,
        )

    def _request_round(self, now: float, why: str) -> list[Output]:
        """Register now (or, under `late-register`, once the hold is over)."""
        due = max(now, self._hold_until)
        if due > now:
            self._register_due = due
            self._due_reason = why
            return [
                Decision(now, "register-held", f"fault late-register: until {due:g}", {"due": due})
            ]
        return self._register_round(now, why)

    def _register_round(self, now: float, why: str) -> list[Output]:
        cfg = self.config
        self._register_due = now + cfg.register_interval
        self._due_reason = "periodic"
        out: list[Output] = []
        if cfg.nat_traversal and why == "periodic":  # NAT-IR-REFRESH
            for name, addr in self.interfaces.items():
                st = self.nat.get(name)
                if st is not None and st.nonce is None:
                    out += self._send_info_request(now, name, addr, refresh=True)
        self.advertised = self.locator_set()
        self._sync_itr()
        withheld = [
            f"{name}={addr}"
            for name, addr in self.interfaces.items()
            if not self._may_advertise(addr) and not (self.nat.get(name) or NatState()).natted
        ]
        if withheld:
            out.append(Decision(now, "private-rloc-withheld", ", ".join(withheld)))
        retransmits, self.retransmits = self.retransmits, {}
        if not self.advertised:
            if retransmits:
                out.append(Decision(now, "register-retransmit-cancelled", "no locator to register"))
            return out
        for name, addr in self.interfaces.items():
            st = self.nat.get(name)
            if cfg.nat_traversal and (st is None or st.natted is None):
                continue
            via_rtr = st is not None and st.natted and "private-rloc" not in cfg.faults
            if via_rtr and not (st and st.rtrs):
                continue  # NATed and no RTR: nothing reaches us there (nat-no-rtr logged)
            for ms in cfg.map_servers:
                if ms.version != addr.version:
                    continue
                out += self._send_register(now, name, addr, ms, why)
                path = (name, ms)
                if cfg.want_map_notify and self.confirmed.get(path) != self.advertised:
                    self.retransmits[path] = RegisterRetransmit(
                        name, addr, ms, self.advertised, now + REGISTER_RETRY_FIRST
                    )
        self._forget_old_registers(now)
        return out

    def _next_register_nonce(self, now: float) -> int:
        """Increasing Map-Register nonces (RFC 9301 sec. 5.6, MS-REG-REPLAY): the clock in
        microseconds above 16 random bits (two nodes started together differ), and always
        above the previous one."""
        stamp = (max(int(now * 1_000_000), 0) << 16) | self.rng.getrandbits(16)
        nonce = max(self._last_register_nonce + 1, stamp) & 0xFFFF_FFFF_FFFF_FFFF
        self._last_register_nonce = nonce
        return nonce

    def _send_register(
        self,
        now: float,
        name: str,
        addr: IPAddress,
        ms: IPAddress,
        why: str,
        extra: dict[str, object] | None = None,
    ) -> list[Output]:
        """One signed Map-Register of the advertised set from interface ``name`` to ``ms``
        (through the interface's RTR when it is NATed), remembered by nonce."""
        cfg = self.config
        out: list[Output] = []
        st = self.nat.get(name)
        via_rtr = st is not None and st.natted and "private-rloc" not in cfg.faults
        record = self.eid_record()
        nonce = self._next_register_nonce(now)
        reg = MapRegister(
            nonce=nonce,
            key_id=cfg.key_id,
            records=(record,),
            proxy_map_reply=cfg.proxy_reply,
            want_map_notify=cfg.want_map_notify,
            xtr_id=cfg.effective_xtr_id if via_rtr else None,
            site_id=cfg.site_id if via_rtr else None,
        ).sign(cfg.key, cfg.auth_length)
        self.outstanding[nonce] = OutstandingRegister(nonce, now, name, ms, self.advertised)
        fields: dict[str, object] = {
            "interface": name,
            "rloc": str(addr),
            "map_server": str(ms),
            "nonce": nonce,
            "locators": [str(loc.address) for loc in self.advertised],
            "ttl": record.ttl,
            "reason": why,
            **(extra or {}),
        }
        if via_rtr and st is not None and st.rtrs:
            rtr = next((r for r in st.rtrs if r.version == addr.version), st.rtrs[0])
            ecm = self._ecm(addr, ms, reg.build(), to_rtr=True)
            out.append(
                Send(
                    Datagram(ecm, Endpoint(addr, LISP_DATA_PORT), Endpoint(rtr, LISP_CONTROL_PORT))
                )
            )
            fields["rtr"] = str(rtr)
            out.append(Decision(now, "register-sent-via-rtr", f"{name} via {rtr}", fields))
            out += self._probe_rtr(now, name, addr, rtr)
        else:
            out.append(
                Send(
                    Datagram(
                        reg.build(),
                        Endpoint(addr, LISP_CONTROL_PORT),
                        Endpoint(ms, LISP_CONTROL_PORT),
                    )
                )
            )
            out.append(Decision(now, "register-sent", f"{name} -> {ms}", fields))
        return out

    def _retransmit_registers(self, now: float) -> list[Output]:
        """Map-Registers no Map-Notify confirmed: again after 1, 2, 4 s (a fresh, greater nonce
        each time, so a Map-Server's anti-replay check never drops a retransmission whose
        original arrived), then give up until the periodic refresh."""
        out: list[Output] = []
        for path, rt in list(self.retransmits.items()):
            if rt.due > now:
                continue
            name, ms = path
            fields: dict[str, object] = {
                "interface": name,
                "map_server": str(ms),
                "retries": rt.retries,
            }
            if self.interfaces.get(name) != rt.rloc or rt.locators != self.advertised:
                del self.retransmits[path]  # the path or the set changed (a new round is due)
                out.append(
                    Decision(now, "register-retransmit-cancelled", f"{name} -> {ms}", fields)
                )
                continue
            if rt.exhausted:
                del self.retransmits[path]
                fields["next_register"] = self._register_due
                detail = f"{name} -> {ms}: no Map-Notify after {rt.retries} retries"
                if self._register_due is not None:
                    detail += f", periodic refresh at {self._register_due:g}"
                out.append(Decision(now, "register-retries-exhausted", detail, fields))
                continue
            rt.retries += 1
            backoff = REGISTER_RETRY_FIRST * 2**rt.retries  # the wait after this one
            rt.due = now + backoff
            rt.exhausted = rt.retries >= REGISTER_RETRIES
            fields.update(retries=rt.retries, next_in=backoff, last=rt.exhausted)
            out.append(
                Decision(
                    now,
                    "register-retransmit",
                    f"{name} -> {ms}: no Map-Notify, retry {rt.retries}/{REGISTER_RETRIES}",
                    fields,
                )
            )
            out += self._send_register(now, name, rt.rloc, ms, "retransmit", {"retry": rt.retries})
        return out

    def _forget_old_registers(self, now: float) -> None:
        limit = now - 3 * self.config.register_interval
        for nonce in [n for n, o in self.outstanding.items() if o.sent < limit]:
            del self.outstanding[nonce]

    def _ecm(self, src: IPAddress, dst: IPAddress, message: bytes, *, to_rtr: bool) -> bytes:
        header: Ipv4Header | Ipv6Header = (
            Ipv4Header(src, dst)  # type: ignore[arg-type]
            if src.version == 4
            else Ipv6Header(src, dst)  # type: ignore[arg-type]
        )
        inner = IpPacket(header, UdpDatagram(LISP_CONTROL_PORT, LISP_CONTROL_PORT, message))
        return EncapsulatedControlMessage(inner=inner, to_etr=to_rtr).build()

    def _on_map_notify(self, now: float, raw: bytes, msg: MapNotify) -> list[Output]:
        ok = verify(raw, self.config.key)
        sent = self.outstanding.get(msg.nonce)
        if ok is not True or sent is None:
            why = "bad authentication" if ok is not True else "unknown nonce"
            return [Decision(now, "notify-rejected", why, {"nonce": msg.nonce})]
        del self.outstanding[msg.nonce]
        self.registered_at = now
        out: list[Output] = [
            Decision(
                now,
                "notify-received",
                f"from {sent.map_server} ({sent.interface})",
                {"nonce": msg.nonce, "map_server": str(sent.map_server)},
            )
        ]
        path = (sent.interface, sent.map_server)
        if sent.locators == self.advertised:  # confirms the current set on this path
            self.confirmed[path] = sent.locators
            rt = self.retransmits.pop(path, None)
            if rt is not None and rt.retries:  # (a Notify in time: nothing was retransmitted)
                out.append(
                    Decision(
                        now,
                        "register-retransmit-stopped",
                        f"{sent.interface} -> {sent.map_server}: Map-Notify after "
                        f"{rt.retries} retries",
                        {
                            "interface": sent.interface,
                            "map_server": str(sent.map_server),
                            "retries": rt.retries,
                            "nonce": msg.nonce,
                        },
                    )
                )
        if self._smr_wait_until is not None and sent.locators == self.advertised:
            self._smr_wait_until = None
            out += self._send_due_smrs(now)
        return out

    # -- NAT traversal (MN side) -------------------------------------------------------------

    def _send_info_request(
        self, now: float, name: str, addr: IPAddress, *, refresh: bool = False
    ) -> list[Output]:
        cfg = self.config
        ms = next((m for m in cfg.map_servers if m.version == addr.version), None)
        if ms is None:
            return []
        eid, mask_len = cfg.eid.to_wire()
        nonce = self.rng.getrandbits(64)
        req = Info(reply=False, nonce=nonce, key_id=cfg.key_id, eid_mask_len=mask_len, eid=eid)
        req = req.sign(cfg.key, cfg.auth_length)
        st = self.nat.setdefault(name, NatState())
        st.nonce, st.sent = nonce, now
        return [
            Send(
                Datagram(
                    req.build(), Endpoint(addr, LISP_CONTROL_PORT), Endpoint(ms, LISP_CONTROL_PORT)
                )
            ),
            Decision(
                now,
                "info-request-sent",
                f"{name} ({addr}) -> {ms}" + (" (refresh)" if refresh else ""),
                {"interface": name, "rloc": str(addr), "map_server": str(ms), "nonce": nonce},
            ),
        ]

    def _probe_rtr(self, now: float, name: str, addr: IPAddress, rtr: IPAddress) -> list[Output]:
        """An Info-Request to the RTR's data port behind a control-IID data header (lispers.net
        style), from our data port: it opens the NAT's mapping for the RTR's 4341 -> our 4341,
        the path of the data and of the control messages the RTR relays to us (the register
        went to its 4342: a port-restricted NAT would drop those). Unauthenticated: the RTR
        holds no key of ours and only learns our translated endpoint from it."""
        st = self.nat.get(name)
        if st is None:
            return []
        eid, mask_len = self.config.eid.to_wire()
        nonce = self.rng.getrandbits(64)
        st.probe_nonce = nonce
        probe = Info(reply=False, nonce=nonce, eid_mask_len=mask_len, eid=eid)
        header = DataHeader.make(instance_id=CONTROL_IID)
        return [
            Send(
                Datagram(
                    header.build() + probe.build(),
                    Endpoint(addr, LISP_DATA_PORT),
                    Endpoint(rtr, LISP_DATA_PORT),
                )
            ),
            Decision(
                now,
                "rtr-probe-sent",
                f"{name} ({addr}) -> {rtr}:{LISP_DATA_PORT}",
                {"interface": name, "rloc": str(addr), "rtr": str(rtr), "nonce": nonce},
            ),
        ]

    def _on_rtr_probe_reply(self, now: float, datagram: Datagram, msg: Info) -> list[Output]:
        name = next((n for n, st in self.nat.items() if st.probe_nonce == msg.nonce), None)
        if name is None or not msg.reply:
            return [Decision(now, "ignored", f"control-IID packet from {datagram.src}")]
        self.nat[name].probe_nonce = None
        nat = msg.nat_traversal
        seen = ""
        if isinstance(nat, NatTraversal):
            seen = f" seen as {_ip_address(nat.global_etr_rloc)}#{nat.etr_udp_port}"
        return [
            Decision(
                now,
                "rtr-probe-answered",
                f"{name}: {datagram.src.address}{seen}",
                {"interface": name, "rtr": str(datagram.src.address)},
            )
        ]

    def _on_info_reply(self, now: float, raw: bytes, msg: Info) -> list[Output]:
        name = next((n for n, st in self.nat.items() if st.nonce == msg.nonce), None)
        if name is None:
            return [Decision(now, "info-reply-ignored", "unknown nonce", {"nonce": msg.nonce})]
        if verify(raw, self.config.key) is False:
            return [Decision(now, "info-reply-rejected", "bad authentication")]
        nat = msg.nat_traversal
        if not isinstance(nat, NatTraversal):
            return [Decision(now, "info-reply-rejected", "no NAT-Traversal LCAF")]
        st = self.nat[name]
        addr = self.interfaces[name]
        old = (st.natted, st.rtrs)
        st.nonce = None
        st.global_rloc = _ip_address(nat.global_etr_rloc)
        st.global_port = nat.etr_udp_port
        st.rtrs = tuple(a for a in (_ip_address(r) for r in nat.rtr_rlocs) if a is not None)
        st.natted = st.global_rloc != addr or st.global_port != LISP_CONTROL_PORT
        out: list[Output] = [
            Decision(
                now,
                "nat-detected" if st.natted else "nat-none",
                f"{name}: {addr} seen as {st.global_rloc}#{st.global_port}",
                {
                    "interface": name,
                    "rloc": str(addr),
                    "global_rloc": str(st.global_rloc),
                    "global_port": st.global_port,
                    "rtrs": [str(r) for r in st.rtrs],
                },
            )
        ]
        if st.natted and not st.rtrs and "private-rloc" not in self.config.faults:
            out.append(Decision(now, "nat-no-rtr", f"{name}: NATed and no RTR offered"))
        if (st.natted, st.rtrs) != old:
            out += self._request_round(now, "nat-verdict")
        return out

    # -- SMRs ------------------------------------------------------------------------------

    def _schedule_smrs(self, now: float, targets: Iterable[Peer]) -> None:
        cfg = self.config
        for peer in targets:
            self.pending_smrs[peer.rloc] = PendingSmr(peer.rloc, peer.eid, now, 1 + cfg.smr_retries)
        if cfg.smr_after_notify and cfg.want_map_notify:
            self._smr_wait_until = now + cfg.smr_notify_wait

    def _smr_targets(self, now: float, peers: list[Peer]) -> tuple[list[Peer], Peer | None]:
        """The peers to SMR, and the PETR if it was left out. The configured PETR is a peer
        only because we encapsulated to it; it decapsulates and forwards natively and holds
        no map-cache entry for our EID (its decapsulation check reads the Map-Server, which
        our Map-Register updates), so an SMR would be noise. If that RLOC also sent us data
        within the peer window it is acting as a PITR too - it encapsulated to our old RLOC
        from a map-cache entry for our EID - and is SMR'd like any peer (MN-SMR-COVERAGE:
        PITRs are SMR targets). The evidence is the data, not configuration: the node has no
        PITR setting."""
        petr = self.config.petr
        if petr is None:
            return peers, None
        window = now - self.config.peer_window
        kept: list[Peer] = []
        skipped: Peer | None = None
        for p in peers:
            if p.rloc == petr and (p.last_inbound is None or p.last_inbound < window):
                skipped = p
            else:
                kept.append(p)
        return kept, skipped

    def _send_due_smrs(self, now: float) -> list[Output]:
        out: list[Output] = []
        for rloc, smr in list(self.pending_smrs.items()):
            if smr.due > now:
                continue
            src = self._source_for(rloc)
            if src is None:
                del self.pending_smrs[rloc]
                continue
            out += self._send_smr(now, smr, src)
            smr.left -= 1
            smr.sent_at = now
            smr.due = now + self.config.smr_retry_interval
            if smr.left <= 0:
                del self.pending_smrs[rloc]
        return out

    def _send_smr(self, now: float, smr: PendingSmr, src: IPAddress) -> list[Output]:
        """SMR-FORMAT: Map-Request S=1, native to the peer RLOC:4342, Source-EID = own EID,
        ITR-RLOC = the current RLOC, the record = the peer's EID; RFC 9301 D=1."""
        cfg = self.config
        eid, _ = cfg.eid.to_wire()
        peer_eid = EidPrefix.host(smr.eid).to_wire()
        req = MapRequest(
            nonce=self.rng.getrandbits(64),
            source_eid=eid,
            itr_rlocs=(_wire(src),),
            records=(RequestRecord(peer_eid[0], peer_eid[1]),),
            smr=True,
            dont_map_reply=cfg.smr_dont_map_reply,
        )
        return [
            Send(
                Datagram(
                    req.build(),
                    Endpoint(src, LISP_CONTROL_PORT),
                    Endpoint(smr.rloc, LISP_CONTROL_PORT),
                )
            ),
            Decision(
                now,
                "smr-sent",
                f"to {smr.rloc} (peer EID {smr.eid})",
                {"peer_rloc": str(smr.rloc), "peer_eid": str(smr.eid), "nonce": req.nonce},
            ),
        ]

    def _peer_heard(self, now: float, rloc: IPAddress, eid: IPAddress, *, inbound: bool) -> None:
        known = self.peers.get(rloc)
        last_inbound = now if inbound else (known.last_inbound if known is not None else None)
        self.peers[rloc] = Peer(rloc, eid, now, last_inbound)
        smr = self.pending_smrs.get(rloc)
        if inbound and smr is not None and smr.sent_at is not None:
            del self.pending_smrs[rloc]  # the peer updated (SMR-RATE: stop once it acted)

    def _source_for(self, dst: IPAddress) -> IPAddress | None:
        """The RLOC to send from towards ``dst``: the best-priority interface of its family."""
        return next((a for a in self._ranked_rlocs() if a.version == dst.version), None)

    # -- control messages in ------------------------------------------------------------------

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        if datagram.dst.port == LISP_DATA_PORT and datagram.src.port != LISP_CONTROL_PORT:
            return self._receive_data(now, datagram)
        try:
            msg = parse_control(datagram.payload)
        except DecodeError as exc:
            return [Decision(now, "malformed", f"from {datagram.src}: {exc}")]
        return self._control(now, datagram, datagram.payload, msg, datagram.src)

    def _control(
        self, now: float, datagram: Datagram, raw: bytes, msg: ControlMessage, reply_to: Endpoint
    ) -> list[Output]:
        if isinstance(msg, EncapsulatedControlMessage):
            udp = msg.udp
            inner = msg.message
            if udp is None or inner is None:
                return [Decision(now, "ignored", "ECM without a control message")]
            src = Endpoint(msg.inner.src, udp.src_port)
            return self._control(now, datagram, udp.payload_bytes(), inner, src)
        if isinstance(msg, MapNotify):
            return self._on_map_notify(now, raw, msg)
        if isinstance(msg, Info) and msg.reply:
            return self._on_info_reply(now, raw, msg)
        if isinstance(msg, MapRequest):
            return self._on_map_request(now, datagram, msg, reply_to)
        if isinstance(msg, MapReply):
            return self._on_map_reply(now, msg)
        return [Decision(now, "ignored", f"{type(msg).__name__} from {reply_to}")]

    def _on_map_request(
        self, now: float, datagram: Datagram, msg: MapRequest, reply_to: Endpoint
    ) -> list[Output]:
        if msg.smr:
            return self._on_smr(now, msg)
        if not any(self._is_own(r.eid, r.eid_mask_len) for r in msg.records):
            return [Decision(now, "request-ignored", "not for this EID", {"nonce": msg.nonce})]
        if msg.dont_map_reply:
            return [Decision(now, "request-not-answered", "D bit set", {"nonce": msg.nonce})]
        itr = next(
            (
                a
                for a in (_ip_address(r) for r in msg.itr_rlocs)
                if a is not None and self._source_for(a) is not None
            ),
            None,
        )
        if itr is None:
            return [Decision(now, "request-ignored", "no usable ITR-RLOC")]
        if msg.smr_invoked and itr in self.pending_smrs:
            del self.pending_smrs[itr]  # the peer asked: stop SMRing it
        src = self._source_for(itr)
        assert src is not None
        record = replace(self.eid_record(), locators=self.locator_set())  # the current set
        reply = MapReply(nonce=msg.nonce, records=(record,), probe=msg.probe)
        port = reply_to.port if reply_to.port else LISP_CONTROL_PORT
        return [
            Send(Datagram(reply.build(), Endpoint(src, LISP_CONTROL_PORT), Endpoint(itr, port))),
            Decision(
                now,
                "reply-sent",
                f"to {itr}:{port} for {msg.kind}",
                {"nonce": msg.nonce, "itr_rloc": str(itr), "ttl": record.ttl},
            ),
        ]

    def _is_own(self, eid: Address, mask_len: int) -> bool:
        try:
            prefix = EidPrefix.from_wire(eid, mask_len)
        except ValueError:
            return False
        return self.config.eid.contains(prefix) or prefix.contains(self.config.eid)

    # -- the xTR part: map-cache, Map-Requests, encapsulation (lisptrace.stack.xtr) ----------

    def _init_data_plane(self) -> None:
        cfg = self.config
        iid = cfg.eid.iid or None
        self.itr = ItrEngine(
            rlocs=[],
            map_resolvers=[cfg.map_resolver] if cfg.map_resolver is not None else [],
            rng=self.rng,
            instance_id=iid,
            petr=cfg.petr,
            use_petr=cfg.petr is not None,  # NEG-MR-TO-PETR
            request_timeout=cfg.map_request_interval,
            source_eid=lambda packet: lisp_address(cfg.eid_address, iid),
        )
        self._install_default_petr(0.0)

    def _sync_itr(self) -> None:
        """The ITR sends from the current RLOCs, best priority first."""
        self.itr.rlocs = self._ranked_rlocs()

    def _install_default_petr(self, now: float) -> None:
        """MN 7.2: a pre-installed default entry to the PETR (negative, natively-forward: the
        ITR sends what it covers to the PETR), when configured."""
        cfg = self.config
        if not (cfg.default_petr_entry and cfg.petr is not None):
            return
        network = ipaddress.ip_network("0.0.0.0/0" if cfg.eid.version == 4 else "::/0")
        self.itr.cache.install(
            CacheEntry(
                prefix=EidPrefix(cfg.eid.iid, network),
                locators=(),
                action=Action.NATIVELY_FORWARD,
                installed=now,
                expires=float("inf"),
            )
        )

    def _clear_map_cache(self, now: float) -> list[Output]:
        """MN-CACHE-CLEAR: flush every learned mapping (the static PETR entry stays)."""
        flushed = len(self.itr.cache)
        self.itr.cache.clear()
        self._install_default_petr(now)
        return [Decision(now, "cache-cleared", f"{flushed} entries", {"flushed": flushed})]

    def _data_deadline(self) -> float | None:
        deadline = self.itr.next_deadline()
        return None if deadline == float("inf") else deadline

    def _data_tick(self, now: float) -> list[Output]:
        return self._note_peers(now, self.itr.tick(now))

    def send_packet(self, now: float, packet: bytes) -> list[Output]:
        """An IP packet from the node's own stack (source = its EID): encapsulated to the
        destination's RLOC, to the PETR for negative mappings, or held while it is resolved."""
        ip = parse_ip(packet)
        if ip is not None and ip.dst == self.config.eid_address:
            return [Deliver(packet)]
        if not self.interfaces:
            return [Decision(now, "drop", "no operational interface")]
        self._sync_itr()
        return self._note_peers(now, self.itr.forward(now, packet))

    def _note_peers(self, now: float, outputs: list[Output]) -> list[Output]:
        """Remember the RLOCs data goes to (peers to SMR after a roam), and send what leaves
        an interface found behind a NAT to its RTR instead (the RTR re-encapsulates)."""
        out: list[Output] = []
        for o in outputs:
            if isinstance(o, Send) and o.datagram.dst.port == LISP_DATA_PORT:
                d = o.datagram
                inner = parse_ip(d.payload[8:])
                if inner is not None:
                    self._peer_heard(now, d.dst.address, inner.dst, inbound=False)
                rtr = self._rtr_for(d.src.address)
                if rtr is not None and rtr != d.dst.address:
                    o = Send(Datagram(d.payload, d.src, Endpoint(rtr, LISP_DATA_PORT)))
            elif (
                isinstance(o, Send)
                and o.datagram.dst.port == LISP_CONTROL_PORT
                and o.datagram.payload[:1]
                and o.datagram.payload[0] >> 4 == 8  # an ECM'd Map-Request to the resolver
            ):
                d = o.datagram
                rtr = self._rtr_for(d.src.address)
                if rtr is not None:  # our ITR-RLOC is private: the RTR asks for us
                    o = Send(
                        Datagram(
                            d.payload,
                            Endpoint(d.src.address, LISP_DATA_PORT),
                            Endpoint(rtr, LISP_CONTROL_PORT),
                        )
                    )
            out.append(o)
        return out

    def _rtr_for(self, rloc: IPAddress) -> IPAddress | None:
        if "private-rloc" in self.config.faults:
            return None
        for name, addr in self.interfaces.items():
            st = self.nat.get(name)
            if addr == rloc and st is not None and st.natted and st.rtrs:
                return next((r for r in st.rtrs if r.version == rloc.version), None)
        return None

    def _receive_data(self, now: float, datagram: Datagram) -> list[Output]:
        payload = datagram.payload
        try:
            header = DataHeader.parse(payload[:8])
        except DecodeError:
            return [Decision(now, "undecodable", f"data from {datagram.src}")]
        if header.instance_id == CONTROL_IID:  # a control message right behind the header
            try:
                probe = parse_control(payload[8:])
            except DecodeError as exc:
                return [Decision(now, "malformed", f"control-IID from {datagram.src}: {exc}")]
            if isinstance(probe, Info):
                return self._on_rtr_probe_reply(now, datagram, probe)
            return [Decision(now, "ignored", f"control-IID packet from {datagram.src}")]
        inner = parse_ip(payload[8:])
        iid = header.instance_id or 0
        udp = inner.payload if inner is not None else None
        if isinstance(udp, UdpDatagram) and LISP_CONTROL_PORT in (udp.src_port, udp.dst_port):
            # a control message relayed in a data packet (e.g. a Map-Notify through the RTR)
            raw = udp.payload_bytes()
            try:
                msg = parse_control(raw)
            except DecodeError as exc:
                return [Decision(now, "malformed", f"relayed by {datagram.src}: {exc}")]
            assert inner is not None
            return self._control(now, datagram, raw, msg, Endpoint(inner.src, udp.src_port))
        if inner is None or iid != self.config.eid.iid or inner.dst != self.config.eid_address:
            what = "undecodable inner packet" if inner is None else f"{inner.dst} is not ours"
            return [Decision(now, "decap-refused", f"from {datagram.src}: {what}")]
        self._peer_heard(now, datagram.src.address, inner.src, inbound=True)
        return [Deliver(payload[8:])]

    def _on_map_reply(self, now: float, msg: MapReply) -> list[Output]:
        self._sync_itr()
        return self._note_peers(now, self.itr.handle_reply(now, msg, Endpoint.of("0.0.0.0", 0)))

    def _on_smr(self, now: float, msg: MapRequest) -> list[Output]:
        """A peer's SMR: the xTR's handling (an SMR-invoked Map-Request via the resolver)."""
        self._sync_itr()
        src = Endpoint(_ip_address(msg.itr_rlocs[0]) or ipaddress.IPv4Address(0), LISP_CONTROL_PORT)
        return self._note_peers(now, self.itr.handle_smr(now, msg, src))
