"""Run a reference role as a process: ``python -m lisptrace.stack.serve ROLE --config FILE``
(``lisptrace serve`` calls :func:`main`).

* The role is built from its section of the TOML file (:mod:`lisptrace.stack.config`):
  ``map-server``; ``map-resolver`` (with ``map-server = "co-located"`` the file's
  ``[map-server]`` runs in the same process, on the same sockets: ECM'd Map-Requests go to the
  resolver, everything else to the Map-Server); ``xtr``; ``petr`` (a ``[map-server]`` section in
  the same file runs in the process and is the PETR's registration view; without one the PETR
  knows no registration and refuses everything unless its ``petr-decap-any`` fault is on);
  ``pitr``; ``mobile-node``; ``rtr``.
* It runs on the :class:`~lisptrace.stack.adapter.UdpAdapter`; every
  :class:`~lisptrace.stack.role.Decision` becomes one JSON line on the log stream::

      {"time": 1763733071.25, "clock": 8123.5, "role": "map-server",
       "kind": "register-accepted", "detail": "...", "fields": {...}}

  ``time`` is wall-clock UNIX seconds (the clock of captures and lab manifests), ``clock`` the
  role's own (monotonic) time, ``role`` the role that decided: in a map-resolver or petr
  process the co-located Map-Server's decisions (registrations, proxy replies, forwarding)
  say ``map-server`` (its configured ``name``), the rest the process's role. Field values
  that are bytes are written in hex, addresses as text; a field named like a key (``key``,
  ``secret``, ``password``, ``auth-data``...) is written as ``"***"``. Two lines of the
  process itself frame the run: ``serve-started`` (fields: ``binds``, ``tun``, ``pid``;
  printed once every socket is bound, so a caller can wait for it) and ``serve-stopped`` (the
  adapter's counters).
* SIGTERM / SIGINT stop it cleanly: sockets and the TUN closed, exit status 0. A
  configuration error is one line on stderr and exit status 2; a run-time failure (a socket
  that cannot be bound, no TUN device) one line and status 1.

``--tun IFNAME`` (xtr, mobile-node, pitr; petr writes only): opens the Linux TUN device
``IFNAME`` (``/dev/net/tun``, ``IFF_TUN | IFF_NO_PI``), creating it if it does not exist (it then
vanishes with the process) or attaching to one the lab made with ``ip tuntap add``, and sets it
up. IP packets the kernel routes into it are fed to the role's ``send_packet`` (multicast,
link-local and unspecified destinations - the kernel's own IPv6 chatter - are skipped); the
role's ``Deliver`` packets (decapsulated traffic for local hosts) are written to it. The lab
routes EID traffic into the TUN (see docs/lab.md, "Roles as processes")::

    ip addr add 10.1.0.1/32 dev lt0                      # the local EID, on the TUN (or on lo)
    ip route add 10.2.0.0/16 dev lt0 src 10.1.0.1        # peer EID space into the TUN
    # the underlay (RLOCs, Map-Server, PETR) keeps its routes over the real interfaces

**Mobile node**: the process watches the node's interfaces (``[mobile-node.interfaces.NAME]``;
with none configured, every interface but ``lo`` and the TUN) every 100 ms through a netlink
address dump (``RTM_GETADDR``) and the link flags (up and running): an interface's RLOC is its
first global, non-tentative, non-deprecated address (IPv4 first, or the family of the address
configured for it), the EID excepted. When that map changes it calls
:meth:`MobileNode.set_rlocs` with the detection time, logs ``interfaces-changed``, rebinds
the sockets (:meth:`UdpAdapter.rebind`) and only then sends what the node answered (the
immediate Map-Registers from the new RLOCs, SMRs).

``--control ADDR:PORT`` (loopback addresses only; for the lab's loopback backend, where there
are no interfaces to watch and no TUN without root): the process also listens on that UDP
endpoint for JSON datagrams, one command each, answered with nothing (each is logged)::

    {"rlocs": {"lo0": "127.77.0.9"}}   # mobile-node: its RLOCs are now exactly these
                                        # (name -> address or null = down): the same path as a
                                        # watched interface change (set_rlocs, interfaces-changed,
                                        # rebind, then the Map-Registers and SMRs)
    {"packet": "4500..."}              # xtr, mobile-node, pitr: an IP packet (hex) taken as if
                                        # read from the TUN (its answer, if any, is dropped
                                        # unless --tun is given too)

A mobile node given ``--control`` watches no interface: it starts from the ``address`` of each
``[mobile-node.interfaces.NAME]`` and changes RLOCs only when told. A command that is not a
JSON object of these keys, or an ``rlocs`` to another role, is logged as ``control-error`` and
ignored; a datagram from a non-loopback source never arrives (the socket is bound to a
loopback address).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from lisptrace.stack.adapter import UdpAdapter
from lisptrace.stack.config import ConfigError, StackConfig, load
from lisptrace.stack.role import Datagram, Decision, Endpoint, IPAddress, Output

ROLES = ("map-server", "map-resolver", "xtr", "petr", "pitr", "mobile-node", "rtr")
TUN_ROLES = ("xtr", "mobile-node", "pitr", "petr")
POLL_SECONDS = 0.1

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


class ServeError(RuntimeError):
    """A run-time failure (one line): a socket that cannot be bound, no TUN device."""


# -- co-located roles --------------------------------------------------------------------------


class Colocated:
    """Several roles in one process (Map-Resolver + Map-Server, PETR + Map-Server).

    A datagram goes to the parts bound to its destination endpoint: the first whose
    ``accepts`` predicate (``None``: anything) takes it, else the first of them; a datagram on a
    socket no part listed (one opened on demand to send from) goes to the first part.

    Each part's decisions carry its own role name (``Decision.role``, e.g. ``map-server`` for
    the co-located Map-Server's ``register-accepted``) unless the part already set one, so the
    log tells the parts apart; the process's own name is the first part's.
    """

    def __init__(self, parts: Sequence[tuple[Any, Callable[[Datagram], bool] | None]]) -> None:
        self.parts = list(parts)
        self.name = str(self.parts[0][0].name)

    def bind(self) -> list[Endpoint]:
        return list(dict.fromkeys(ep for role, _ in self.parts for ep in role.bind()))

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        owners = [(r, ok) for r, ok in self.parts if datagram.dst in r.bind()] or self.parts[:1]
        for role, accepts in owners:
            if accepts is None or accepts(datagram):
                return _tagged(role, role.receive(now, datagram))
        return _tagged(owners[0][0], owners[0][0].receive(now, datagram))

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        for role, _ in self.parts:
            deadline = role.next_deadline()
            if deadline is not None and deadline <= now:
                out += _tagged(role, role.tick(now))
        return out

    def next_deadline(self) -> float | None:
        times = [t for role, _ in self.parts if (t := role.next_deadline()) is not None]
        return min(times) if times else None


def _tagged(role: Any, outputs: Sequence[Output]) -> list[Output]:
    """``outputs`` with each decision not yet attributed attributed to ``role``."""
    name = str(role.name)
    return [
        dataclasses.replace(o, role=name) if isinstance(o, Decision) and not o.role else o
        for o in outputs
    ]


def _is_ecm(datagram: Datagram) -> bool:
    """An Encapsulated Control Message (type 8): what a Map-Resolver takes."""
    return bool(datagram.payload) and datagram.payload[0] >> 4 == 8


class _NoRegistrations:
    """The registration view of a PETR without a co-located Map-Server."""

    def rlocs_for(self, eid: IPAddress, now: float) -> set[IPAddress] | None:
        return None


def build_role(role_name: str, stack: StackConfig) -> tuple[Any, list[Decision]]:
    """The role ``role_name`` of a parsed file, and decisions worth logging at start-up.

    Raises :class:`ConfigError` (one line) for a missing section or a role that refuses its
    configuration."""
    from lisptrace.stack.map_resolver import MapResolver
    from lisptrace.stack.map_server import MapServer

    notes: list[Decision] = []
    if role_name not in ROLES:
        raise ConfigError(f"unknown role {role_name!r} (known: {', '.join(ROLES)})")
    cfg = stack.role(role_name)
    try:
        if role_name == "map-server":
            return MapServer(cfg), notes
        if role_name == "map-resolver":
            if cfg.map_server is not None:
                return MapResolver(cfg), notes
            if "map-server" not in stack.roles:
                raise ConfigError(
                    '[map-resolver] map-server = "co-located" needs a [map-server] section'
                )
            ms = MapServer(stack.role("map-server"))
            return Colocated([(MapResolver(cfg, ms), _is_ecm), (ms, None)]), notes
        if role_name == "xtr":
            from lisptrace.stack.xtr import Xtr

            return Xtr(cfg), notes
        if role_name == "petr":
            from lisptrace.stack.petr import Petr

            if "map-server" in stack.roles:
                ms = MapServer(stack.role("map-server"))
                return Colocated([(Petr(cfg, ms), None), (ms, None)]), notes
            notes.append(
                Decision(
                    0.0,
                    "no-registrations",
                    "no [map-server] section: the PETR knows no registration",
                )
            )
            return Petr(cfg, _NoRegistrations()), notes
        if role_name == "pitr":
            from lisptrace.stack.petr import Pitr

            return Pitr(cfg), notes
        if role_name == "mobile-node":
            from lisptrace.stack.mobile_node import MobileNode

            return MobileNode(cfg.config, name=cfg.name, seed=cfg.seed), notes
        from lisptrace.stack.rtr import Rtr

        return Rtr(cfg), notes
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"[{role_name}] {' '.join(str(exc).split())}") from None


# -- the decision log --------------------------------------------------------------------------

_SECRET_NAMES = ("key", "secret", "password", "passwd", "auth-data", "auth_data", "psk")


def _is_secret_name(name: str) -> bool:
    low = name.lower().replace("_", "-")
    if low.startswith(("key-id", "keyid")) or low.endswith("-key-id"):
        return False
    return any(s in low for s in _SECRET_NAMES)


def _plain(value: object, name: str = "") -> object:
    """A JSON-able copy of a field value (bytes in hex; keys redacted)."""
    if name and _is_secret_name(name):
        return "***"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _plain(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    return str(value)


class DecisionLog:
    """Writes decisions as JSON lines (flushed one by one)."""

    def __init__(self, stream: TextIO, role: str, offset: float = 0.0) -> None:
        self.stream = stream
        self.role = role
        self.offset = offset  # wall clock minus the role's clock
        self.lines = 0

    def __call__(self, decision: Decision) -> None:
        line = {
            "time": round(decision.time + self.offset, 6),
            "clock": round(decision.time, 6),
            "role": decision.role or self.role,
            "kind": decision.kind,
            "detail": decision.detail,
            "fields": _plain(decision.fields),
        }
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.stream.write(json.dumps(line, separators=(",", ":")) + "\n")
            self.stream.flush()
        self.lines += 1


# -- TUN ---------------------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_LOOPBACK = 0x8


def _ifreq(name: str, flags: int = 0) -> bytes:
    return struct.pack("16sH22x", name.encode(), flags)


def link_flags(name: str) -> int | None:
    """The interface's flags (``SIOCGIFFLAGS``), ``None`` if it does not exist."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            result = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, _ifreq(name))
        except OSError:
            return None
    return int(struct.unpack_from("16sH", result)[1])


