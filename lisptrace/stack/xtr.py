"""The xTR role (ETR and ITR in one) and the ITR engine the PITR shares.

ITR side (:class:`ItrEngine`):

* ``send_packet(now, ip_packet)`` looks the destination up in the map-cache (longest-prefix
  match, TTL expiry) and encapsulates: outer UDP to 4341 from the chosen RLOC, an 8-byte LISP
  header with a random 24-bit nonce (and the instance ID when configured), the packet
  unchanged behind it.
* Locator choice: the lowest usable priority (255 = never), then a deterministic hash of the
  inner 5-tuple (source, destination, protocol, ports) spread by weight, so one flow always
  takes one RLOC and equal-priority RLOCs share flows in proportion to their weights.
* On a miss: an ECM Map-Request (inner IP from our RLOC to the EID, inner UDP 4342 -> 4342,
  our RLOCs as ITR-RLOCs, one record: the host EID) to the Map-Resolver, retried with the same
  nonce after 1 s, 2 s, 4 s ... (``request_timeout`` doubling; ``request_retries`` retries at
  most; each retry goes to the next configured resolver). At most one request per second per
  EID-prefix asked for (the host prefix of a miss, the cached prefix for an SMR), and a 30 s
  pause after ten unanswered ones (RFC 9301 sec. 5.3). Packets for the pending EID wait in a
  small bounded queue (``queue_limit`` packets; further ones are dropped and logged) and leave
  in order when the answer comes; they are dropped (logged) when every retry went unanswered.
  Only a reply echoing an outstanding nonce is accepted. A TTL-0 mapping is used for the
  queued packets and not cached.
* Negative Map-Replies become negative entries: Natively-Forward (or No-Action) sends natively
  (a :class:`Deliver` with a ``native-forward`` decision: the packet is handed back to the IP
  stack un-encapsulated), or to the PETR when ``use_petr`` is set; the Drop actions drop.
* SMR (a Map-Request with S=1) for an EID in the cache: an SMR-invoked Map-Request (s=1, a
  fresh nonce) goes to the mapping system as an ECM via the Map-Resolver, never natively to
  the SMR's source; the old mapping stays in use until the answer replaces it. SMRs are not
  answered with a Map-Reply.

ETR side (:class:`Xtr`): answers Map-Requests for its EID-prefixes (ECM-forwarded by the
Map-Server, or native RLOC probes) with A=1, its locator set and the nonce echoed, to an
ITR-RLOC; registers its EID-prefixes with every Map-Server every ``register_interval``
seconds, signed, want-Map-Notify set; decapsulates data for its EIDs and delivers the inner
packet.

Fault switches (``faults``): ``ignore-smr`` (breaks PEER-SMR-INVOKED: SMRs are logged and
otherwise ignored), ``private-rloc`` (breaks MN-NO-PRIVATE-RLOC: registrations and Map-Replies
also list ``private_rloc``, an RFC 1918 address, as a usable locator - the priority and weight
of its best configured RLOC, not 255 - so that an audit which skips unusable locators still
sees a private RLOC advertised for the EID; peers may steer flows to it, which is the point of
the fault). The mobile node's switch of the same name breaks the same rule differently: behind
a NAT it registers its own private address directly (see :mod:`lisptrace.stack.mobile_node`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import types
import typing
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dissectors.core import DecodeError
from dissectors.inet import PROTO_UDP, IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.afi import Address, IPv4, IPv6, NoAddress
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action, EidRecord, Locator
from lisptrace.stack.map_cache import (
    CacheEntry,
    FlowKey,
    MapCache,
    choose_locator,
    is_negative_forward,
    record_prefix,
)
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

PROTO_TCP = 6
PROTO_SCTP = 132
RATE_LIMIT_SECONDS = 1.0  # at most one Map-Request per second per EID-prefix (RFC 6830 6.1.3)
PAUSE_AFTER_UNANSWERED = 10  # RFC 9301 sec. 5.3: after 10 unanswered requests ...
PAUSE_SECONDS = 30.0  # ... pause 30 s

PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)

# fault switch -> the one catalog rule it breaks (spec sec. 2)
XTR_FAULTS: dict[str, str] = {
    "ignore-smr": "PEER-SMR-INVOKED",
    "private-rloc": "MN-NO-PRIVATE-RLOC",
}


def is_private(address: IPAddress) -> bool:
    """RFC 1918 / RFC 4193 (the ranges MN-NO-PRIVATE-RLOC names)."""
    return any(address in net for net in PRIVATE_NETWORKS)


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalRloc:
    """One of the role's own RLOCs with the priority and weight it advertises."""

    address: IPAddress
    priority: int = 1
    weight: int = 100

    @classmethod
    def parse(cls, value: object) -> LocalRloc:
        """``"192.0.2.1"`` or ``{address = "192.0.2.1", priority = 1, weight = 50}``."""
        if isinstance(value, LocalRloc):
            return value
        if isinstance(value, str):
            return cls(ipaddress.ip_address(value))
        if isinstance(value, Mapping):
            extra = set(value) - {"address", "priority", "weight"}
            if extra:
                raise ValueError(f"unknown RLOC keys: {sorted(extra)}")
            rloc = cls(
                ipaddress.ip_address(str(value["address"])),
                int(value.get("priority", 1)),
                int(value.get("weight", 100)),
            )
            if not (0 <= rloc.priority <= 255 and 0 <= rloc.weight <= 255):
                raise ValueError("priority and weight are 0..255")
            return rloc
        raise ValueError(f"an RLOC is an address or a table, not {value!r}")


