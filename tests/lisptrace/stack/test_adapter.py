"""The asyncio adapter on real loopback UDP sockets, with two tiny roles."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from lisptrace.stack.adapter import UdpAdapter
from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, Output, Send

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Echo:
    """Answers every datagram with its payload reversed, and delivers it."""

    here: Endpoint
    name: str = "echo"

    def bind(self) -> list[Endpoint]:
        return [self.here]

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        reply = Datagram(datagram.payload[::-1], self.here, datagram.src)
        return [Send(reply), Deliver(datagram.payload), Decision(now, "echoed")]

    def tick(self, now: float) -> list[Output]:
        return []

    def next_deadline(self) -> float | None:
        return None


@dataclass
class Pinger:
    """Sends ``count`` pings from an ephemeral port, one per timer tick, and collects replies."""

    target: Endpoint
    count: int
    name: str = "pinger"
    replies: list[bytes] = field(default_factory=list)
    sent: int = 0
    due: float | None = 0.0

    def bind(self) -> list[Endpoint]:
        return []

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        self.replies.append(datagram.payload)
        return []

    def tick(self, now: float) -> list[Output]:
        self.sent += 1
        self.due = now + 0.01 if self.sent < self.count else None
        src = Endpoint.of(LOOPBACK, 0)
        return [Send(Datagram(f"ping{self.sent}".encode(), src, self.target))]

    def next_deadline(self) -> float | None:
        return self.due


def test_roles_talk_over_real_udp_with_timers() -> None:
    async def scenario() -> tuple[Pinger, list[bytes], list[Decision]]:
        echo_at = Endpoint.of(LOOPBACK, free_port())
        delivered: list[bytes] = []
        decisions: list[Decision] = []
        echo = UdpAdapter(Echo(echo_at), deliver=delivered.append, log=decisions.append)
        pinger_role = Pinger(echo_at, count=5)
        pinger = UdpAdapter(pinger_role)
        await echo.start()
        await pinger.start()
        for _ in range(200):
            if len(pinger_role.replies) == 5:
                break
            await asyncio.sleep(0.01)
        echo.close()
        pinger.close()
        return pinger_role, delivered, decisions

    role, delivered, decisions = asyncio.run(scenario())
    assert sorted(role.replies) == sorted(f"ping{i}".encode()[::-1] for i in range(1, 6))
    assert sorted(delivered) == sorted(f"ping{i}".encode() for i in range(1, 6))
    assert [d.kind for d in decisions] == ["echoed"] * 5
