"""The sans-I/O contract every reference role keeps (Map-Server, Map-Resolver, xTR, PETR,
PITR, mobile node).

A role is a state machine. It never opens a socket and never reads a clock: the adapter (or
a test, or the replay engine) feeds it what arrived and the current time, and carries out
what it returns:

* ``receive(now, datagram)``: a UDP datagram arrived on one of the role's sockets;
* ``send_packet(now, packet)``: (xTRs, mobile node) an IP packet from a local host, to be
  encapsulated;
* ``tick(now)``: timers; ``next_deadline()`` says when the next one is due.

Each returns a list of :data:`Output`: datagrams to send, IP packets to deliver to local hosts
(decapsulated), and decisions to log. Times are seconds (float) on the caller's clock.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LISP_CONTROL_PORT = 4342
LISP_DATA_PORT = 4341


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IP address and UDP port."""

    address: IPAddress
    port: int

    @classmethod
    def of(cls, address: str, port: int) -> Endpoint:
        return cls(ipaddress.ip_address(address), port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Datagram:
    """A UDP datagram: payload, source and destination."""

    payload: bytes
    src: Endpoint
    dst: Endpoint


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``datagram`` (the adapter picks the socket bound to ``datagram.src``)."""

    datagram: Datagram


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand a decapsulated IP ``packet`` to the local hosts."""

    packet: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    """Something the role decided, for the log: ``kind`` is a stable word, ``detail`` text.

    Examples of kinds: ``register-accepted``, ``register-rejected``, ``notify-sent``,
    ``request-forwarded``, ``proxy-reply``, ``negative-reply``, ``cache-installed``,
    ``smr-sent``, ``decap-refused``. ``fields`` holds machine-readable values (never keys).
    ``role`` names the role that decided when several share one process (a Map-Server
    co-located with a Map-Resolver or PETR: see ``lisptrace.stack.serve.Colocated``); empty:
    the process's own role.
    """

    time: float
    kind: str
    detail: str = ""
    fields: dict[str, object] = field(default_factory=dict)
    role: str = ""


Output = Send | Deliver | Decision


class Role(Protocol):
    """What the adapter needs from a role."""

    name: str

    def bind(self) -> list[Endpoint]:
        """The UDP endpoints the role listens on."""
        ...

    def receive(self, now: float, datagram: Datagram) -> list[Output]: ...

    def tick(self, now: float) -> list[Output]: ...

    def next_deadline(self) -> float | None: ...