def _parse_secret(value: object) -> bytes:
    """Text (UTF-8), bytes, or a ``config.Secret`` (anything with ``reveal()``)."""
    reveal = getattr(value, "reveal", None)
    if callable(reveal):
        value = reveal()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ValueError("a secret is text")


def _convert(hint: Any, value: object) -> object:
    """Convert a TOML value to the type a config field is annotated with."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        members = {a for a in args if a is not type(None)}
        if members == {ipaddress.IPv4Address, ipaddress.IPv6Address}:
            return ipaddress.ip_address(str(value))
        return _convert(members.pop(), value)
    if hint is bytes:
        return _parse_secret(value)
    if hint is LocalRloc:
        return LocalRloc.parse(value)
    if hint is EidPrefix:
        return value if isinstance(value, EidPrefix) else EidPrefix.parse(str(value))
    if hint in (bool, int, float, str):
        if (hint is bool) != isinstance(value, bool):
            raise ValueError(f"expected {hint.__name__}, got {value!r}")
        return hint(value)
    if origin in (tuple, frozenset):
        if not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"expected a list, got {value!r}")
        return origin(_convert(args[0], v) for v in value)
    raise TypeError(f"no conversion for {hint!r}")  # pragma: no cover - a field type we lack


_C = typing.TypeVar("_C")


def config_from_dict(cls: type[_C], data: Mapping[str, object]) -> _C:
    """Build the config dataclass ``cls`` from a TOML table: keys are the field names (``-``
    may stand for ``_``; ``secret-hex`` gives ``secret`` in hexadecimal), values converted to
    the field types. Unknown keys, bad values and unknown faults raise ValueError (never
    quoting a secret)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        try:
            if name == "secret_hex" and "secret" in names:
                name, value = "secret", bytes.fromhex(str(value))
            if name not in names:
                raise ValueError("unknown key")
            kwargs[name] = _convert(hints[name], value)
        except (ValueError, TypeError) as exc:
            detail = "not a valid secret" if name == "secret" else str(exc)
            raise ValueError(f"{cls.__name__} {key}: {detail}") from None
    return cls(**kwargs)


def check_faults(role: str, faults: frozenset[str], known: Mapping[str, str]) -> None:
    """ValueError naming the unknown fault switches."""
    unknown = sorted(set(faults) - set(known))
    if unknown:
        raise ValueError(f"{role}: unknown faults {unknown} (known: {', '.join(known)})")


