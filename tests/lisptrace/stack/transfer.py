"""Move datagrams between sans-I/O roles in memory, by destination endpoint (no sockets).

Like aioquic's test helpers: wire any roles together (Map-Server, Map-Resolver, xTRs, a
mobile node, or a :class:`Host` standing in for one) and let a test step a fake clock::

    net = Network()
    net.attach(ms)                      # every endpoint of ms.bind()
    itr = net.attach(Host("itr", [Endpoint.of("192.0.2.50", 40000)]))
    net.send(0.0, Datagram(payload, itr.here, MR))
    net.run(0.0)                        # deliver until nothing moves
    itr.received                        # what came back

A datagram goes to the role bound to its exact destination endpoint, else to a role that
claimed the destination *address* on any port (``attach(role, any_port=[addr])``), else it is
kept in :attr:`Network.lost`. Every datagram moved is in :attr:`Network.trace` and every
Decision in :attr:`Network.decisions`, tagged with the role's name.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, IPAddress, Output, Send


@dataclass
class Host:
    """A stand-in role that records what reaches it (an ITR, an ETR, a non-LISP host)."""

    name: str
    endpoints: list[Endpoint]
    received: list[Datagram] = field(default_factory=list)

    @property
    def here(self) -> Endpoint:
        return self.endpoints[0]

    def bind(self) -> list[Endpoint]:
        return list(self.endpoints)

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        self.received.append(datagram)
        return []

    def tick(self, now: float) -> list[Output]:
        return []

    def next_deadline(self) -> float | None:
        return None


class Network:
    """The in-memory wire; see the module docstring."""

    def __init__(self, max_steps: int = 10_000) -> None:
        self.max_steps = max_steps
        self.roles: list[Any] = []
        self.by_endpoint: dict[Endpoint, Any] = {}
        self.by_address: dict[IPAddress, Any] = {}
        self.queue: deque[tuple[str, Datagram]] = deque()
        self.trace: list[tuple[float, str, Datagram]] = []  # (time, sender, datagram)
        self.decisions: list[tuple[str, Decision]] = []
        self.delivered: list[tuple[str, bytes]] = []
        self.lost: list[Datagram] = []

    def attach(self, role: Any, any_port: Iterable[IPAddress] = ()) -> Any:
        """Bind ``role`` to its endpoints (and ``any_port`` addresses); returns it."""
        self.roles.append(role)
        for ep in role.bind():
            if ep in self.by_endpoint:
                raise ValueError(f"{ep} is already bound to {self.by_endpoint[ep].name}")
            self.by_endpoint[ep] = role
        for addr in any_port:
            self.by_address[addr] = role
        return role

    def route(self, dst: Endpoint) -> Any | None:
        return self.by_endpoint.get(dst) or self.by_address.get(dst.address)

    def send(self, now: float, datagram: Datagram, sender: str = "test") -> None:
        """Put a datagram on the wire (delivered by :meth:`run`)."""
        self.queue.append((sender, datagram))

    def absorb(self, now: float, name: str, outputs: list[Output]) -> None:
        """Take a role's outputs: queue its Sends, record Decisions and Delivers."""
        for out in outputs:
            if isinstance(out, Send):
                self.queue.append((name, out.datagram))
            elif isinstance(out, Decision):
                self.decisions.append((name, out))
            elif isinstance(out, Deliver):
                self.delivered.append((name, out.packet))

    def run(self, now: float) -> int:
        """Deliver queued datagrams (and what they cause) until the wire is quiet; the count."""
        steps = 0
        while self.queue:
            steps += 1
            if steps > self.max_steps:
                raise RuntimeError("datagrams still moving after max_steps (a loop?)")
            sender, dgram = self.queue.popleft()
            self.trace.append((now, sender, dgram))
            role = self.route(dgram.dst)
            if role is None:
                self.lost.append(dgram)
                continue
            self.absorb(now, role.name, role.receive(now, dgram))
        return steps

    def tick(self, now: float) -> None:
        """Fire every role's timers due at ``now``, then run."""
        for role in self.roles:
            deadline = role.next_deadline()
            if deadline is not None and deadline <= now:
                self.absorb(now, role.name, role.tick(now))
        self.run(now)

    def kinds(self, name: str | None = None) -> list[str]:
        """The Decision kinds so far (of one role, or all), in order."""
        return [d.kind for n, d in self.decisions if name is None or n == name]
