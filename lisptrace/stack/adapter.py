"""The one I/O adapter: puts any sans-I/O role on real UDP sockets with asyncio.

It binds the role's endpoints, feeds it every datagram with the loop's clock, sends what it
returns from the socket bound to each datagram's source (opening one on demand; port 0 means
"any free port"), hands decapsulated packets to a ``deliver`` callback, passes decisions to a
``log`` callback, and keeps the role's next timer armed.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

from lisptrace.stack.role import Datagram, Decision, Deliver, Endpoint, Output, Role, Send


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, adapter: UdpAdapter, local: Endpoint) -> None:
        self.adapter = adapter
        self.local = local

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        host, port = str(addr[0]), int(addr[1])  # type: ignore[call-overload]
        src = Endpoint(ipaddress.ip_address(host.split("%")[0]), port)
        self.adapter.received(Datagram(data, src, self.local))

    def error_received(self, exc: Exception) -> None:
        self.adapter.log(Decision(self.adapter.now(), "socket-error", f"{self.local}: {exc}"))


class UdpAdapter:
    """Run ``role`` on real sockets until :meth:`close`."""

    def __init__(
        self,
        role: Role,
        deliver: Callable[[bytes], None] | None = None,
        log: Callable[[Decision], None] | None = None,
    ) -> None:
        self.role = role
        self.deliver = deliver or (lambda packet: None)
        self.log = log or (lambda decision: None)
        self.sockets: dict[Endpoint, asyncio.DatagramTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._opening: dict[Endpoint, asyncio.Future[asyncio.DatagramTransport]] = {}
        self.sent = 0
        self.received_count = 0

    def now(self) -> float:
        assert self._loop is not None, "the adapter is not started"
        return self._loop.time()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for endpoint in self.role.bind():
            await self._open(endpoint)
        self._arm()

    async def _open(self, endpoint: Endpoint) -> asyncio.DatagramTransport:
        assert self._loop is not None
        transport, protocol = await self._loop.create_datagram_endpoint(
            lambda: _Socket(self, endpoint), local_addr=(str(endpoint.address), endpoint.port)
        )
        if endpoint.port == 0:  # learn the port the system chose
            port = transport.get_extra_info("sockname")[1]
            bound = Endpoint(endpoint.address, port)
            protocol.local = bound
            self.sockets[bound] = transport
        self.sockets[endpoint] = transport
        return transport

    def received(self, datagram: Datagram) -> None:
        self.received_count += 1
        self._carry(self.role.receive(self.now(), datagram))

    def inject(self, outputs: list[Output]) -> None:
        """Carry out outputs a caller got from the role directly (e.g. ``send_packet``)."""
        self._carry(outputs)

    def _carry(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Send):
                self._send(out.datagram)
            elif isinstance(out, Deliver):
                self.deliver(out.packet)
            else:
                self.log(out)
        self._arm()

    def _send(self, datagram: Datagram) -> None:
        transport = self.sockets.get(datagram.src)
        if transport is None:
            assert self._loop is not None
            task = self._loop.create_task(self._open_and_send(datagram))
            task.add_done_callback(self._report_failure)
            return
        transport.sendto(datagram.payload, (str(datagram.dst.address), datagram.dst.port))
        self.sent += 1

    async def _open_and_send(self, datagram: Datagram) -> None:
        """Open the source socket once, however many datagrams wait for it."""
        transport = self.sockets.get(datagram.src)
        if transport is None:
            opening = self._opening.get(datagram.src)
            if opening is None:
                opening = asyncio.ensure_future(self._open(datagram.src))
                self._opening[datagram.src] = opening
                opening.add_done_callback(lambda _: self._opening.pop(datagram.src, None))
            transport = await asyncio.shield(opening)
        transport.sendto(datagram.payload, (str(datagram.dst.address), datagram.dst.port))
        self.sent += 1

    def _report_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log(Decision(self.now(), "socket-error", str(task.exception())))

    def _arm(self) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.role.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_at(max(deadline, self._loop.time()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._carry(self.role.tick(self.now()))

    async def rebind(self) -> None:
        """Re-read ``role.bind()`` (e.g. after a mobile node's RLOCs changed): open sockets on
        the new endpoints and close those on endpoints the role no longer lists (sockets opened
        on demand for a source go too; they reopen on the next send). An endpoint that cannot
        be bound (its address is not configured yet) is logged as ``socket-error``."""
        wanted = set(self.role.bind())
        keep = {id(self.sockets[ep]) for ep in wanted if ep in self.sockets}
        for ep, transport in list(self.sockets.items()):
            if id(transport) not in keep:
                transport.close()
                del self.sockets[ep]
        for ep in wanted:
            if ep not in self.sockets:
                try:
                    await self._open(ep)
                except OSError as exc:
                    self.log(Decision(self.now(), "socket-error", f"bind {ep}: {exc}"))
        self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for transport in set(self.sockets.values()):
            transport.close()
        self.sockets.clear()