@dataclass(frozen=True)
class XtrConfig:
    """Configuration of an xTR (the ``[xtr]`` table of a role's TOML file; TOML keys may use
    ``-`` for ``_``).

    Fields:

    * ``name``: the role's name in logs.
    * ``rlocs``: its own RLOCs, each an address or ``{address, priority, weight}``; the role
      binds UDP 4341 and 4342 on each, sends from them, and advertises them.
    * ``eid_prefixes``: the EID-prefixes it serves (registers, answers for, decapsulates to),
      as text (``10.1.0.0/16``, ``[1000]10.1.0.0/16``); their instance ID must be
      ``instance_id`` (or 0 without one).
    * ``map_servers`` / ``secret`` (or ``secret-hex``) / ``key_id`` / ``algorithm``: where it
      registers, with which shared secret, RFC 9301 Key ID (0, which RFC 6830 peers use) and
      algorithm (1 HMAC-SHA-1-96, 2 HMAC-SHA-256-128).
    * ``register_interval``: seconds between registrations (60).
    * ``record_ttl``: the TTL (minutes) of the mappings it registers and replies with (1440).
    * ``want_map_notify``, ``proxy_reply``: the M and P bits of its Map-Registers.
    * ``map_resolvers``: where its ECM Map-Requests go (the first; retries rotate).
    * ``petr`` / ``use_petr``: a Proxy-ETR, and whether traffic to negative (natively
      forwarded) destinations is encapsulated to it instead of sent natively.
    * ``instance_id``: the instance ID of its EIDs (data header I bit, IID LCAF in control
      messages); ``None`` for none.
    * ``request_timeout`` (s), ``request_retries``, ``queue_limit``: Map-Request retry schedule
      (timeout, 2 x timeout, 4 x ...; at most that many retries after the first request) and
      packets queued per pending EID.
    * ``allow_private_rlocs``: advertise RFC 1918 / fc00::/7 RLOCs (closed private
      deployments); by default such RLOCs are withheld from registrations and replies.
    * ``private_rloc``: the RFC 1918 address the ``private-rloc`` fault advertises (as a usable
      locator, at the best configured RLOC's priority and weight).
    * ``faults``: fault switches, see :data:`XTR_FAULTS`.
    * ``seed``: seeds the nonce generator (tests, reproducible captures); ``None`` = random.
    """

    name: str = "xtr"
    rlocs: tuple[LocalRloc, ...] = ()
    eid_prefixes: tuple[EidPrefix, ...] = ()
    map_servers: tuple[IPAddress, ...] = ()
    secret: bytes = field(default=b"", repr=False)
    key_id: int = 0
    algorithm: int = 1
    register_interval: float = 60.0
    record_ttl: int = 1440
    want_map_notify: bool = True
    proxy_reply: bool = False
    map_resolvers: tuple[IPAddress, ...] = ()
    petr: IPAddress | None = None
    use_petr: bool = False
    instance_id: int | None = None
    request_timeout: float = 1.0
    request_retries: int = 3
    queue_limit: int = 8
    allow_private_rlocs: bool = False
    private_rloc: IPAddress = field(default_factory=lambda: ipaddress.ip_address("10.255.0.1"))
    faults: frozenset[str] = frozenset()
    seed: int | None = None

    def __post_init__(self) -> None:
        check_faults("xtr", self.faults, XTR_FAULTS)
        iid = self.instance_id or 0
        for prefix in self.eid_prefixes:
            if prefix.iid != iid:
                raise ValueError(f"xtr: EID-prefix {prefix} is not in instance {iid}")
        if self.algorithm not in (1, 2) or not 0 <= self.key_id <= 255:
            raise ValueError("xtr: algorithm is 1 or 2, key_id 0..255")
        if self.request_retries < 0 or self.queue_limit < 0 or self.request_timeout <= 0:
            raise ValueError("xtr: request_retries/queue_limit >= 0, request_timeout > 0")

    @property
    def raw_key_id(self) -> int:
        """The 16-bit Key ID field: RFC 9301 Key ID (high byte) + Algorithm ID (low byte)."""
        return self.key_id << 8 | self.algorithm

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> XtrConfig:
        return config_from_dict(cls, data)


# -- small helpers ---------------------------------------------------------------------------


def lisp_address(address: IPAddress, iid: int | None = None) -> Address:
    """An address for a control message, wrapped in an Instance-ID LCAF when ``iid`` is set."""
    plain: Address = IPv4(address) if address.version == 4 else IPv6(address)  # type: ignore[arg-type]
    return plain if iid is None else InstanceId(iid=iid, address=plain)


def unwrap(address: Address) -> tuple[int, IPAddress] | None:
    """(instance ID or 0, IP address) of a control-message address; ``None`` if not IP."""
    iid = 0
    if isinstance(address, InstanceId):
        iid, address = address.iid, address.address  # type: ignore[assignment]
    if isinstance(address, IPv4 | IPv6):
        return iid, address.address
    return None


def flow_key(packet: IpPacket) -> FlowKey:
    """The inner 5-tuple of ``packet`` (ports read for UDP, TCP and SCTP)."""
    sport = dport = 0
    payload = packet.payload
    if isinstance(payload, UdpDatagram):
        sport, dport = payload.src_port, payload.dst_port
    elif (
        packet.protocol in (PROTO_TCP, PROTO_SCTP)
        and isinstance(payload, bytes)
        and len(payload) >= 4
    ):
        sport = int.from_bytes(payload[0:2], "big")
        dport = int.from_bytes(payload[2:4], "big")
    return FlowKey(packet.src, packet.dst, packet.protocol, sport, dport)


def parse_ip(packet: bytes) -> IpPacket | None:
    try:
        return IpPacket.parse(packet, allow_trailing=True)
    except DecodeError:
        return None


# -- the ITR engine --------------------------------------------------------------------------


@dataclass
class _Pending:
    """An outstanding Map-Request (with its retries) for one EID-prefix key."""

    key: EidPrefix  # the host prefix asked for, or (SMR) the cached prefix
    eid: IPAddress
    nonce: int
    source_eid: Address
    smr_invoked: bool
    next_at: float
    sent: int = 0
    queue: deque[bytes] = field(default_factory=deque)


