"""Topologies of real hosts in Linux network namespaces, torn down whatever happens.

A :class:`Topology` owns a set of namespaces whose names share one per-run prefix
(``lt-<pid>-<tag>-<host>``). Hosts are namespaces; links are veth pairs created directly
between two namespaces (nothing is ever created in, or routed out of, the caller's own
namespace); a *router* is a host with IPv4/IPv6 forwarding on; a *switch* is a namespace
holding a Linux bridge that every link to it joins. Real processes run inside a host with
:meth:`Host.run` / :meth:`Host.popen` (``ip netns exec``).

The two roaming operations a mobile node needs are :meth:`Host.set_address` (renumber an
interface) and :meth:`Host.move_link` (down one interface, up another, move the default
route); both return a :class:`Change` with wall-clock nanosecond times (``time.time_ns()``,
the clock capture timestamps use) for the manifest.

Teardown (``with Topology() as topo:``, :meth:`Topology.teardown`, an ``atexit`` hook, and
SIGTERM turned into ``SystemExit`` while a topology is open) kills the processes started in
the namespaces and deletes them, which deletes their veths. :func:`cleanup` removes what a
killed run left behind: every namespace with the prefix whose owning process is gone (or
all of them with ``force=True``).

Where namespaces are unavailable (not Linux, not root, no ``ip``), :func:`detect` says why
and :class:`LoopbackLab` offers hosts that are 127.x addresses in the current namespace.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

PREFIX = "lt"
"""Every namespace this module creates is named ``lt-<pid>-<tag>-<host>``."""

_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_IFNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
_OURS = re.compile(rf"^{PREFIX}-(\d+)-([0-9a-f]+)-([a-z][a-z0-9]*)$")
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LabError(RuntimeError):
    """A lab command failed (the message names the command and its stderr)."""


class NamespacesUnavailable(LabError):
    """Network namespaces cannot be used here; ``reason`` says why."""


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether network namespaces work here, and if not why (one line for the user)."""

    netns: bool
    reason: str

    @property
    def backend(self) -> str:
        return "netns" if self.netns else "loopback"


def _has_cap_sys_admin() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 21 & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def detect(probe: bool = True) -> Availability:
    """Can this process create network namespaces? ``probe`` really creates and deletes one."""
    if not sys.platform.startswith("linux"):
        return Availability(False, f"network namespaces need Linux (this is {sys.platform})")
    if shutil.which("ip") is None:
        return Availability(False, "the `ip` command (iproute2) is not installed")
    if os.geteuid() != 0 and not _has_cap_sys_admin():
        return Availability(False, "network namespaces need root (or CAP_SYS_ADMIN)")
    if probe:
        name = f"{PREFIX}-{os.getpid()}-{secrets.token_hex(2)}-probe"
        done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if done.returncode != 0:
            return Availability(False, f"`ip netns add` failed: {done.stderr.strip()}")
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return Availability(True, "network namespaces available")


# --------------------------------------------------------------------------- commands