def open_tun(name: str) -> int:
    """Open (creating if missing) the TUN device ``name``, set it up; a non-blocking fd."""
    if not 0 < len(name.encode()) < 16:
        raise ServeError(f"--tun {name!r}: an interface name is 1-15 bytes")
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ServeError(f"--tun {name}: /dev/net/tun: {exc.strerror or exc}") from None
    try:
        fcntl.ioctl(fd, TUNSETIFF, _ifreq(name, IFF_TUN | IFF_NO_PI))
        flags = link_flags(name) or 0
        if not flags & IFF_UP:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, _ifreq(name, flags | IFF_UP))
    except OSError as exc:
        os.close(fd)
        raise ServeError(f"--tun {name}: {exc.strerror or exc}") from None
    return fd


def _skippable(packet: bytes) -> bool:
    """Packets the kernel emits on its own (multicast, link-local, unspecified destinations)
    or that are not IP."""
    version = packet[0] >> 4 if packet else 0
    try:
        if version == 4 and len(packet) >= 20:
            dst: IPAddress = ipaddress.IPv4Address(packet[16:20])
        elif version == 6 and len(packet) >= 40:
            dst = ipaddress.IPv6Address(packet[24:40])
        else:
            return True
    except ValueError:  # pragma: no cover - fixed lengths above
        return True
    return dst.is_multicast or dst.is_link_local or dst.is_unspecified


