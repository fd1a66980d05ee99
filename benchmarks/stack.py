"""The reference Map-Server under load over loopback, beside a plain asyncio UDP echo.

    python benchmarks/stack.py [--nodes 10000] [--seconds 8] [--window 32] [--auth-len 32]
                               [--json FILE] [--no-echo-after]

One run (about 40 s by default), three phases, each with the server and the load generator in
separate processes (so both cores work), every datagram on 127.0.0.0/8 only; the echo runs once
more at the end, so that the spread of the ceiling within the run shows how steady the host was:

1. **echo** - a plain asyncio ``DatagramProtocol`` that sends every datagram back: the ceiling
   of this design (one asyncio process answering UDP). The generator sends it exactly what it
   sends the Map-Server in phase 2 (signed Map-Registers), so the generator's work is equal.
2. **register** - :class:`~lisptrace.stack.map_server.MapServer` on the
   :class:`~lisptrace.stack.adapter.UdpAdapter` (config from TOML via ``loads``), one site
   ``10.0.0.0/8`` with ``accept-more-specifics``; N simulated mobile nodes, each with its own
   /32 EID, its own RLOC (a socket bound to its own 127.x address, kernel-chosen ephemeral
   port) sending Map-Registers signed with HMAC-SHA-256 (key id 0, algorithm 2), P and M set.
   Every Map-Notify is checked: nonce, type, HMAC, and that it came back to the node's socket.
3. **request** - ECM'd Map-Requests for random registered EIDs (ITR-RLOC and inner UDP source
   port = a node's socket), answered with proxy Map-Replies; each reply is checked (nonce,
   positive, the EID's registered RLOC) and a sample is decoded with the codecs.

Rates are answers per wall-clock second of the phase and, steadier on a shared host, answers
per CPU-second of the server process; both are also given as a ratio to the echo (the better
of the two echo phases).

The generator is closed-loop: at most ``--window`` requests outstanding, a new one only when
one is answered (or times out after 2 s), so no socket buffer fills up unseen. Losses are
counted at every step: sent by the generator, received/accepted/rejected/notified in the
Map-Server's counters, received back; plus the kernel's per-socket drop counters
(``/proc/net/udp``) of the server socket and of the generator's sockets, and the namespace's
UDP error counters (``/proc/net/snmp``) over each phase. Exit status 1 if any registration or
Map-Notify was lost.

The Map-Server runs without a decision logger (``lisptrace serve`` logs every decision; that
cost is not in these figures). CPU time of both processes per phase tells which side was the
bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import selectors
import socket
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python benchmarks/stack.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dissectors.inet import IpPacket, Ipv4Header, UdpDatagram
from dissectors.lisp.afi import NoAddress, address
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import EidRecord, Locator
from lisptrace.stack.adapter import UdpAdapter
from lisptrace.stack.config import MapServerConfig, loads
from lisptrace.stack.map_server import MapServer
from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import Decision

SERVER = "127.0.0.1"
KEY = b"benchmark-site-key"
KEY_ID = 0x0002  # RFC 9301 Key ID 0, Algorithm 2 (HMAC-SHA-256-128); 6830 key id 2
TIMEOUT = 2.0  # seconds before an unanswered datagram counts as lost and frees its slot
DRAIN = 3.0  # seconds to wait for the last answers after the sender stops
MAX_COVER = 40.0  # the register phase may run this long to register every node once
SAMPLE = 97  # decode every SAMPLE-th answer fully with the codecs

CONFIG = """
[map-server]
listen = ["{server}:{port}"]
registration-timeout = 600

[[map-server.sites]]
name = "mobile-nodes"
eid-prefixes = ["10.0.0.0/8"]
accept-more-specifics = true