@dataclass
class ItrCounters:
    encapsulated: int = 0
    native: int = 0
    dropped: int = 0
    queued: int = 0
    queue_full: int = 0
    requests_sent: int = 0
    requests_failed: int = 0
    replies_accepted: int = 0
    replies_unsolicited: int = 0
    smr_received: int = 0
    smr_ignored: int = 0


class ItrEngine:
    """The ITR behaviour the xTR and the PITR share: map-cache, Map-Requests, encapsulation,
    SMR handling. It owns no sockets: it is given the role's RLOCs and returns outputs."""

    def __init__(
        self,
        *,
        rlocs: Sequence[IPAddress],
        map_resolvers: Sequence[IPAddress],
        rng: random.Random,
        instance_id: int | None = None,
        petr: IPAddress | None = None,
        use_petr: bool = False,
        request_timeout: float = 1.0,
        request_retries: int = 3,
        queue_limit: int = 8,
        pitr: bool = False,
        ignore_smr: bool = False,
        source_eid: Callable[[IpPacket], Address] = lambda packet: NoAddress(),
    ) -> None:
        self.rlocs = list(rlocs)
        self.map_resolvers = list(map_resolvers)
        self.rng = rng
        self.instance_id = instance_id
        self.iid = instance_id or 0
        self.petr = petr
        self.use_petr = use_petr
        self.request_timeout = request_timeout
        self.request_retries = request_retries
        self.queue_limit = queue_limit
        self.pitr = pitr
        self.ignore_smr = ignore_smr
        self.source_eid = source_eid
        self.cache = MapCache()
        self.pending: dict[EidPrefix, _Pending] = {}
        self.by_nonce: dict[int, EidPrefix] = {}
        self.last_request: dict[EidPrefix, float] = {}
        self.unanswered: dict[EidPrefix, int] = {}
        self.counters = ItrCounters()

    # -- addresses --------------------------------------------------------------------------

    def rloc_for(self, version: int) -> IPAddress | None:
        """The role's first RLOC of an address family."""
        return next((r for r in self.rlocs if r.version == version), None)

    def can_reach(self, locator: Locator) -> bool:
        ip = unwrap(locator.address)
        return ip is not None and self.rloc_for(ip[1].version) is not None

    def _nonce(self) -> int:
        nonce = self.rng.getrandbits(64)
        while nonce in self.by_nonce or nonce == 0:
            nonce = self.rng.getrandbits(64)
        return nonce

    # -- data -------------------------------------------------------------------------------

    def forward(self, now: float, packet: bytes) -> list[Output]:
        """An IP packet from a local (or, for a PITR, non-LISP) host: encapsulate or resolve."""
        ip = parse_ip(packet)
        if ip is None:
            self.counters.dropped += 1
            return [Decision(now, "packet-undecodable", "not an IPv4/IPv6 packet")]
        entry = self.cache.lookup(self.iid, ip.dst, now)
        if entry is None or (entry.negative and entry.action == Action.SEND_MAP_REQUEST):
            return self._miss(now, ip, packet)
        return self._apply(now, entry, ip, packet)

    def _apply(self, now: float, entry: CacheEntry, ip: IpPacket, packet: bytes) -> list[Output]:
        if not entry.negative:
            locator = choose_locator(entry.locators, flow_key(ip), self.can_reach)
            if locator is None:
                self.counters.dropped += 1
                return [Decision(now, "no-usable-locator", f"{ip.dst} in {entry.prefix}")]
            target = unwrap(locator.address)
            assert target is not None  # can_reach checked it
            return [self.encapsulate(target[1], packet)]
        if is_negative_forward(entry.action):
            petr = self.petr if self.use_petr else None
            if petr is not None and self.rloc_for(petr.version) is not None:
                return [self.encapsulate(petr, packet)]
            self.counters.native += 1
            return [
                Deliver(packet),
                Decision(now, "native-forward", f"{ip.dst} (negative {entry.prefix})"),
            ]
        self.counters.dropped += 1
        return [Decision(now, "drop", f"{ip.dst}: negative {entry.prefix} action {entry.action}")]

    def encapsulate(self, rloc: IPAddress, packet: bytes) -> Send:
        """The LISP data datagram carrying ``packet`` to ``rloc`` (from our RLOC of its family)."""
        src = self.rloc_for(rloc.version)
        assert src is not None, "no RLOC of the destination's address family"
        header = DataHeader.make(nonce=self.rng.getrandbits(24), instance_id=self.instance_id)
        self.counters.encapsulated += 1
        return Send(
            Datagram(
                header.build() + packet,
                Endpoint(src, LISP_DATA_PORT),
                Endpoint(rloc, LISP_DATA_PORT),
            )
        )

    def _miss(self, now: float, ip: IpPacket, packet: bytes) -> list[Output]:
        key = EidPrefix.host(ip.dst, self.iid)
        pending = self.pending.get(key)
        out: list[Output] = []
        if pending is None:
            pending = self._start(now, key, ip.dst, self.source_eid(ip), smr_invoked=False)
            out.extend(self._due(now, pending))
        if len(pending.queue) >= self.queue_limit:
            self.counters.queue_full += 1
            self.counters.dropped += 1
            out.append(Decision(now, "queue-full", f"{ip.dst}: packet dropped"))
        else:
            pending.queue.append(packet)
            self.counters.queued += 1
        return out

    # -- Map-Requests -----------------------------------------------------------------------

    def _start(
        self,
        now: float,
        key: EidPrefix,
        eid: IPAddress,
        source_eid: Address,
        *,
        smr_invoked: bool,
    ) -> _Pending:
        last = self.last_request.get(key)
        first_at = now if last is None else max(now, last + RATE_LIMIT_SECONDS)
        if last is not None and self.unanswered.get(key, 0) >= PAUSE_AFTER_UNANSWERED:
            first_at = max(first_at, last + PAUSE_SECONDS)
            self.unanswered[key] = 0
        pending = _Pending(key, eid, self._nonce(), source_eid, smr_invoked, first_at)
        self.pending[key] = pending
        self.by_nonce[pending.nonce] = key
        return pending

    def _due(self, now: float, pending: _Pending) -> list[Output]:
        """Send ``pending``'s request if it is due, or give up after the last retry."""
        if pending.next_at > now:
            return []
        if pending.sent > self.request_retries:
            return self._give_up(now, pending)
        if not self.map_resolvers:
            return self._give_up(now, pending, "no Map-Resolver configured")
        resolver = self.map_resolvers[pending.sent % len(self.map_resolvers)]
        src = self.rloc_for(resolver.version)
        if src is None:
            return self._give_up(now, pending, f"no RLOC to reach {resolver}")
        payload = self.map_request_ecm(pending, src)
        pending.sent += 1
        pending.next_at = now + self.request_timeout * 2 ** (pending.sent - 1)
        self.last_request[pending.key] = now
        self.counters.requests_sent += 1
        kind = "smr-invoked-request" if pending.smr_invoked else "map-request-sent"
        return [
            Send(
                Datagram(
                    payload,
                    Endpoint(src, LISP_CONTROL_PORT),
                    Endpoint(resolver, LISP_CONTROL_PORT),
                )
            ),
            Decision(
                now,
                kind,
                f"{pending.eid} via {resolver} (try {pending.sent})",
                {"eid": str(pending.eid), "nonce": pending.nonce, "try": pending.sent},
            ),
        ]

    def _give_up(self, now: float, pending: _Pending, why: str = "no answer") -> list[Output]:
        self._forget(pending)
        self.unanswered[pending.key] = self.unanswered.get(pending.key, 0) + pending.sent
        self.counters.requests_failed += 1
        self.counters.dropped += len(pending.queue)
        return [
            Decision(
                now,
                "map-request-failed",
                f"{pending.eid}: {why} after {pending.sent} tries; "
                f"{len(pending.queue)} queued packets dropped",
            )
        ]

    def _forget(self, pending: _Pending) -> None:
        self.pending.pop(pending.key, None)
        self.by_nonce.pop(pending.nonce, None)

    def map_request_ecm(self, pending: _Pending, src_rloc: IPAddress) -> bytes:
        """The ECM-wrapped Map-Request for ``pending``: inner IP from our RLOC (or source EID)
        to the queried EID, inner UDP 4342 -> 4342."""
        request = MapRequest(
            nonce=pending.nonce,
            source_eid=pending.source_eid,
            itr_rlocs=tuple(lisp_address(r) for r in self.rlocs),
            records=(
                RequestRecord(
                    lisp_address(pending.eid, self.instance_id), pending.eid.max_prefixlen
                ),
            ),
            pitr=self.pitr,
            smr_invoked=pending.smr_invoked,
        )
        eid = pending.eid
        inner_src = self.rloc_for(eid.version)
        if inner_src is None:
            source = unwrap(pending.source_eid)
            inner_src = source[1] if source and source[1].version == eid.version else None
        header: Ipv4Header | Ipv6Header
        if eid.version == 4:
            header = Ipv4Header(
                src=inner_src or ipaddress.IPv4Address(0),  # type: ignore[arg-type]
                dst=eid,  # type: ignore[arg-type]
                protocol=PROTO_UDP,
            )
        else:
            header = Ipv6Header(
                src=inner_src or ipaddress.IPv6Address(0),  # type: ignore[arg-type]
                dst=eid,  # type: ignore[arg-type]
                next_header=PROTO_UDP,
            )
        udp = UdpDatagram(LISP_CONTROL_PORT, LISP_CONTROL_PORT, request, checksum=None)
        return EncapsulatedControlMessage(inner=IpPacket(header, udp)).build()

    def handle_reply(self, now: float, reply: MapReply, src: Endpoint) -> list[Output]:
        """A Map-Reply: accepted only with the nonce of an outstanding request."""
        key = self.by_nonce.get(reply.nonce)
        pending = self.pending.get(key) if key is not None else None
        if pending is None:
            self.counters.replies_unsolicited += 1
            return [Decision(now, "reply-unsolicited", f"nonce {reply.nonce:#x} from {src}")]
        self._forget(pending)
        self.unanswered.pop(pending.key, None)
        self.counters.replies_accepted += 1
        out: list[Output] = []
        covering: CacheEntry | None = None
        best = -1
        for record in reply.records:
            where = record_prefix(record)
            if where is None:
                out.append(Decision(now, "record-ignored", f"{record.eid_prefix}: not an IP EID"))
                continue
            entry = CacheEntry.from_record(record, now)
            if entry is not None:
                self.cache.install(entry)
            kind = "negative-cache-installed" if record.negative else "cache-installed"
            if entry is None:
                kind = "mapping-not-cached"  # TTL 0: used for the queued packets, not kept
            out.append(
                Decision(
                    now,
                    kind,
                    f"{record.eid_prefix} ttl {record.ttl} min, "
                    f"{len(record.locators)} locators, action {record.action}",
                    {
                        "prefix": record.eid_prefix,
                        "ttl": record.ttl,
                        "nonce": reply.nonce,
                        "rlocs": [str(loc.address) for loc in record.locators],
                    },
                )
            )
            if where.contains(pending.eid, pending.key.iid) and where.prefixlen > best:
                best = where.prefixlen
                covering = entry or CacheEntry(
                    where, record.locators, record.action, now, now, record.authoritative
                )
        if covering is None:
            if pending.queue:
                self.counters.dropped += len(pending.queue)
                out.append(Decision(now, "reply-not-covering", f"{pending.eid}: queue dropped"))
            return out
        for packet in pending.queue:
            ip = parse_ip(packet)
            if ip is not None:
                out.extend(self._apply(now, covering, ip, packet))
        return out

    def handle_smr(self, now: float, request: MapRequest, src: Endpoint) -> list[Output]:
        """An SMR: re-ask the mapping system for its Source-EID, keeping the old mapping."""
        self.counters.smr_received += 1
        eid = unwrap(request.source_eid)
        out: list[Output] = [Decision(now, "smr-received", f"for {request.source_eid} from {src}")]
        if self.ignore_smr:
            self.counters.smr_ignored += 1
            return [*out, Decision(now, "smr-ignored", "fault ignore-smr")]
        if eid is None:
            self.counters.smr_ignored += 1
            return [*out, Decision(now, "smr-ignored", "Source-EID is not an IP EID")]
        iid = eid[0] if isinstance(request.source_eid, InstanceId) else self.iid
        entry = self.cache.lookup(iid, eid[1], now)
        if entry is None:
            self.counters.smr_ignored += 1
            return [*out, Decision(now, "smr-ignored", f"{eid[1]} not in the map-cache")]
        key = entry.prefix
        if key in self.pending:
            return [*out, Decision(now, "smr-rate-limited", f"request for {entry.prefix} pending")]
        source = NoAddress() if not request.records else request.records[0].eid
        pending = self._start(now, key, eid[1], source, smr_invoked=True)
        return out + self._due(now, pending)

    # -- timers -----------------------------------------------------------------------------

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        for pending in list(self.pending.values()):
            out.extend(self._due(now, pending))
        for entry in self.cache.expire(now):
            out.append(Decision(now, "cache-expired", f"{entry.prefix}"))
        return out

    def next_deadline(self) -> float | None:
        times = [p.next_at for p in self.pending.values()]
        expiry = self.cache.next_expiry()
        if expiry is not None:
            times.append(expiry)
        return min(times) if times else None