# -- interface addresses (netlink) -------------------------------------------------------------

RTM_NEWADDR = 20
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
RT_SCOPE_UNIVERSE = 0


def interface_addresses() -> dict[str, list[IPAddress]]:
    """Global, usable (not tentative, DAD-failed or deprecated) addresses of every interface of
    this namespace, in the kernel's order, by interface name (one netlink ``RTM_GETADDR``
    dump)."""
    names = {index: name for index, name in socket.if_nameindex()}
    out: dict[str, list[IPAddress]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        header = struct.pack("=LHHLL", 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        s.send(header + struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0))
        while True:
            data = s.recv(1 << 16)
            if not data:
                return out
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=LH", data, off)
                if length < 16 or kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    (errno,) = struct.unpack_from("=i", data, off + 16)
                    raise OSError(-errno, "netlink RTM_GETADDR failed")
                if kind == RTM_NEWADDR and length >= 24:
                    _, _, flags, scope, index = struct.unpack_from("=BBBBI", data, off + 16)
                    attrs: dict[int, bytes] = {}
                    pos = off + 24
                    while pos + 4 <= off + length:
                        alen, atype = struct.unpack_from("=HH", data, pos)
                        if alen < 4:
                            break
                        attrs[atype] = data[pos + 4 : pos + alen]
                        pos += (alen + 3) & ~3
                    if IFA_FLAGS in attrs and len(attrs[IFA_FLAGS]) == 4:
                        (flags,) = struct.unpack("=I", attrs[IFA_FLAGS])
                    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
                    bad = flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)
                    if raw and len(raw) in (4, 16) and scope == RT_SCOPE_UNIVERSE and not bad:
                        name = names.get(index, str(index))
                        out.setdefault(name, []).append(ipaddress.ip_address(raw))
                off += (length + 3) & ~3