[[map-server.sites.keys]]
key-id = 0
algorithms = [2]
secret-hex = "{key}"
"""


def eid_of(i: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.1")) + i)


def rloc_of(i: int) -> ipaddress.IPv4Address:
    """127.1.0.0 + i: never 127.0.0.1 (the servers)."""
    return ipaddress.IPv4Address(int(ipaddress.IPv4Address("127.1.0.0")) + i)


# -- kernel counters ------------------------------------------------------------------------


def udp_snmp() -> dict[str, int]:
    """The namespace's UDP counters (InErrors, RcvbufErrors, SndbufErrors, NoPorts, ...)."""
    try:
        lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    except OSError:
        return {}
    rows = [ln for ln in lines if ln and ln[0] == "Udp:"]
    if len(rows) < 2:
        return {}
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=False)}


def socket_drops(local: set[tuple[str, int]]) -> int:
    """Sum of the kernel's per-socket drop counters of the IPv4 UDP sockets bound to ``local``."""
    total = 0
    try:
        text = Path("/proc/net/udp").read_text()
    except OSError:
        return -1
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 13:
            continue
        hexaddr, hexport = cols[1].split(":")
        addr = str(ipaddress.IPv4Address(int(hexaddr, 16).to_bytes(4, "little")))
        if (addr, int(hexport, 16)) in local:
            total += int(cols[-1])
    return total


