"""The Proxy-ETR and Proxy-ITR roles (RFC 6832).

* :class:`Petr` decapsulates LISP data from LISP sites towards non-LISP hosts, but only when
  the outer source is a currently registered RLOC of the inner source EID (MN sec. 12.1, the
  rule PETR-NO-DECAP-UNREG). It learns registrations from its co-located Map-Server through
  the small read interface :class:`RegistrationView`. Refused packets are counted and logged
  (Decision ``decap-refused``). Decapsulated packets leave as :class:`Deliver` (handed to the
  IP stack, which routes them natively).
* :class:`Pitr` encapsulates traffic from non-LISP hosts (``send_packet``) towards LISP EIDs,
  resolving them with the ITR engine of :mod:`lisptrace.stack.xtr` (same map-cache, retries,
  queueing, SMR handling), with the p bit set on its Map-Requests. Destinations the mapping
  system answers negatively are sent natively.

Fault switches: ``petr-decap-any`` (Petr: decapsulates whatever arrives, logged as
``decap-unregistered``; breaks PETR-NO-DECAP-UNREG), ``ignore-smr`` (Pitr: breaks
PEER-SMR-INVOKED).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dissectors.core import DecodeError
from dissectors.lisp.data import DataHeader
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest
from dissectors.lisp.message import parse_control
from lisptrace.stack.role import (
    LISP_CONTROL_PORT,
    LISP_DATA_PORT,
    Datagram,
    Decision,
    Deliver,
    Endpoint,
    IPAddress,
    Output,
)
from lisptrace.stack.xtr import ItrEngine, check_faults, config_from_dict, parse_ip

# fault switch -> the one catalog rule it breaks (spec sec. 2)
PETR_FAULTS: dict[str, str] = {"petr-decap-any": "PETR-NO-DECAP-UNREG"}
PITR_FAULTS: dict[str, str] = {"ignore-smr": "PEER-SMR-INVOKED"}


@runtime_checkable
class RegistrationView(Protocol):
    """What the PETR needs of its co-located Map-Server's registration table."""

    def rlocs_for(self, eid: IPAddress, now: float) -> set[IPAddress] | None:
        """The RLOCs registered (and not expired at ``now``) for the prefix covering ``eid``;
        ``None`` when ``eid`` is in no registered prefix."""
        ...


@dataclass(frozen=True)
class PetrConfig:
    """Configuration of a PETR (the ``[petr]`` table; TOML keys may use ``-`` for ``_``).

    Fields:

    * ``name``: the role's name in logs.
    * ``rlocs``: its RLOCs; it listens for LISP data on UDP 4341 of each.
    * ``faults``: fault switches, see :data:`PETR_FAULTS`.
    """

    name: str = "petr"
    rlocs: tuple[IPAddress, ...] = ()
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_faults("petr", self.faults, PETR_FAULTS)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PetrConfig:
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class PitrConfig:
    """Configuration of a PITR (the ``[pitr]`` table; TOML keys may use ``-`` for ``_``).

    Fields:

    * ``name``: the role's name in logs.
    * ``rlocs``: its RLOCs; it sends data (4341) and Map-Requests (4342) from them.
    * ``map_resolvers``: where its ECM Map-Requests go (the first; retries rotate).
    * ``instance_id``: the instance ID it encapsulates with and asks for (``None``: none).
    * ``request_timeout`` (s), ``request_retries``, ``queue_limit``: as for the xTR.
    * ``faults``: fault switches, see :data:`PITR_FAULTS`.
    * ``seed``: seeds the nonce generator; ``None`` = random.
    """

    name: str = "pitr"
    rlocs: tuple[IPAddress, ...] = ()
    map_resolvers: tuple[IPAddress, ...] = ()
    instance_id: int | None = None
    request_timeout: float = 1.0
    request_retries: int = 3
    queue_limit: int = 8
    faults: frozenset[str] = frozenset()
    seed: int | None = None

    def __post_init__(self) -> None:
        check_faults("pitr", self.faults, PITR_FAULTS)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PitrConfig:
        return config_from_dict(cls, data)