class RlocWatcher:
    """The operational RLOC of each watched interface, as the mobile node wants it."""

    def __init__(
        self,
        interfaces: Sequence[str],
        prefer: dict[str, int] | None = None,
        exclude: Sequence[IPAddress] = (),
        skip: Sequence[str] = (),
    ) -> None:
        self.interfaces = list(interfaces)  # empty: every interface but lo and ``skip``
        self.prefer = prefer or {}
        self.exclude = set(exclude)
        self.skip = set(skip)

    def scan(self) -> dict[str, IPAddress | None]:
        addresses = interface_addresses()
        names = self.interfaces or sorted(
            n
            for n in set(addresses) | {name for _, name in socket.if_nameindex()}
            if n not in self.skip and not (link_flags(n) or 0) & IFF_LOOPBACK
        )
        current: dict[str, IPAddress | None] = {}
        for name in names:
            flags = link_flags(name) or 0
            usable = [a for a in addresses.get(name, []) if a not in self.exclude]
            if not (flags & IFF_UP and flags & IFF_RUNNING) or not usable:
                current[name] = None
                continue
            family = self.prefer.get(name, 4)
            usable.sort(key=lambda a: a.version != family)  # stable: kernel order within
            current[name] = usable[0]
        return current


# -- the process -------------------------------------------------------------------------------