# -- the xTR role ----------------------------------------------------------------------------


@dataclass
class XtrCounters:
    registers_sent: int = 0
    notifies_accepted: int = 0
    notifies_rejected: int = 0
    requests_answered: int = 0
    requests_not_ours: int = 0
    decapsulated: int = 0
    decap_refused: int = 0
    undecodable: int = 0


class Xtr:
    """ETR + ITR for ``config.eid_prefixes``. See the module docstring for the behaviour."""

    def __init__(self, config: XtrConfig, rng: random.Random | None = None) -> None:
        if not config.rlocs:
            raise ValueError("an xTR needs at least one RLOC")
        self.config = config
        self.name = config.name
        self.rng = rng or random.Random(config.seed)
        self.faults = config.faults
        self.rlocs = [r.address for r in config.rlocs]
        self.itr = ItrEngine(
            rlocs=self.rlocs,
            map_resolvers=config.map_resolvers,
            rng=self.rng,
            instance_id=config.instance_id,
            petr=config.petr,
            use_petr=config.use_petr,
            request_timeout=config.request_timeout,
            request_retries=config.request_retries,
            queue_limit=config.queue_limit,
            ignore_smr="ignore-smr" in config.faults,
            source_eid=lambda packet: lisp_address(packet.src, config.instance_id),
        )
        self.counters = XtrCounters()
        self._next_register: float | None = None  # None: at the first tick
        self._register_nonces: dict[int, float] = {}

    # -- Role -------------------------------------------------------------------------------

    def bind(self) -> list[Endpoint]:
        return [
            Endpoint(rloc, port)
            for rloc in self.rlocs
            for port in (LISP_CONTROL_PORT, LISP_DATA_PORT)
        ]

    def next_deadline(self) -> float | None:
        register = 0.0 if self._next_register is None else self._next_register
        if not self.config.map_servers:
            register = None  # type: ignore[assignment]
        times = [t for t in (register, self.itr.next_deadline()) if t is not None]
        return min(times) if times else None

    def tick(self, now: float) -> list[Output]:
        out = self.itr.tick(now)
        if self.config.map_servers and (self._next_register is None or now >= self._next_register):
            out.extend(self.register(now))
        return out

    def send_packet(self, now: float, packet: bytes) -> list[Output]:
        """An IP packet from a local host: delivered if it is for one of our EIDs, else
        encapsulated (or resolved first)."""
        ip = parse_ip(packet)
        if ip is not None and self.owns(self.itr.iid, ip.dst):
            return [Deliver(packet)]
        return self.itr.forward(now, packet)

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        if datagram.dst.port == LISP_DATA_PORT:
            return self._decapsulate(now, datagram)
        try:
            msg = parse_control(datagram.payload)
        except DecodeError as exc:
            self.counters.undecodable += 1
            return [Decision(now, "undecodable", f"from {datagram.src}: {exc}")]
        if isinstance(msg, MapReply):
            return self.itr.handle_reply(now, msg, datagram.src)
        if isinstance(msg, MapRequest):
            if msg.smr:
                return self.itr.handle_smr(now, msg, datagram.src)
            return self._answer(now, msg, datagram.src.port, datagram.dst.address)
        if isinstance(msg, EncapsulatedControlMessage):
            inner = msg.message
            udp = msg.udp
            if isinstance(inner, MapRequest) and udp is not None and not inner.smr:
                return self._answer(now, inner, udp.src_port, None)
            return [Decision(now, "ignored", f"ECM carrying {type(inner).__name__}")]
        if isinstance(msg, MapNotify):
            return self._notify(now, msg, datagram.src)
        return [Decision(now, "ignored", f"{type(msg).__name__} from {datagram.src}")]

    # -- ETR: EIDs and locators -------------------------------------------------------------

    def owns(self, iid: int, eid: IPAddress) -> bool:
        return any(prefix.contains(eid, iid) for prefix in self.config.eid_prefixes)

    def advertised_locators(self, probed: IPAddress | None = None) -> tuple[Locator, ...]:
        """Our locator set as registered and replied: private RLOCs withheld unless allowed;
        the ``private-rloc`` fault adds ``private_rloc`` as a usable locator, with the priority
        and weight of the best configured RLOC (priority 1, weight 100 without one)."""
        locs = [
            Locator(
                lisp_address(r.address),
                r.priority,
                r.weight,
                local=True,
                reachable=True,
                probed=r.address == probed,
            )
            for r in self.config.rlocs
            if self.config.allow_private_rlocs or not is_private(r.address)
        ]
        if "private-rloc" in self.faults:
            best = min(self.config.rlocs, key=lambda r: r.priority, default=None)
            priority, weight = (best.priority, best.weight) if best is not None else (1, 100)
            locs.append(
                Locator(
                    lisp_address(self.config.private_rloc),
                    priority,
                    weight,
                    local=True,
                    reachable=True,
                )
            )
        return tuple(locs)

    def records(
        self, locators: tuple[Locator, ...], prefixes: Sequence[EidPrefix] | None = None
    ) -> tuple[EidRecord, ...]:
        """One authoritative record per EID-prefix (all of ours, or ``prefixes``)."""
        return tuple(
            EidRecord(
                *prefix.to_wire(),
                locators=locators,
                ttl=self.config.record_ttl,
                authoritative=True,
            )
            for prefix in (self.config.eid_prefixes if prefixes is None else prefixes)
        )

    # -- ETR: registration ------------------------------------------------------------------

    def register(self, now: float) -> list[Output]:
        """Map-Register every EID-prefix with every Map-Server, then again in an interval."""
        self._next_register = now + self.config.register_interval
        out: list[Output] = []
        locators = self.advertised_locators()
        withheld = [
            str(r.address)
            for r in self.config.rlocs
            if is_private(r.address) and not self.config.allow_private_rlocs
        ]
        if withheld:
            out.append(Decision(now, "private-rloc-withheld", ", ".join(withheld)))
        for ms in self.config.map_servers:
            src = self.itr.rloc_for(ms.version)
            if src is None:
                out.append(Decision(now, "register-skipped", f"no RLOC to reach {ms}"))
                continue
            nonce = self.rng.getrandbits(64)
            message = MapRegister(
                nonce=nonce,
                key_id=self.config.raw_key_id,
                records=self.records(locators),
                proxy_map_reply=self.config.proxy_reply,
                want_map_notify=self.config.want_map_notify,
            ).sign(self.config.secret)
            self._register_nonces[nonce] = now
            self.counters.registers_sent += 1
            out.append(
                Send(
                    Datagram(
                        message.build(),
                        Endpoint(src, LISP_CONTROL_PORT),
                        Endpoint(ms, LISP_CONTROL_PORT),
                    )
                )
            )
            out.append(
                Decision(
                    now,
                    "register-sent",
                    f"{len(message.records)} prefixes to {ms}",
                    {"nonce": nonce, "locators": [str(loc.address) for loc in locators]},
                )
            )
        horizon = now - 3 * self.config.register_interval
        self._register_nonces = {n: t for n, t in self._register_nonces.items() if t >= horizon}
        return out

    def _notify(self, now: float, notify: MapNotify, src: Endpoint) -> list[Output]:
        if notify.verify(self.config.secret) is not True:
            self.counters.notifies_rejected += 1
            return [Decision(now, "notify-rejected", f"bad authentication from {src}")]
        if notify.nonce not in self._register_nonces:
            self.counters.notifies_rejected += 1
            return [Decision(now, "notify-rejected", f"unknown nonce {notify.nonce:#x}")]
        self.counters.notifies_accepted += 1
        return [Decision(now, "notify-received", f"from {src}", {"nonce": notify.nonce})]

    # -- ETR: Map-Requests ------------------------------------------------------------------

    def _answer(
        self, now: float, request: MapRequest, reply_port: int, probed: IPAddress | None
    ) -> list[Output]:
        """Answer a Map-Request for our EIDs: A=1, our locators, nonce echoed, to an ITR-RLOC."""
        asked = [unwrap(rec.eid) for rec in request.records]
        if not any(a is not None and self.owns(*a) for a in asked):
            self.counters.requests_not_ours += 1
            return [Decision(now, "request-not-ours", ", ".join(map(str, request.records)))]
        if request.dont_map_reply:
            return [Decision(now, "request-not-answered", "D bit set")]
        target: tuple[IPAddress, IPAddress] | None = None
        for rloc in request.itr_rlocs:
            ip = unwrap(rloc)
            if ip is not None and (src := self.itr.rloc_for(ip[1].version)) is not None:
                target = (src, ip[1])
                break
        if target is None:
            return [Decision(now, "request-not-answered", "no usable ITR-RLOC")]
        locators = self.advertised_locators(probed if request.probe else None)
        ours = [
            prefix
            for prefix in self.config.eid_prefixes
            if any(a is not None and prefix.contains(a[1], a[0]) for a in asked)
        ]
        records = self.records(locators, ours)
        reply = MapReply(nonce=request.nonce, records=records, probe=request.probe)
        self.counters.requests_answered += 1
        return [
            Send(
                Datagram(
                    reply.build(),
                    Endpoint(target[0], LISP_CONTROL_PORT),
                    Endpoint(target[1], reply_port),
                )
            ),
            Decision(
                now,
                "map-reply-sent",
                f"{', '.join(r.eid_prefix for r in records)} to {target[1]}",
                {"nonce": request.nonce, "probe": request.probe},
            ),
        ]

    # -- ETR: data --------------------------------------------------------------------------

    def _decapsulate(self, now: float, datagram: Datagram) -> list[Output]:
        payload = datagram.payload
        try:
            header = DataHeader.parse(payload[:8])
        except DecodeError:
            self.counters.undecodable += 1
            return [Decision(now, "undecodable", f"data from {datagram.src}")]
        inner = payload[8:]
        ip = parse_ip(inner)
        iid = header.instance_id or 0
        if ip is None or not self.owns(iid, ip.dst):
            self.counters.decap_refused += 1
            what = "undecodable inner packet" if ip is None else f"[{iid}]{ip.dst} is not ours"
            return [Decision(now, "decap-refused", f"from {datagram.src}: {what}")]
        self.counters.decapsulated += 1
        return [Deliver(inner)]