def _run(argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done


def namespaces() -> list[str]:
    """Names of all network namespaces (``ip netns list``)."""
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _pids_in(ns: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def _alive(pid: int) -> bool:
    """Is ``pid`` a running process (a zombie nobody reaps yet counts as gone)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _kill_all(pids: list[int], grace: float = 1.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.02)
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return


def _delete_namespace(ns: str) -> None:
    _kill_all(_pids_in(ns))
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def ours(force: bool = False) -> list[str]:
    """Namespaces with this module's prefix; only those of dead runs unless ``force``."""
    found = []
    for ns in namespaces():
        m = _OURS.match(ns)
        if m and (force or not _alive(int(m.group(1)))):
            found.append(ns)
    return found


def cleanup(force: bool = False) -> list[str]:
    """Delete leftovers of killed runs (every ``lt-`` namespace, with ``force``); returns them.

    Deleting a namespace kills the processes still inside it and deletes its veth ends.
    """
    gone = ours(force)
    for ns in gone:
        _delete_namespace(ns)
    return gone


# --------------------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class Change:
    """One roaming operation as it happened: wall-clock ns before and after (``time_ns``)."""

    kind: str  # "set-address" | "move-link"
    host: str
    start_ns: int
    end_ns: int
    interface_from: str
    interface_to: str
    address_from: str | None
    address_to: str | None


# --------------------------------------------------------------------------- hosts


@dataclass(slots=True)
class Interface:
    name: str
    peer_host: str
    peer_interface: str
    addresses: list[str] = field(default_factory=list)
    up: bool = True


def _interface(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(cidr)


class Host:
    """A network namespace (or, in a :class:`LoopbackLab`, the current one)."""

    def __init__(self, topology: Topology | None, name: str, ns: str | None) -> None:
        self.topology = topology
        self.name = name
        self.ns = ns
        self.interfaces: dict[str, Interface] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kind = "host"  # "host" | "router" | "switch"

    def __repr__(self) -> str:
        return f"Host({self.name!r}, ns={self.ns!r})"

    # processes -------------------------------------------------------------------------

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside this host."""
        return ["ip", "netns", "exec", self.ns, *argv] if self.ns else list(argv)

    def run(
        self, argv: Sequence[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the host to completion; raises :class:`LabError` if ``check``."""
        done = subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise LabError(
                f"[{self.name}] {' '.join(argv)}: {done.stderr.strip() or done.returncode}"
            )
        return done

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the host; it is terminated at teardown if still running.

        The process gets its own session (so teardown can signal its children too) and a
        ``PYTHONPATH`` that finds this project.
        """
        env = dict(kwargs.pop("env", None) or os.environ)  # type: ignore[call-overload]
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = f"{_PROJECT_ROOT}{os.pathsep}{path}" if path else str(_PROJECT_ROOT)
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            self.command(argv), env=env, **kwargs
        )
        self.processes.append(proc)
        return proc

    def python(self, module: str, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``python -m module args...`` (this interpreter) inside the host."""
        return self.popen([sys.executable, "-m", module, *args], **kwargs)

    def lisptrace(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        """Start the ``lisptrace`` command (this interpreter, this checkout) inside the host,
        e.g. ``host.lisptrace("serve", "map-server", "--config", "ms.toml")``."""
        code = "import sys; from lisptrace.cli import main; sys.argv[0] = 'lisptrace'; main()"
        return self.popen([sys.executable, "-c", code, *args], **kwargs)

    def terminate(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> int:
        """SIGTERM one process started here, SIGKILL after ``grace``; its exit status."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        return int(proc.returncode)

    def stop_processes(self, grace: float = 2.0) -> None:
        """SIGTERM every process started here (its whole session), SIGKILL after ``grace``."""
        live = [p for p in self.processes if p.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in live:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        self.processes.clear()

    # configuration ---------------------------------------------------------------------

    def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``ip -n NS args...``."""
        self._need_ns("ip")
        return _run(["ip", "-n", str(self.ns), *args])

    def sysctl(self, key: str, value: str | int) -> None:
        """Set a sysctl inside the namespace (per-namespace keys only: net.*)."""
        self._need_ns("sysctl")
        if not key.startswith("net."):
            raise LabError(f"{key}: only per-namespace net.* sysctls may be set in a lab")
        proc = "/proc/sys/" + key.replace(".", "/")
        self.run(["sh", "-c", f'echo {int(value)} > "$1"', "sh", proc])

    def set_forwarding(self, on: bool = True) -> None:
        self.sysctl("net.ipv4.ip_forward", int(on))
        self.sysctl("net.ipv6.conf.all.forwarding", int(on))

    def add_address(self, ifname: str, cidr: str) -> None:
        iface = _interface(cidr)
        extra = ["nodad"] if iface.version == 6 else []
        self.ip("addr", "add", str(iface), "dev", ifname, *extra)
        if ifname in self.interfaces:
            self.interfaces[ifname].addresses.append(str(iface))

    def del_address(self, ifname: str, cidr: str) -> None:
        iface = _interface(cidr)
        self.ip("addr", "del", str(iface), "dev", ifname)
        if ifname in self.interfaces:
            with contextlib.suppress(ValueError):
                self.interfaces[ifname].addresses.remove(str(iface))

    def addresses(self, ifname: str) -> list[str]:
        """Addresses the kernel holds on ``ifname`` (global scope), as ``addr/len``."""
        import json

        out = self.ip("-j", "addr", "show", "dev", ifname).stdout
        result = []
        for link in json.loads(out or "[]"):
            for a in link.get("addr_info", []):
                if a.get("scope") == "global":
                    result.append(f"{a['local']}/{a['prefixlen']}")
        return result

    def link_up(self, ifname: str) -> None:
        self.ip("link", "set", ifname, "up")
        if ifname in self.interfaces:
            self.interfaces[ifname].up = True

    def link_down(self, ifname: str) -> None:
        self.ip("link", "set", ifname, "down")
        if ifname in self.interfaces:
            self.interfaces[ifname].up = False

    def add_tun(self, ifname: str, addresses: Sequence[str] = (), mtu: int = 1400) -> None:
        """A persistent TUN device (for an xTR/mobile node process to open with TUNSETIFF
        under the same name: the EID-side data plane). It has carrier only once opened."""
        self.ip("tuntap", "add", "dev", ifname, "mode", "tun")
        self.ip("link", "set", ifname, "mtu", str(mtu), "up")
        for cidr in addresses:
            self.add_address(ifname, cidr)

    def wait_carrier(self, ifnames: Sequence[str] | None = None, timeout: float = 5.0) -> None:
        """Wait until the interfaces (default: every link interface set up at both ends)
        have carrier.

        A veth gets carrier asynchronously (the kernel's link watch may take up to a second);
        before that every packet sent through it, the first neighbour solicitation included,
        is dropped.
        """
        import json

        self._need_ns("wait_carrier")
        names = (
            list(ifnames)
            if ifnames is not None
            else [i.name for i in self.interfaces.values() if i.up and self._peer_up(i)]
        )
        deadline = time.monotonic() + timeout
        while True:
            links = json.loads(self.ip("-j", "link", "show").stdout or "[]")
            state = {link["ifname"]: link.get("operstate") for link in links}
            waiting = [n for n in names if state.get(n) != "UP"]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(f"[{self.name}] no carrier on {', '.join(waiting)}")
            time.sleep(0.01)

    def _peer_up(self, iface: Interface) -> bool:
        if self.topology is None or iface.peer_host not in self.topology.hosts:
            return True
        peer = self.topology.hosts[iface.peer_host].interfaces.get(iface.peer_interface)
        return peer is None or peer.up

    def add_route(
        self, prefix: str, via: str | None = None, dev: str | None = None, replace: bool = True
    ) -> None:
        """Route ``prefix`` ("default" allowed) via a gateway and/or out of an interface."""
        family = "-6" if (via and ":" in via) or ":" in prefix else "-4"
        args = [family, "route", "replace" if replace else "add", prefix]
        if via:
            args += ["via", via]
        if dev:
            args += ["dev", dev]
        self.ip(*args)

    def del_route(self, prefix: str, v6: bool = False) -> None:
        self.ip("-6" if v6 or ":" in prefix else "-4", "route", "del", prefix)

    def routes(self, v6: bool = False) -> str:
        return self.ip("-6" if v6 else "-4", "route", "show").stdout

    # roaming ---------------------------------------------------------------------------

    def set_address(
        self,
        ifname: str,
        new: str,
        old: str | None = None,
        gateway: str | None = None,
    ) -> Change:
        """Renumber ``ifname``: add ``new``, remove ``old`` (default: every global address of
        the new one's family), and point the default route at ``gateway`` if given."""
        start = time.time_ns()
        new_if = _interface(new)
        if old is not None:
            olds = [old]
        else:
            same = [a for a in self.addresses(ifname) if _interface(a).version == new_if.version]
            olds = [a for a in same if _interface(a) != new_if]
        self.add_address(ifname, new)
        for o in olds:
            self.del_address(ifname, o)
        if gateway:
            self.add_route("default", via=gateway, dev=ifname)
        end = time.time_ns()
        return Change(
            "set-address",
            self.name,
            start,
            end,
            ifname,
            ifname,
            olds[0] if olds else None,
            str(new_if),
        )

    def move_link(
        self, from_if: str, to_if: str, gateway: str | None = None, wait_carrier: bool = True
    ) -> Change:
        """Hand over from ``from_if`` to ``to_if``: down the first, up the second (waiting
        for its carrier unless told not to; ``end_ns`` is then when it can carry packets),
        and move the default route (to ``gateway`` through ``to_if``, if given)."""
        start = time.time_ns()
        before = self.addresses(from_if)
        self.link_down(from_if)
        self.link_up(to_if)
        if wait_carrier:
            self.wait_carrier([to_if])
        if gateway:
            self.add_route("default", via=gateway, dev=to_if)
        after = self.addresses(to_if)
        end = time.time_ns()
        return Change(
            "move-link",
            self.name,
            start,
            end,
            from_if,
            to_if,
            before[0] if before else None,
            after[0] if after else None,
        )

    def _need_ns(self, what: str) -> None:
        if self.ns is None:
            raise NamespacesUnavailable(f"{what}: not available on the loopback fallback")


# --------------------------------------------------------------------------- topology

_open_topologies: weakref.WeakSet[Topology] = weakref.WeakSet()
_previous_sigterm: object = None
_lock = threading.Lock()


def _teardown_all() -> None:
    for topo in list(_open_topologies):
        topo.teardown()


atexit.register(_teardown_all)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@dataclass(frozen=True, slots=True)
class Link:
    a: str
    a_if: str
    b: str
    b_if: str


class Topology:
    """Named hosts in fresh network namespaces; use as a context manager.

    >>> with Topology() as t:                                   # doctest: +SKIP
    ...     a, r, b = t.add_host("a"), t.add_router("r"), t.add_host("b")
    ...     t.link(a, r, a_addr="198.18.1.2/24", b_addr="198.18.1.1/24")
    """

    def __init__(self, tag: str | None = None) -> None:
        availability = detect(probe=False)
        if not availability.netns:
            raise NamespacesUnavailable(availability.reason)
        self.tag = tag or secrets.token_hex(3)
        if not re.fullmatch(r"[0-9a-f]{1,8}", self.tag):
            raise LabError(f"tag {self.tag!r}: use 1-8 lowercase hex digits")
        self.prefix = f"{PREFIX}-{os.getpid()}-{self.tag}-"
        self.hosts: dict[str, Host] = {}
        self.links: list[Link] = []
        self._closed = False
        _open_topologies.add(self)
        self._install_sigterm()

    # lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.teardown()

    @staticmethod
    def _install_sigterm() -> None:
        global _previous_sigterm
        if threading.current_thread() is not threading.main_thread():
            return
        with _lock:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)

    @staticmethod
    def _restore_sigterm() -> None:
        global _previous_sigterm
        if threading.current_thread() is not threading.main_thread():
            return
        with _lock:
            if _previous_sigterm is not None and not _open_topologies:
                signal.signal(signal.SIGTERM, _previous_sigterm)  # type: ignore[arg-type]
                _previous_sigterm = None

    def teardown(self) -> None:
        """Stop every process started in the hosts and delete the namespaces (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                host.stop_processes()
        for ns in [n for n in namespaces() if n.startswith(self.prefix)]:
            _delete_namespace(ns)
        _open_topologies.discard(self)
        self._restore_sigterm()

    def namespaces(self) -> list[str]:
        """This topology's namespaces as the kernel lists them now."""
        return [n for n in namespaces() if n.startswith(self.prefix)]

    # building --------------------------------------------------------------------------

    def _new(self, name: str) -> Host:
        if self._closed:
            raise LabError("the topology is torn down")
        if not _NAME.match(name):
            raise LabError(f"host name {name!r}: 1-12 lowercase letters/digits, letter first")
        if name in self.hosts:
            raise LabError(f"host {name!r} exists")
        ns = self.prefix + name
        _run(["ip", "netns", "add", ns])
        host = Host(self, name, ns)
        self.hosts[name] = host
        host.ip("link", "set", "lo", "up")
        host.sysctl("net.ipv6.conf.all.accept_dad", 0)
        host.sysctl("net.ipv6.conf.default.accept_dad", 0)
        # renumbering within a subnet deletes the primary address: keep the new secondary
        host.sysctl("net.ipv4.conf.all.promote_secondaries", 1)
        # deterministic whatever the machine's defaults: no reverse-path filtering (a roaming
        # host may send from an address of another link; LISP decides, not the kernel)
        host.sysctl("net.ipv4.conf.all.rp_filter", 0)
        host.sysctl("net.ipv4.conf.default.rp_filter", 0)
        return host

    def add_host(self, name: str) -> Host:
        """A namespace with only ``lo`` up."""
        return self._new(name)

    def add_router(self, name: str) -> Host:
        """A host that forwards IPv4 and IPv6."""
        host = self._new(name)
        host.set_forwarding(True)
        host.kind = "router"
        return host

    def add_switch(self, name: str) -> Host:
        """A namespace with a bridge ``br0``; links to it join the bridge (a layer-2 segment)."""
        host = self._new(name)
        host.ip("link", "add", "br0", "type", "bridge")
        host.ip("link", "set", "br0", "up")
        host.kind = "switch"
        return host

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def _free_ifname(self, host: Host) -> str:
        n = 0
        while f"eth{n}" in host.interfaces:
            n += 1
        return f"eth{n}"

    def link(
        self,
        a: Host | str,
        b: Host | str,
        a_if: str | None = None,
        b_if: str | None = None,
        a_addr: str | Sequence[str] = (),
        b_addr: str | Sequence[str] = (),
        a_up: bool = True,
        b_up: bool = True,
    ) -> Link:
        """A veth pair between two hosts (``ethN`` names by default), addressed and up.

        ``a_up=False`` leaves ``a``'s end down (a second link a mobile node roams to later
        with :meth:`Host.move_link`). If either end is a switch its end joins the bridge
        (give a switch no address).
        """
        ha = self.hosts[a] if isinstance(a, str) else a
        hb = self.hosts[b] if isinstance(b, str) else b
        a_if = a_if or self._free_ifname(ha)
        b_if = b_if or self._free_ifname(hb)
        for h, i in ((ha, a_if), (hb, b_if)):
            if not _IFNAME.match(i):
                raise LabError(f"interface name {i!r}: at most 15 characters")
            if i in h.interfaces:
                raise LabError(f"{h.name} already has {i}")
        ha.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", str(hb.ns))
        ha.interfaces[a_if] = Interface(a_if, hb.name, b_if, up=False)
        hb.interfaces[b_if] = Interface(b_if, ha.name, a_if, up=False)
        for h, i, addrs, up in ((ha, a_if, a_addr, a_up), (hb, b_if, b_addr, b_up)):
            if self._is_switch(h):
                h.ip("link", "set", i, "master", "br0")
            for cidr in [addrs] if isinstance(addrs, str) else addrs:
                h.add_address(i, cidr)
            if up or self._is_switch(h):
                h.link_up(i)
        link = Link(ha.name, a_if, hb.name, b_if)
        self.links.append(link)
        return link

    @staticmethod
    def _is_switch(host: Host) -> bool:
        return host.kind == "switch"

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every interface that is set up has carrier (call after building)."""
        for host in self.hosts.values():
            host.wait_carrier(timeout=timeout)

    def describe(self) -> dict[str, dict[str, list[str]]]:
        """Host -> interface -> addresses the kernel holds now (for a manifest)."""
        return {
            name: {i: host.addresses(i) for i in host.interfaces}
            for name, host in self.hosts.items()
        }


# --------------------------------------------------------------------------- fallback


class LoopbackLab:
    """The fallback without namespaces: each host is a 127.x address in this namespace.

    Processes run directly; there are no links, routes or sysctls (those raise
    :class:`NamespacesUnavailable`); a host roams by taking a new 127.x address
    (:meth:`renumber`), which the roles must be told about. On Linux the whole of
    127.0.0.0/8 is local, so no alias needs configuring; IPv6 has only ``::1``.
    """

    def __init__(self, reason: str = "", base: str = "127.77.0.0/16") -> None:
        self.reason = reason
        self.net = ipaddress.ip_network(base)
        self.hosts: dict[str, Host] = {}
        self.address: dict[str, str] = {}
        self._next = 1
        self._closed = False

    def __enter__(self) -> LoopbackLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def _alloc(self) -> str:
        addr = self.net[self._next]
        self._next += 1
        return str(addr)

    def add_host(self, name: str) -> Host:
        host = Host(None, name, None)
        self.hosts[name] = host
        self.address[name] = self._alloc()
        return host

    add_router = add_host
    add_switch = add_host

    def renumber(self, name: str) -> Change:
        start = time.time_ns()
        old = self.address[name]
        self.address[name] = new = self._alloc()
        return Change("set-address", name, start, time.time_ns(), "lo", "lo", old, new)

    def teardown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for host in self.hosts.values():
            host.stop_processes()


@contextlib.contextmanager
def lab(prefer_netns: bool = True, warn: bool = True) -> Iterator[Topology | LoopbackLab]:
    """A :class:`Topology` if namespaces work, else a :class:`LoopbackLab` (saying why on
    stderr when ``warn``)."""
    availability = detect() if prefer_netns else Availability(False, "loopback requested")
    if availability.netns:
        with Topology() as topo:
            yield topo
        return
    if warn:
        print(
            f"lisptrace lab: {availability.reason}; falling back to loopback aliases "
            "(127.x, one namespace: no routers, no link moves)",
            file=sys.stderr,
        )
    with LoopbackLab(availability.reason) as fallback:
        yield fallback