@dataclass
class PetrCounters:
    decapsulated: int = 0
    decap_refused: int = 0
    decap_unregistered: int = 0  # decapsulated anyway under the petr-decap-any fault
    undecodable: int = 0


class Petr:
    """Proxy-ETR: decapsulates only traffic from registered RLOCs of the source EID."""

    def __init__(self, config: PetrConfig, registrations: RegistrationView) -> None:
        if not config.rlocs:
            raise ValueError("a PETR needs at least one RLOC")
        self.config = config
        self.name = config.name
        self.registrations = registrations
        self.decap_any = "petr-decap-any" in config.faults
        self.counters = PetrCounters()

    def bind(self) -> list[Endpoint]:
        return [Endpoint(rloc, LISP_DATA_PORT) for rloc in self.config.rlocs]

    def tick(self, now: float) -> list[Output]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        if datagram.dst.port != LISP_DATA_PORT:
            return [Decision(now, "ignored", f"datagram to port {datagram.dst.port}")]
        try:
            DataHeader.parse(datagram.payload[:8])
        except DecodeError:
            self.counters.undecodable += 1
            return [Decision(now, "undecodable", f"data from {datagram.src}")]
        inner = datagram.payload[8:]
        ip = parse_ip(inner)
        if ip is None:
            self.counters.undecodable += 1
            return [Decision(now, "undecodable", f"inner packet from {datagram.src}")]
        outer = datagram.src.address
        registered = self.registrations.rlocs_for(ip.src, now)
        if registered is not None and outer in registered:
            self.counters.decapsulated += 1
            return [Deliver(inner)]
        why = (
            f"{ip.src} is in no registered EID-prefix"
            if registered is None
            else f"{outer} is not a registered RLOC of {ip.src}"
        )
        fields: dict[str, object] = {"outer_src": str(outer), "eid": str(ip.src)}
        if self.decap_any:
            self.counters.decap_unregistered += 1
            return [Deliver(inner), Decision(now, "decap-unregistered", why, fields)]
        self.counters.decap_refused += 1
        return [Decision(now, "decap-refused", why, fields)]


class Pitr:
    """Proxy-ITR: encapsulates traffic from non-LISP hosts towards LISP EIDs."""

    def __init__(self, config: PitrConfig, rng: random.Random | None = None) -> None:
        if not config.rlocs:
            raise ValueError("a PITR needs at least one RLOC")
        self.config = config
        self.name = config.name
        self.itr = ItrEngine(
            rlocs=config.rlocs,
            map_resolvers=config.map_resolvers,
            rng=rng or random.Random(config.seed),
            instance_id=config.instance_id,
            request_timeout=config.request_timeout,
            request_retries=config.request_retries,
            queue_limit=config.queue_limit,
            pitr=True,
            ignore_smr="ignore-smr" in config.faults,
        )

    def bind(self) -> list[Endpoint]:
        return [
            Endpoint(rloc, port)
            for rloc in self.config.rlocs
            for port in (LISP_CONTROL_PORT, LISP_DATA_PORT)
        ]

    def tick(self, now: float) -> list[Output]:
        return self.itr.tick(now)

    def next_deadline(self) -> float | None:
        return self.itr.next_deadline()

    def send_packet(self, now: float, packet: bytes) -> list[Output]:
        """A packet from a non-LISP host towards (maybe) a LISP EID."""
        return self.itr.forward(now, packet)

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        try:
            msg = parse_control(datagram.payload)
        except DecodeError as exc:
            return [Decision(now, "undecodable", f"from {datagram.src}: {exc}")]
        if isinstance(msg, MapReply):
            return self.itr.handle_reply(now, msg, datagram.src)
        if isinstance(msg, MapRequest) and msg.smr:
            return self.itr.handle_smr(now, msg, datagram.src)
        return [Decision(now, "ignored", f"{type(msg).__name__} from {datagram.src}")]