def parse_control(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT``) of ``--control``; a loopback address only."""
    host, sep, port = text.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        number = int(port)
    except ValueError:
        raise ConfigError(f"--control {text!r}: want ADDR:PORT") from None
    if not sep or not 0 < number < 65536:
        raise ConfigError(f"--control {text!r}: want ADDR:PORT")
    if not address.is_loopback:
        raise ConfigError(f"--control {text!r}: a loopback address only")
    return str(address), number


class _ControlProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: Server) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server.control_received(data)


class Server:
    """One role on the adapter, with its TUN and (mobile node) its interface watcher."""

    def __init__(
        self,
        role_name: str,
        stack: StackConfig,
        tun: str | None,
        log: TextIO,
        control: str | None = None,
    ) -> None:
        if tun is not None and role_name not in TUN_ROLES:
            raise ConfigError(f"--tun: the {role_name} role has no local hosts")
        self.control = parse_control(control) if control is not None else None
        self._control_transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.role_name = role_name
        self.role, self.notes = build_role(role_name, stack)
        self.tun_name = tun
        self.tun_fd: int | None = None
        self.log = DecisionLog(log, self.role.name)
        self.adapter = UdpAdapter(self.role, deliver=self._deliver, log=self.log)
        self.watcher: RlocWatcher | None = None
        if role_name == "mobile-node" and self.control is None:
            cfg = stack.role("mobile-node").config
            prefer = {i.name: i.address.version for i in cfg.interfaces if i.address is not None}
            self.watcher = RlocWatcher(
                [i.name for i in cfg.interfaces],
                prefer,
                exclude=[cfg.eid_address],
                skip=[tun] if tun else [],
            )
        self.rlocs: dict[str, IPAddress | None] = {}
        if role_name == "mobile-node" and self.control is not None:  # told, not watched
            self.rlocs = {i.name: i.address for i in stack.role("mobile-node").config.interfaces}
        self.counters = {"tun_in": 0, "tun_skipped": 0, "tun_out": 0, "deliver_dropped": 0}
        self._stop: asyncio.Event | None = None
        self._started = False
        self._pending: list[Output] = []

    # -- data plane ----------------------------------------------------------------------------

    def _deliver(self, packet: bytes) -> None:
        if self.tun_fd is None:
            self.counters["deliver_dropped"] += 1
            return
        try:
            os.write(self.tun_fd, packet)
            self.counters["tun_out"] += 1
        except OSError as exc:
            self.log(Decision(self.adapter.now(), "tun-error", f"write: {exc}"))

    def _tun_readable(self) -> None:
        assert self.tun_fd is not None
        send_packet = getattr(self.role, "send_packet", None)
        for _ in range(64):  # a bounded batch, then back to the loop
            try:
                packet = os.read(self.tun_fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                self.log(Decision(self.adapter.now(), "tun-error", f"read: {exc}"))
                return
            if send_packet is None or _skippable(packet):
                self.counters["tun_skipped"] += 1
                continue
            self.counters["tun_in"] += 1
            self.adapter.inject(send_packet(self.adapter.now(), packet))

    # -- RLOC changes (mobile node) ------------------------------------------------------------

    async def _watch(self) -> None:
        assert self.watcher is not None
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.check_rlocs()
            except OSError as exc:  # pragma: no cover - netlink trouble: try again
                self.log(Decision(self.adapter.now(), "watch-error", str(exc)))

    async def check_rlocs(self, initial: bool = False) -> None:
        """Scan the interfaces; on a change tell the node, rebind, then send its outputs."""
        assert self.watcher is not None
        await self.apply_rlocs(self.watcher.scan(), initial)

    async def apply_rlocs(
        self, current: dict[str, IPAddress | None], initial: bool = False
    ) -> None:
        """The node's RLOCs are now ``current``: tell it, rebind, then send its outputs."""
        if current == self.rlocs and not initial:
            return
        now = asyncio.get_running_loop().time()
        previous, self.rlocs = self.rlocs, current
        outputs = self.role.set_rlocs(now, current)
        if not initial or outputs:
            self.log(
                Decision(
                    now,
                    "interfaces-changed",
                    ", ".join(f"{n}={a or 'down'}" for n, a in current.items()),
                    {
                        "rlocs": {n: a for n, a in current.items()},
                        "before": {n: a for n, a in previous.items()},
                    },
                )
            )
        if self._started:  # sockets follow the RLOCs
            await self.adapter.rebind()
            self.adapter.inject(outputs)
        else:
            self._pending = outputs

    # -- the loopback control channel (--control) ----------------------------------------------

    def control_received(self, data: bytes) -> None:
        now = self.adapter.now()
        try:
            command = json.loads(data)
            if not isinstance(command, dict) or not command or set(command) - {"rlocs", "packet"}:
                raise ValueError("want a JSON object with 'rlocs' or 'packet'")
            if "rlocs" in command:
                if self.role_name != "mobile-node" or not isinstance(command["rlocs"], dict):
                    raise ValueError("'rlocs' (an object) is for the mobile-node role")
                rlocs = {
                    str(n): None if a is None else ipaddress.ip_address(str(a))
                    for n, a in command["rlocs"].items()
                }
            if "packet" in command:
                packet = bytes.fromhex(str(command["packet"]))
                if getattr(self.role, "send_packet", None) is None:
                    raise ValueError(f"'packet': the {self.role_name} role sends no packets")
        except ValueError as exc:  # JSONDecodeError, bad address or hex are ValueErrors
            self.log(Decision(now, "control-error", " ".join(str(exc).split())))
            return
        self.log(Decision(now, "control-command", ", ".join(sorted(command)), command))
        if "rlocs" in command:
            task = asyncio.get_running_loop().create_task(self.apply_rlocs(rlocs))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if "packet" in command:
            self.counters["control_packets"] = self.counters.get("control_packets", 0) + 1
            self.adapter.inject(self.role.send_packet(now, packet))

    async def _open_control(self) -> None:
        assert self.control is not None
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _ControlProtocol(self), local_addr=self.control
            )
        except OSError as exc:
            raise ServeError(f"--control: cannot bind: {exc.strerror or exc}") from None
        self._control_transport = transport

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.log.offset = time.time() - loop.time()
        self._stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
                loop.add_signal_handler(sig, self._stop.set)
        watch: asyncio.Task[None] | None = None
        try:
            if self.tun_name is not None:
                self.tun_fd = open_tun(self.tun_name)
                loop.add_reader(self.tun_fd, self._tun_readable)
            if self.watcher is not None:
                await self.check_rlocs(initial=True)
            try:
                await self.adapter.start()
            except OSError as exc:
                raise ServeError(f"cannot bind: {exc.strerror or exc}") from None
            self._started = True
            if self.control is not None:
                await self._open_control()
            for note in self.notes:
                self.log(Decision(loop.time(), note.kind, note.detail, note.fields))
            binds = sorted({str(ep) for ep in self.adapter.sockets})
            self.log(
                Decision(
                    loop.time(),
                    "serve-started",
                    f"{self.role_name} on {', '.join(binds) or 'no socket'}",
                    {
                        "binds": binds,
                        "tun": self.tun_name,
                        "pid": os.getpid(),
                        "control": f"{self.control[0]}:{self.control[1]}" if self.control else None,
                    },
                )
            )
            self.adapter.inject(self._pending)
            if self.watcher is not None:
                watch = loop.create_task(self._watch())
            await self._stop.wait()
        finally:
            if self._control_transport is not None:
                self._control_transport.close()
            for task in list(self._tasks):
                task.cancel()
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            if self.tun_fd is not None:
                loop.remove_reader(self.tun_fd)
                os.close(self.tun_fd)
                self.tun_fd = None
            if self._started:
                self.adapter.close()
                self.log(
                    Decision(
                        loop.time(),
                        "serve-stopped",
                        "signal" if self._stop.is_set() else "error",
                        {
                            "sent": self.adapter.sent,
                            "received": self.adapter.received_count,
                            **self.counters,
                        },
                    )
                )