def host_busy() -> float:
    """CPU-seconds all CPUs of the host spent busy so far (``/proc/stat``), to see how much
    other processes took during a phase."""
    try:
        cols = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return float("nan")
    ticks = [int(c) for c in cols[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# -- the servers (child processes) ----------------------------------------------------------


async def _control(conn: Connection, stats: Callable[[], dict[str, Any]], lifetime: float) -> None:
    """Answer ``stats``, stop on ``stop`` (or EOF), and stop by itself after ``lifetime``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            msg = conn.recv()
        except EOFError:
            msg = "stop"
        if msg == "stats":
            conn.send(stats())
        elif not done.done():
            done.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    try:
        await asyncio.wait_for(done, lifetime)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(conn.fileno())


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)
        self.answered += 1


def echo_server(conn: Connection, lifetime: float) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Echo, local_addr=(SERVER, 0))
        port = transport.get_extra_info("sockname")[1]
        conn.send(port)
        await _control(
            conn, lambda: {"answered": proto.answered, "cpu": cpu_seconds(), "port": port}, lifetime
        )
        transport.close()

    asyncio.run(main())


def map_server(conn: Connection, config_text: str, lifetime: float) -> None:
    cfg: MapServerConfig = loads(config_text, "<benchmark>").role("map-server")
    role = MapServer(cfg)
    errors: list[str] = []

    def log(decision: Decision) -> None:
        if decision.kind == "socket-error":
            errors.append(decision.detail)

    adapter = UdpAdapter(role, log=log)

    def stats() -> dict[str, Any]:
        return {
            "counters": dict(role.counters),
            "rejected": dict(role.rejected),
            "received": adapter.received_count,
            "sent": adapter.sent,
            "registrations": sum(1 for _ in role.registration_table().items()),
            "socket_errors": list(errors[:5]),
            "socket_error_count": len(errors),
            "cpu": cpu_seconds(),
        }

    async def main() -> None:
        await adapter.start()
        conn.send(cfg.listen[0].port)
        await _control(conn, stats, lifetime)
        adapter.close()

    asyncio.run(main())


# -- the load generator (child process) -----------------------------------------------------


@dataclasses.dataclass
class Phase:
    """What one generator phase saw."""

    name: str
    sent: int = 0
    answered: int = 0  # matched by nonce and checked
    wrong: int = 0  # matched by nonce but failed a check
    unknown: int = 0  # no outstanding nonce (late after a timeout, or duplicate)
    timeouts: int = 0  # no answer within TIMEOUT
    unanswered_at_end: int = 0  # still outstanding when the drain ended
    send_refused: int = 0  # EAGAIN/ENOBUFS on sendto (retried, not counted as sent)
    codec_checked: int = 0  # answers fully decoded with the codecs
    elapsed: float = 0.0  # first send to last answer
    rate: float = 0.0  # answered per second
    rtt_median_ms: float = 0.0
    rtt_p99_ms: float = 0.0
    cpu: float = 0.0  # generator CPU seconds in the phase
    covered: int = 0  # distinct nodes that got an answer (register phase)
    socket_drops: int = 0  # kernel drops on the generator's sockets during the phase
    errors: list[str] = dataclasses.field(default_factory=list)


class Generator:
    """N mobile nodes: one socket each (own 127.x RLOC), templates built with the codecs."""

    def __init__(self, nodes: int, auth_len: int, seed: int) -> None:
        self.n = nodes
        self.auth_len = auth_len
        self.rng = random.Random(seed)
        self.nonce = self.rng.getrandbits(63)
        self.sel = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        self.local: list[tuple[str, int]] = []
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = nodes + 256
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            soft = min(want, hard)
        self.nsock = max(1, min(nodes, soft - 256))  # shared sockets only if the limit says so
        for i in range(self.nsock):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((str(rloc_of(i)), 0))
            s.setblocking(False)
            self.socks.append(s)
            self.local.append(s.getsockname())
            self.sel.register(s, selectors.EVENT_READ, i)
        # node i uses socket i % nsock; its RLOC is that socket's address
        self.registers = [self._register_template(i) for i in range(nodes)]
        self.rloc_bytes = [rloc_of(i % self.nsock).packed for i in range(nodes)]
        order = list(range(nodes))
        self.rng.shuffle(order)
        self.targets = order  # request k: requester k % n asks for the EID of targets[k % n]
        self.requests: list[tuple[bytes, int]] = [
            self._request_template(i, order[i]) for i in range(nodes)
        ]

    # templates --------------------------------------------------------------------------

    def _register_template(self, i: int) -> bytes:
        wire, mask = EidPrefix.parse(f"{eid_of(i)}/32").to_wire()
        locator = Locator(address(str(rloc_of(i % self.nsock))), priority=1, weight=100, local=True)
        rec = EidRecord(wire, mask, (locator,), ttl=1, authoritative=True)
        msg = MapRegister(
            nonce=0,
            key_id=KEY_ID,
            auth_data=bytes(self.auth_len),
            records=(rec,),
            proxy_map_reply=True,
            want_map_notify=True,
        )
        raw = msg.build()
        if i == 0:  # the fast signer must equal the codec's
            probe = 0x0123456789ABCDEF
            codec = dataclasses.replace(msg, nonce=probe).sign(KEY).build()
            assert self.sign(raw, probe) == codec, "fast signing differs from the codec's"
        return raw

    def sign(self, template: bytes, nonce: int) -> bytes:
        buf = bytearray(template)
        buf[4:12] = nonce.to_bytes(8, "big")
        buf[16 : 16 + self.auth_len] = hmac.new(KEY, buf, hashlib.sha256).digest()[: self.auth_len]
        return bytes(buf)

    def _request_template(self, requester: int, target: int) -> tuple[bytes, int]:
        """(ECM bytes with nonce 0, offset of the inner Map-Request's nonce)."""
        rloc = str(rloc_of(requester % self.nsock))
        sport = self.local[requester % self.nsock][1]
        wire, mask = EidPrefix.parse(f"{eid_of(target)}/32").to_wire()
        marker = 0x5A5A5A5AA5A5A5A5
        req = MapRequest(
            nonce=marker,
            source_eid=NoAddress(),
            itr_rlocs=(address(rloc),),
            records=(RequestRecord(wire, mask),),
        )
        src, dst = ipaddress.IPv4Address(rloc), eid_of(target)
        # UDP checksum 0 (none, legal for IPv4) so that patching the nonce keeps it valid
        packet = IpPacket(Ipv4Header(src, dst), UdpDatagram(sport, 4342, req, checksum=0))
        raw = EncapsulatedControlMessage(packet).build()
        at = raw.find(marker.to_bytes(8, "big"))
        assert at > 0 and raw.count(marker.to_bytes(8, "big")) == 1
        return raw[:at] + bytes(8) + raw[at + 8 :], at

    # checks -----------------------------------------------------------------------------

    def check_notify(self, data: bytes, node: int, sock: int, k: int, ph: Phase) -> bool:
        a = self.auth_len
        if len(data) < 16 + a or data[0] >> 4 != 4 or sock != node % self.nsock:
            return False
        zero = data[:16] + bytes(a) + data[16 + a :]
        want = hmac.new(KEY, zero, hashlib.sha256).digest()[:a]
        if not hmac.compare_digest(want, data[16 : 16 + a]):
            return False
        if k % SAMPLE == 0:
            msg = parse_control(data)
            ph.codec_checked += 1
            ok = isinstance(msg, MapNotify) and msg.verify(KEY) is True
            rec = msg.records[0] if isinstance(msg, MapNotify) and msg.records else None
            return ok and rec is not None and str(rec.eid.address) == str(eid_of(node))
        return True

    def check_reply(self, data: bytes, target: int, k: int, ph: Phase) -> bool:
        # Map-Reply: type 2; record at 12: TTL(4) loc-count(1) mask(1) ACT|A(2) ver(2)
        # EID-AFI(2) EID(4); locator at 28: prio/weight(4) flags(2) AFI(2) RLOC(4) at 36
        if len(data) < 40 or data[0] >> 4 != 2 or data[16] < 1:
            return False
        if data[18] & 0x10 or data[36:40] != self.rloc_bytes[target]:
            return False  # authoritative bit set, or not the registered RLOC
        if k % SAMPLE == 0:
            msg = parse_control(data)
            ph.codec_checked += 1
            if not isinstance(msg, MapReply) or len(msg.records) != 1:
                return False
            rec = msg.records[0]
            return (
                not rec.authoritative
                and str(rec.eid.address) == str(eid_of(target))
                and [str(loc.address.address) for loc in rec.locators]  # type: ignore[union-attr]
                == [str(rloc_of(target % self.nsock))]
            )
        return True

    # the closed loop --------------------------------------------------------------------

    def drive(self, kind: str, port: int, seconds: float, window: int) -> Phase:
        """``kind``: "echo" (registers to the echo server), "register", "request"."""
        ph = Phase(kind)
        dst = (SERVER, port)
        out: dict[bytes, tuple[float, int, int]] = {}  # nonce -> (sent at, index, k)
        seen: set[int] = set()
        rtts: list[float] = []
        n, k = self.n, 0
        must_cover = kind == "register"
        drops0 = socket_drops(set(self.local))
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        stop_at, cap = t0 + seconds, t0 + max(seconds, MAX_COVER)
        last = t0
        sending, drain_until, sweep = True, 0.0, t0 + 0.05
        while True:
            now = time.perf_counter()
            if sending and ((now >= stop_at and (not must_cover or len(seen) >= n)) or now >= cap):
                sending, drain_until = False, now + DRAIN
            if not sending and (not out or now >= drain_until):
                break
            while sending and len(out) < window:
                i = k % n
                self.nonce = (self.nonce + 1) & 0xFFFFFFFFFFFFFFFF
                nb = self.nonce.to_bytes(8, "big")
                if kind == "request":
                    raw, at = self.requests[i]
                    payload = raw[:at] + nb + raw[at + 8 :]
                    sock = self.socks[i % self.nsock]
                else:
                    payload = self.sign(self.registers[i], self.nonce)
                    sock = self.socks[i % self.nsock]
                try:
                    sock.sendto(payload, dst)
                except (BlockingIOError, InterruptedError, OSError) as exc:
                    ph.send_refused += 1
                    if len(ph.errors) < 5:
                        ph.errors.append(f"sendto: {exc}")
                    break
                out[nb] = (now, i, k)
                ph.sent += 1
                k += 1
            for key, _ in self.sel.select(0.05 if out else 0.001):
                sock = key.fileobj  # type: ignore[assignment]
                while True:
                    try:
                        data = sock.recv(4096)  # type: ignore[union-attr]
                    except BlockingIOError:
                        break
                    entry = out.pop(data[4:12], None)
                    if entry is None:
                        ph.unknown += 1
                        continue
                    sent_at, i, kk = entry
                    if kind == "echo":
                        ok = data[0] >> 4 == 3
                    elif kind == "register":
                        ok = self.check_notify(data, i, key.data, kk, ph)
                    else:
                        ok = self.check_reply(data, self.targets[i], kk, ph)
                    if ok:
                        ph.answered += 1
                        seen.add(i)
                        last = time.perf_counter()
                        rtts.append(last - sent_at)
                    else:
                        ph.wrong += 1
            if now >= sweep:
                sweep = now + 0.05
                for nb, (sent_at, _, _) in list(out.items()):
                    if now - sent_at > TIMEOUT:
                        del out[nb]
                        ph.timeouts += 1
        ph.unanswered_at_end = len(out)
        ph.elapsed = last - t0
        ph.rate = ph.answered / ph.elapsed if ph.elapsed > 0 else 0.0
        ph.cpu = cpu_seconds() - cpu0
        ph.covered = len(seen)
        if rtts:
            rtts.sort()
            ph.rtt_median_ms = statistics.median(rtts) * 1e3
            ph.rtt_p99_ms = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1e3
        ph.socket_drops = socket_drops(set(self.local)) - drops0
        return ph


def generator(conn: Connection, nodes: int, auth_len: int, seed: int) -> None:
    t = time.perf_counter()
    gen = Generator(nodes, auth_len, seed)
    conn.send({"setup": time.perf_counter() - t, "sockets": gen.nsock})
    while True:
        try:
            cmd = conn.recv()
        except EOFError:
            return
        if cmd is None:
            return
        kind, port, seconds, window = cmd
        conn.send(gen.drive(kind, port, seconds, window).__dict__)


# -- orchestration --------------------------------------------------------------------------


class Child:
    """A child process with a pipe; terminated if it outlives its welcome."""

    def __init__(self, ctx: Any, target: Callable[..., None], *args: Any) -> None:
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(theirs, *args), daemon=True)
        self.proc.start()
        theirs.close()

    def recv(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{self.proc.name} did not answer within {timeout:.0f} s")
        return self.conn.recv()

    def ask(self, msg: Any, timeout: float = 10.0) -> Any:
        self.conn.send(msg)
        return self.recv(timeout)

    def stop(self, msg: Any = "stop") -> None:
        with contextlib.suppress(OSError):
            self.conn.send(msg)
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((SERVER, 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "rmem_default": _read_int("/proc/sys/net/core/rmem_default"),
        "loadavg": _loadavg(),
    }


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def run(
    nodes: int, seconds: float, window: int, auth_len: int, seed: int, echo_after: bool = True
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    lifetime = 3 * max(seconds, MAX_COVER) + 120  # servers stop by themselves after this
    phase_timeout = max(seconds, MAX_COVER) + DRAIN + 30
    result: dict[str, Any] = {
        "machine": machine(),
        "nodes": nodes,
        "seconds": seconds,
        "window": window,
        "auth_len": auth_len,
    }
    gen = Child(ctx, generator, nodes, auth_len, seed)
    servers: list[Child] = []
    try:
        result["generator"] = gen.recv(120)

        def echo_phase(key: str) -> None:
            echo = Child(ctx, echo_server, lifetime)
            servers.append(echo)
            port = echo.recv(30)
            d0 = socket_drops({(SERVER, port)})
            s0, snmp0, h0 = echo.ask("stats"), udp_snmp(), host_busy()
            ph = gen.ask(("echo", port, seconds, window), phase_timeout)
            s1, snmp1, h1 = echo.ask("stats"), udp_snmp(), host_busy()
            ph["server_cpu"] = s1["cpu"] - s0["cpu"]
            ph["host_busy"] = h1 - h0
            ph["server_answered"] = s1["answered"] - s0["answered"]
            ph["server_socket_drops"] = socket_drops({(SERVER, port)}) - d0
            ph["snmp"] = _delta(snmp1, snmp0)
            result[key] = ph
            echo.stop()

        # 1. echo (again at the end: the spread shows how steady the host was)
        echo_phase("echo")

        # 2. Map-Registers, 3. Map-Requests
        text = CONFIG.format(server=SERVER, port=free_port(), key=KEY.hex())
        ms = Child(ctx, map_server, text, lifetime)
        servers.append(ms)
        port = ms.recv(30)
        for kind in ("register", "request"):
            d0 = socket_drops({(SERVER, port)})
            s0, snmp0, h0 = ms.ask("stats"), udp_snmp(), host_busy()
            ph = gen.ask((kind, port, seconds, window), phase_timeout)
            s1, snmp1, h1 = ms.ask("stats"), udp_snmp(), host_busy()
            ph["host_busy"] = h1 - h0
            c0, c1 = s0["counters"], s1["counters"]
            ph["server"] = _delta(c1, c0)
            ph["server_rejected"] = _delta(s1["rejected"], s0["rejected"])
            ph["server_received"] = s1["received"] - s0["received"]
            ph["server_sent"] = s1["sent"] - s0["sent"]
            ph["server_cpu"] = s1["cpu"] - s0["cpu"]
            ph["server_socket_errors"] = s1["socket_error_count"] - s0["socket_error_count"]
            ph["server_socket_drops"] = socket_drops({(SERVER, port)}) - d0
            ph["registrations"] = s1["registrations"]
            ph["snmp"] = _delta(snmp1, snmp0)
            result[kind] = ph
        ms.stop()
        if echo_after:
            echo_phase("echo_after")
    finally:
        gen.stop(None)
        for s in servers:
            s.stop()
    result["loadavg_after"] = _loadavg()
    reg = result["register"]
    accepted = reg["server"].get("registers-accepted", 0)
    notifies = reg["server"].get("notifies", 0)
    result["lost"] = {
        "registers_not_received": reg["sent"] - reg["server"].get("registers", 0),
        "registers_not_accepted": reg["sent"] - accepted,
        "notifies_not_sent": accepted - notifies,
        "notifies_not_received": notifies - reg["answered"],
        "registrations_lost": reg["sent"] - min(accepted, reg["answered"]),
        "nodes_not_registered": nodes - reg["registrations"],
    }
    return result


# -- report ---------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> str:
    m, reg, req = r["machine"], r["register"], r["request"]
    echoes = [("asyncio UDP echo (ceiling)", r["echo"])]
    if "echo_after" in r:
        echoes.append(("asyncio UDP echo, again at end", r["echo_after"]))
    ceiling = max(e["rate"] for _, e in echoes) or float("nan")
    cpu_ceiling = max(e["answered"] / e["server_cpu"] if e["server_cpu"] else 0 for _, e in echoes)
    cpu_ceiling = cpu_ceiling or float("nan")
    lines = [
        f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['implementation']} {m['python']}, "
        f"Linux {m['kernel']}, rmem_default {m['rmem_default']}, "
        f"load average {m['loadavg']} before / {r['loadavg_after']} after",
        f"load: {r['nodes']} mobile nodes ({r['generator']['sockets']} sockets/RLOCs), "
        f"window {r['window']}, {r['seconds']:g} s per phase, HMAC-SHA-256 "
        f"{r['auth_len']}-byte digest; generator setup {r['generator']['setup']:.1f} s",
        "",
        f"{'phase':<32}{'answered':>9}{'per s':>8}{'x echo':>7}{'per srv cpu-s':>14}"
        f"{'x echo':>7}{'rtt ms p50/p99':>16}{'cpu srv/gen/rest':>18}",
    ]
    rows = [
        echoes[0],
        ("Map-Register -> Map-Notify", reg),
        ("ECM Map-Request -> proxy Reply", req),
        *echoes[1:],
    ]
    for name, ph in rows:
        other = max(0.0, ph["host_busy"] - ph["server_cpu"] - ph["cpu"])
        busy = "/".join(f"{x / ph['elapsed']:.0%}" for x in (ph["server_cpu"], ph["cpu"], other))
        per_cpu = ph["answered"] / ph["server_cpu"] if ph["server_cpu"] else float("nan")
        lines.append(
            f"{name:<32}{ph['answered']:>9}{ph['rate']:>8.0f}{ph['rate'] / ceiling:>7.2f}"
            f"{per_cpu:>14.0f}{per_cpu / cpu_ceiling:>7.2f}"
            f"{ph['rtt_median_ms']:>8.2f}/{ph['rtt_p99_ms']:<7.2f}{busy:>18}"
        )
    s = reg["server"]
    lost = r["lost"]
    lines += [
        "",
        "registrations: sent {} | MS received {} accepted {} rejected {} {} | Notifies sent {} "
        "received+verified {} wrong {} | table {} of {} nodes".format(
            reg["sent"],
            s.get("registers", 0),
            s.get("registers-accepted", 0),
            s.get("registers-rejected", 0),
            reg["server_rejected"] or "",
            s.get("notifies", 0),
            reg["answered"],
            reg["wrong"],
            reg["registrations"],
            r["nodes"],
        ),
        "lost: " + ", ".join(f"{k} {v}" for k, v in lost.items()),
        "verdict: " + verdict(r),
        "requests: sent {} | MS requests {} proxy-replies {} negative {} forwarded {} | "
        "replies checked {} wrong {}".format(
            req["sent"],
            req["server"].get("requests", 0),
            req["server"].get("proxy-replies", 0),
            req["server"].get("negative-replies", 0),
            req["server"].get("forwarded", 0),
            req["answered"],
            req["wrong"],
        ),
    ]
    for name, ph in rows:
        where = (
            f"timeouts {ph['timeouts']}, unanswered at end {ph['unanswered_at_end']}, "
            f"late/unknown {ph['unknown']}, send refused {ph['send_refused']}, "
            f"kernel drops server socket {ph['server_socket_drops']} / generator sockets "
            f"{ph['socket_drops']}, UDP counters {ph['snmp'] or '{}'}, codec-checked "
            f"{ph['codec_checked']}"
        )
        lines.append(f"{name}: {where}")
    return "\n".join(lines)


def verdict(r: dict[str, Any]) -> str:
    """Zero lost, or where the lost registrations went."""
    reg, lost = r["register"], r["lost"]
    if not any(lost.values()) and not reg["wrong"]:
        return "no registration or Map-Notify lost"
    where = [
        f"{reg['server_socket_drops']} dropped by the kernel at the Map-Server's socket "
        "(receive buffer full: lower --window)",
        f"{reg['socket_drops']} dropped at the nodes' sockets",
        f"{reg['send_refused']} sends refused by the generator's kernel (retried)",
        f"{sum(reg['server_rejected'].values())} rejected by the Map-Server "
        f"{reg['server_rejected'] or ''}",
        f"{reg['wrong']} Map-Notifies that failed a check",
        f"{reg['timeouts'] + reg['unanswered_at_end']} registers never answered",
    ]
    return "LOST - " + "; ".join(w for w in where if not w.startswith("0 "))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=10_000, help="simulated mobile nodes")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    ap.add_argument("--window", type=int, default=32, help="datagrams outstanding at most")
    ap.add_argument("--auth-len", type=int, choices=(16, 32), default=32)
    ap.add_argument("--seed", type=int, default=4342)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--no-echo-after", action="store_true", help="skip the second echo phase at the end"
    )
    args = ap.parse_args(argv)
    if not 1 <= args.nodes <= 1_000_000 or not 0 < args.seconds <= 120 or args.window < 1:
        ap.error("--nodes 1..1000000, --seconds 0..120, --window >= 1")
    r = run(args.nodes, args.seconds, args.window, args.auth_len, args.seed, not args.no_echo_after)
    print(report(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=2, default=str))
    lost = r["lost"]
    bad = any(v for k, v in lost.items()) or r["register"]["wrong"] or r["request"]["wrong"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