def serve(
    role_name: str,
    config_path: str,
    *,
    tun: str | None = None,
    log: TextIO | None = None,
    errors: TextIO | None = None,
    control: str | None = None,
) -> int:
    """Run ``role_name`` from the TOML file until SIGTERM/SIGINT; the exit status (0 after a
    signal, 2 for a configuration error, 1 for a run-time failure, each error one line on
    ``errors``, default stderr)."""
    err = errors or sys.stderr
    try:
        stack = load(config_path)
        server = Server(role_name, stack, tun, log or sys.stdout, control)
    except ConfigError as exc:
        print(f"serve: {' '.join(str(exc).split())}", file=err)
        return EXIT_CONFIG
    try:
        asyncio.run(server.run())
    except ServeError as exc:
        print(f"serve: {exc}", file=err)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"serve: {' '.join(str(exc).split())}", file=err)
        return EXIT_FAILURE
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``serve`` (for the CLI's sub-command)."""
    parser.add_argument("role", choices=ROLES, help="the role to run")
    parser.add_argument("--config", required=True, help="TOML file with the role's section")
    parser.add_argument("--tun", metavar="IFNAME", help="TUN device for local hosts' traffic")
    parser.add_argument("--log", metavar="FILE", help="decision log (JSON lines; default stdout)")
    parser.add_argument(
        "--control",
        metavar="ADDR:PORT",
        help="loopback UDP endpoint taking JSON commands (new RLOCs, packets as if from the TUN)",
    )


def run_args(args: argparse.Namespace) -> int:
    """Run a parsed ``serve`` command line."""
    if args.log:
        try:
            stream = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"serve: --log {args.log}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILURE
        with stream:
            return serve(args.role, args.config, tun=args.tun, log=stream, control=args.control)
    return serve(args.role, args.config, tun=args.tun, control=args.control)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lisptrace serve", description="Run a reference LISP role as a process."
    )
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
