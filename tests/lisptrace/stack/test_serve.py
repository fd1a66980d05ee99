"""``python -m lisptrace.stack.serve``: roles as real processes.

Loopback tests (127.x only): a Map-Server process answering a signed Map-Register from a real
UDP socket with a signed Map-Notify, logging JSON decisions, exiting 0 on SIGTERM;
configuration errors as one line and exit status 2. A netns test: two xTR processes with TUN
devices in two namespaces carry UDP and TCP between their EIDs through LISP, resolved by a
Map-Server + Map-Resolver process in a third.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.message import parse_control
from lisptrace.stack import serve as serve_mod
from lisptrace.stack.config import ConfigError, loads
from lisptrace.stack.role import Datagram, Decision, Endpoint
from lisptrace.stack.serve import Colocated, DecisionLog, RlocWatcher, build_role
from tests.lisptrace.stack.messages import ecm, map_request, record, register

ROOT = Path(__file__).resolve().parents[3]
KEY = b"serve-test-key"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = (
        f"{ROOT}{os.pathsep}{env['PYTHONPATH']}" if "PYTHONPATH" in env else str(ROOT)
    )
    return env


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


MR_AND_PETR = textwrap.dedent(
    """
    [map-resolver]
    listen = ["127.0.0.46:4342"]

    [petr]
    rlocs = ["127.0.0.46"]
    """
)
"""A Map-Resolver and a PETR to co-locate with ``ms_config("127.0.0.46:4342")``."""


def ms_config(listen: str) -> str:
    return textwrap.dedent(
        f"""
        [map-server]
        listen = ["{listen}"]

        [[map-server.sites]]
        name = "site-a"
        eid-prefixes = ["10.1.0.0/24"]

        [[map-server.sites.keys]]
        secret = "{KEY.decode()}"
        """
    )


class Process:
    """A serve process whose stdout (JSON lines) is read by a thread-free poller."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=_env(),
            cwd=ROOT,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)  # type: ignore[union-attr]
        self.buffer = b""
        self.lines: list[dict[str, Any]] = []

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(BlockingIOError, TypeError):
            chunk = self.proc.stdout.read()
            if chunk:
                self.buffer += chunk
        *done, self.buffer = self.buffer.split(b"\n")
        self.lines += [json.loads(line) for line in done if line.strip()]

    def wait_for(
        self,
        kind: str,
        timeout: float = 10.0,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            self._pump()
            hits = [
                line
                for line in self.lines
                if line["kind"] == kind and (where is None or where(line))
            ]
            if len(hits) >= count:
                return hits
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
                raise AssertionError(f"no {kind!r} (exit {self.proc.poll()}): {err} {self.lines}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._pump()
        return int(self.proc.returncode)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(timeout=5)
        for stream in (p.proc.stdout, p.proc.stderr):
            if stream is not None:
                stream.close()


def serve_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "lisptrace.stack.serve", *args]


def start_map_server(tmp_path: Path, processes: list[Process], host: str) -> tuple[Process, int]:
    """A Map-Server process with :func:`ms_config` on a free UDP port of ``host``."""
    port = free_udp_port(host)
    config = tmp_path / "ms.toml"
    config.write_text(ms_config(f"{host}:{port}"))
    proc = Process(serve_argv("map-server", "--config", str(config)))
    processes.append(proc)
    return proc, port


def require_netns() -> None:
    """Skip unless network namespaces are available."""
    from lisptrace.lab.netns import detect

    availability = detect()
    if not availability.netns:
        pytest.skip(availability.reason)


# -- a Map-Server process on loopback ----------------------------------------------------------


def test_map_server_process_answers_a_signed_register_and_stops_on_sigterm(
    tmp_path: Path, processes: list[Process]
) -> None:
    host = "127.0.0.41"
    proc, port = start_map_server(tmp_path, processes, host)
    started = proc.wait_for("serve-started")[0]
    assert started["fields"]["binds"] == [f"{host}:{port}"]
    assert started["role"] == "map-server"

    nonce = 0x0102030405060708
    payload = register(
        [record("10.1.0.0/24", rlocs=("127.0.0.42",))], KEY, nonce=nonce, want_notify=True
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.42", 0))
        s.settimeout(5.0)
        s.sendto(payload, (host, port))
        answer, source = s.recvfrom(4096)
    assert source == (host, port)
    notify = parse_control(answer)
    assert isinstance(notify, MapNotify)
    assert notify.nonce == nonce
    assert notify.verify(KEY) is True

    accepted = proc.wait_for("register-accepted")[0]
    assert isinstance(accepted["time"], float) and abs(accepted["time"] - time.time()) < 60
    assert set(accepted) == {"time", "clock", "role", "kind", "detail", "fields"}
    proc.wait_for("notify-sent")
    assert proc.stop() == 0
    stopped = proc.wait_for("serve-stopped")[0]
    assert stopped["fields"]["received"] == 1
    assert KEY.decode() not in "".join(json.dumps(line) for line in proc.lines)
    assert proc.proc.stderr.read() == b""  # type: ignore[union-attr]


def test_bad_auth_is_logged_not_answered(tmp_path: Path, processes: list[Process]) -> None:
    host = "127.0.0.43"
    proc, port = start_map_server(tmp_path, processes, host)
    proc.wait_for("serve-started")
    payload = register([record("10.1.0.0/24")], b"wrong", want_notify=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.44", 0))
        s.settimeout(0.5)
        s.sendto(payload, (host, port))
        with pytest.raises(TimeoutError):
            s.recvfrom(4096)
    rejected = proc.wait_for("register-rejected")[0]
    assert rejected["fields"]["reason"]
    assert proc.stop() == 0


@pytest.mark.parametrize(
    ("text", "role", "needle"),
    [
        ("[map-server]\nlisten = [1]\n", "map-server", "listen[0]"),
        ("[map-server]\nlistne = []\n", "map-server", "unknown key"),
        ("[xtr]\nrlocs = ['nope']\n", "xtr", "[xtr]"),
        ("[xtr]\nrlocs = ['127.0.0.1']\nsecret = 'hunter2'\nbogus = 1\n", "xtr", "bogus"),
        ("[map-server]\n", "xtr", "no [xtr] section"),
        ("[map-resolver]\n", "map-resolver", "co-located"),
        ("not toml [", "map-server", "ms.toml"),
    ],
)
def test_configuration_errors_are_one_line_and_exit_2(
    tmp_path: Path, text: str, role: str, needle: str
) -> None:
    config = tmp_path / "ms.toml"
    config.write_text(text)
    done = subprocess.run(
        serve_argv(role, "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(),
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert "hunter2" not in done.stderr


def test_missing_file_and_tun_for_a_role_without_hosts(tmp_path: Path) -> None:
    err = io.StringIO()
    assert serve_mod.serve("map-server", str(tmp_path / "none.toml"), errors=err) == 2
    assert err.getvalue().count("\n") == 1
    config = tmp_path / "ms.toml"
    config.write_text(ms_config("127.0.0.45:4342"))
    err = io.StringIO()
    assert serve_mod.serve("map-server", str(config), tun="lt0", errors=err) == 2
    assert "--tun" in err.getvalue()


# -- in-process pieces -------------------------------------------------------------------------


def test_sections_for_every_role_parse() -> None:
    text = textwrap.dedent(
        """
        [xtr]
        rlocs = ["198.18.0.1"]
        eid-prefixes = ["10.1.0.0/24"]
        map-servers = ["198.18.0.3"]
        map-resolvers = ["198.18.0.3"]
        secret = "k"
        faults = ["ignore-smr"]

        [petr]
        rlocs = ["198.18.0.9"]

        [pitr]
        rlocs = ["198.18.0.10"]
        map-resolvers = ["198.18.0.3"]

        [mobile-node]
        name = "mn1"
        seed = 7
        eid = "10.9.0.1"
        key = "k"
        map-servers = ["198.18.0.3"]
        [mobile-node.interfaces.eth0]
        priority = 1
        """
    )
    stack = loads(text, "all.toml")
    xtr, _ = build_role("xtr", stack)
    assert xtr.name == "xtr" and xtr.faults == frozenset({"ignore-smr"})
    petr, notes = build_role("petr", stack)
    assert petr.name == "petr" and [n.kind for n in notes] == ["no-registrations"]
    pitr, _ = build_role("pitr", stack)
    assert pitr.name == "pitr"
    node, _ = build_role("mobile-node", stack)
    assert node.name == "mn1"
    with pytest.raises(ConfigError, match=r"all.toml: \[mobile-node\].*fault"):
        loads(
            '[mobile-node]\neid = "10.9.0.1"\nkey = "k"\nmap-servers = ["1.2.3.4"]\n'
            'faults = ["nope"]\n',
            "all.toml",
        )


def test_colocated_resolver_and_petr_share_the_map_server() -> None:
    text = ms_config("127.0.0.46:4342") + MR_AND_PETR
    stack = loads(text)
    mr, _ = build_role("map-resolver", stack)
    assert isinstance(mr, Colocated)
    assert mr.bind() == [Endpoint.of("127.0.0.46", 4342)]
    reg = register([record("10.1.0.0/24", rlocs=("127.0.0.47",))], KEY, want_notify=True)
    out = mr.receive(1.0, Datagram(reg, Endpoint.of("127.0.0.47", 4342), mr.bind()[0]))
    assert any(isinstance(o, Decision) and o.kind == "register-accepted" for o in out)
    petr, notes = build_role("petr", stack)
    assert isinstance(petr, Colocated) and notes == []
    assert set(petr.bind()) == {Endpoint.of("127.0.0.46", 4341), Endpoint.of("127.0.0.46", 4342)}


def test_colocated_map_server_logs_under_its_own_role_name() -> None:
    """Lab manifests find registrations by role: the co-located Map-Server's decisions say
    ``map-server`` in a map-resolver or petr process (fake clock, no sockets)."""
    ms = ms_config("127.0.0.46:4342")
    ms = ms.replace("[map-server]\n", "[map-server]\nregistration-timeout = 30\n", 1)
    text = ms + MR_AND_PETR
    stack = loads(text)
    reg = register([record("10.1.0.0/24", rlocs=("127.0.0.47",))], KEY, want_notify=True)
    for name in ("map-resolver", "petr"):
        proc, _ = build_role(name, stack)
        assert proc.name == name  # the process's own name (serve-started, its own decisions)
        local = Endpoint.of("127.0.0.46", 4342)
        out = proc.receive(1.0, Datagram(reg, Endpoint.of("127.0.0.47", 4342), local))
        roles = {o.kind: o.role for o in out if isinstance(o, Decision)}
        assert roles == {"register-accepted": "map-server", "notify-sent": "map-server"}
        stream = io.StringIO()
        log = DecisionLog(stream, proc.name)
        for o in out:
            if isinstance(o, Decision):
                log(o)
        assert {json.loads(line)["role"] for line in stream.getvalue().splitlines()} == {
            "map-server"
        }
        # timers too: the registration expires in the Map-Server part
        expired = [o for o in proc.tick(31.0) if isinstance(o, Decision)]
        assert [(d.kind, d.role) for d in expired] == [("registration-expired", "map-server")]
    # the resolver: what the Map-Server answers is the Map-Server's, the negative reply its own
    mr, _ = build_role("map-resolver", stack)
    local = Endpoint.of("127.0.0.46", 4342)
    mr.receive(1.0, Datagram(reg, Endpoint.of("127.0.0.47", 4342), local))
    src = Endpoint.of("127.0.0.50", 40000)
    for eid, kind, role in (
        ("10.1.0.5/32", "request-forwarded", "map-server"),
        ("10.9.0.5/32", "negative-reply", "map-resolver"),
    ):
        request = ecm(map_request(eid, "127.0.0.50"), "127.0.0.50", eid.split("/")[0]).build()
        out = mr.receive(2.0, Datagram(request, src, local))
        decided = [(o.kind, o.role) for o in out if isinstance(o, Decision)]
        assert (kind, role) in decided, decided
    # a decision of the process's own role keeps the process's name in the log
    stream = io.StringIO()
    DecisionLog(stream, "map-resolver")(Decision(0.0, "x"))
    assert json.loads(stream.getvalue())["role"] == "map-resolver"


def test_decision_log_is_json_without_keys() -> None:
    stream = io.StringIO()
    log = DecisionLog(stream, "xtr", offset=1000.0)
    log(
        Decision(
            2.5,
            "x",
            "d",
            {
                "key": b"k",
                "secret": "s",
                "key_id": 1,
                "rloc": ipaddress.ip_address("192.0.2.1"),
                "xtr_id": b"\x01\x02",
                "set": {3, 1},
            },
        )
    )
    line = json.loads(stream.getvalue())
    assert line == {
        "time": 1002.5,
        "clock": 2.5,
        "role": "xtr",
        "kind": "x",
        "detail": "d",
        "fields": {
            "key": "***",
            "secret": "***",
            "key_id": 1,
            "rloc": "192.0.2.1",
            "xtr_id": "0102",
            "set": [1, 3],
        },
    }


def test_interface_addresses_see_loopback_and_the_watcher_skips_it() -> None:
    addrs = serve_mod.interface_addresses()
    assert all(
        isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address)
        for v in addrs.values()
        for a in v
    )
    assert serve_mod.link_flags("lo") is not None
    assert serve_mod.link_flags("no-such-if0") is None
    assert "lo" not in RlocWatcher([]).scan()
    assert RlocWatcher(["no-such-if0"]).scan() == {"no-such-if0": None}


def test_adapter_rebind_follows_the_role() -> None:
    from lisptrace.stack.adapter import UdpAdapter

    class Moving:
        name = "moving"

        def __init__(self, port: int) -> None:
            self.endpoints = [Endpoint.of("127.0.0.48", port)]

        def bind(self) -> list[Endpoint]:
            return list(self.endpoints)

        def receive(self, now: float, datagram: Datagram) -> list[Any]:
            return []

        def tick(self, now: float) -> list[Any]:
            return []

        def next_deadline(self) -> float | None:
            return None

    async def scenario() -> None:
        role = Moving(free_udp_port("127.0.0.48"))
        adapter = UdpAdapter(role)
        await adapter.start()
        old = role.endpoints[0]
        new = Endpoint.of("127.0.0.49", free_udp_port("127.0.0.49"))
        role.endpoints = [new]
        await adapter.rebind()
        assert list(adapter.sockets) == [new]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # the old port is free
            s.bind((str(old.address), old.port))
        adapter.close()

    asyncio.run(scenario())


# -- two xTR processes with TUN devices, in namespaces -----------------------------------------

SERVER = """
import json, select, socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("10.2.0.1", 9000))
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("10.2.0.1", 9001))
t.listen()
print("ready", flush=True)
deadline, udp_from, tcp = time.monotonic() + 30, None, None
while time.monotonic() < deadline and (udp_from is None or tcp is None):
    ready, _, _ = select.select([u, t], [], [], 0.5)
    if u in ready:
        data, addr = u.recvfrom(2048)
        u.sendto(b"echo:" + data, addr)
        udp_from = addr[0]
    if t in ready:
        c, addr = t.accept()
        c.settimeout(10)
        c.sendall(b"echo:" + c.recv(2048))
        c.close()
        tcp = addr[0]
print(json.dumps({"udp_from": udp_from, "tcp_from": tcp}), flush=True)
"""

CLIENT = """
import json, socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("10.1.0.1", 0))
u.settimeout(1.5)
udp = None
for attempt in range(12):
    u.sendto(b"hello %d" % attempt, ("10.2.0.1", 9000))
    try:
        udp = u.recvfrom(2048)[0].decode()
        break
    except TimeoutError:
        continue
c = socket.create_connection(("10.2.0.1", 9001), timeout=15, source_address=("10.1.0.1", 0))
c.sendall(b"over tcp")
tcp = c.recv(2048).decode()
c.close()
print(json.dumps({"udp": udp, "tcp": tcp}), flush=True)
"""


def xtr_config(name: str, rloc: str, eids: str) -> str:
    return textwrap.dedent(
        f"""
        [xtr]
        name = "{name}"
        rlocs = ["{rloc}"]
        eid-prefixes = ["{eids}"]
        map-servers = ["198.18.3.2"]
        map-resolvers = ["198.18.3.2"]
        secret = "{KEY.decode()}"
        """
    )


@pytest.mark.netns
@pytest.mark.slow
def test_two_xtr_processes_carry_udp_and_tcp_between_eids_through_lisp(
    tmp_path: Path, processes: list[Process]
) -> None:
    from lisptrace.lab.netns import Topology

    require_netns()
    ms_text = textwrap.dedent(
        f"""
        [map-server]
        listen = ["198.18.3.2:4342"]

        [[map-server.sites]]
        name = "site-a"
        eid-prefixes = ["10.1.0.0/24"]
        [[map-server.sites.keys]]
        secret = "{KEY.decode()}"

        [[map-server.sites]]
        name = "site-b"
        eid-prefixes = ["10.2.0.0/24"]
        [[map-server.sites.keys]]
        secret = "{KEY.decode()}"

        [map-resolver]
        listen = ["198.18.3.2:4342"]
        """
    )
    (tmp_path / "ms.toml").write_text(ms_text)
    (tmp_path / "a.toml").write_text(xtr_config("xtr-a", "198.18.1.2", "10.1.0.0/24"))
    (tmp_path / "b.toml").write_text(xtr_config("xtr-b", "198.18.2.2", "10.2.0.0/24"))

    with Topology() as topo:
        a, b, m, r = (
            topo.add_host("a"),
            topo.add_host("b"),
            topo.add_host("m"),
            topo.add_router("r"),
        )
        for i, host in enumerate((a, b, m), start=1):
            topo.link(host, r, a_addr=f"198.18.{i}.2/24", b_addr=f"198.18.{i}.1/24")
            host.add_route("default", via=f"198.18.{i}.1")
        # the EIDs live on the TUN devices; the peer's EID space is routed into them; the
        # core (r) knows no route to 10/8: only LISP can carry the traffic
        a.add_tun("lt0", ["10.1.0.1/32"])
        a.add_route("10.2.0.0/24", dev="lt0")
        a.ip("route", "replace", "10.2.0.0/24", "dev", "lt0", "src", "10.1.0.1")
        b.add_tun("lt0", ["10.2.0.1/32"])
        b.ip("route", "replace", "10.1.0.0/24", "dev", "lt0", "src", "10.2.0.1")
        topo.settle()

        def start(host: Any, *args: str) -> Process:
            proc = Process(host.command(serve_argv(*args)))
            processes.append(proc)
            return proc

        ms = start(m, "map-resolver", "--config", str(tmp_path / "ms.toml"))
        ms.wait_for("serve-started", timeout=15)
        xa = start(a, "xtr", "--config", str(tmp_path / "a.toml"), "--tun", "lt0")
        xb = start(b, "xtr", "--config", str(tmp_path / "b.toml"), "--tun", "lt0")
        xa.wait_for("serve-started", timeout=15)
        xb.wait_for("serve-started", timeout=15)
        ms.wait_for("register-accepted", timeout=15, count=2)
        xa.wait_for("notify-received", timeout=15)

        server = subprocess.Popen(
            b.command([sys.executable, "-c", SERVER]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            assert server.stdout.readline().strip() == b"ready"
            client = subprocess.run(
                a.command([sys.executable, "-c", CLIENT]),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert client.returncode == 0, client.stderr
            result = json.loads(client.stdout)
            assert result["udp"].startswith("echo:hello")
            assert result["tcp"] == "echo:over tcp"
            seen = json.loads(server.communicate(timeout=40)[0])
            assert seen == {"udp_from": "10.1.0.1", "tcp_from": "10.1.0.1"}
        finally:
            if server.poll() is None:
                server.kill()
            server.wait(timeout=5)
            for stream in (server.stdout, server.stderr):
                if stream is not None:
                    stream.close()

        codes = [p.stop() for p in (xa, xb, ms)]
        assert codes == [0, 0, 0], [p.proc.stderr.read() for p in (xa, xb, ms)]  # type: ignore[union-attr]
        for proc in (xa, xb):
            stopped = proc.wait_for("serve-stopped")[0]["fields"]
            assert stopped["tun_in"] > 0 and stopped["tun_out"] > 0
            assert stopped["sent"] > 0 and stopped["received"] > 0
        kinds = {p: [line["kind"] for line in p.lines] for p in (xa, xb, ms)}
        for proc in (xa, xb):  # each resolved the other through the mapping system
            assert {"map-request-sent", "cache-installed", "map-reply-sent"} <= set(kinds[proc])
        assert kinds[ms].count("request-forwarded") >= 2


@pytest.mark.netns
@pytest.mark.slow
def test_mobile_node_process_notices_a_renumbering_and_registers_the_new_rloc(
    tmp_path: Path, processes: list[Process]
) -> None:
    from lisptrace.lab.netns import Topology

    require_netns()
    (tmp_path / "ms.toml").write_text(
        textwrap.dedent(
            f"""
            [map-server]
            listen = ["198.18.3.2:4342"]
            [[map-server.sites]]
            name = "mobile-nodes"
            eid-prefixes = ["10.9.0.0/24"]
            accept-more-specifics = true
            [[map-server.sites.keys]]
            secret = "{KEY.decode()}"
            """
        )
    )
    (tmp_path / "mn.toml").write_text(
        textwrap.dedent(
            f"""
            [mobile-node]
            name = "mn1"
            eid = "10.9.0.1"
            key = "{KEY.decode()}"
            map-servers = ["198.18.3.2"]
            [mobile-node.interfaces.eth0]
            priority = 1
            [mobile-node.interfaces.eth1]
            priority = 2
            """
        )
    )
    with Topology() as topo:
        mn, m, r = topo.add_host("mn"), topo.add_host("m"), topo.add_router("r")
        topo.link(mn, r, a_addr="198.18.1.2/24", b_addr="198.18.1.1/24")
        topo.link(m, r, a_addr="198.18.3.2/24", b_addr="198.18.3.1/24")
        topo.link(mn, r, a_addr="198.18.4.2/24", b_addr="198.18.4.1/24", a_up=False)
        mn.add_route("default", via="198.18.1.1")
        m.add_route("default", via="198.18.3.1")
        mn.add_tun("lt0", ["10.9.0.1/32"])
        topo.settle()
        ms = Process(m.command(serve_argv("map-server", "--config", str(tmp_path / "ms.toml"))))
        processes.append(ms)
        ms.wait_for("serve-started", timeout=15)
        node = Process(
            mn.command(
                serve_argv("mobile-node", "--config", str(tmp_path / "mn.toml"), "--tun", "lt0")
            )
        )
        processes.append(node)
        started = node.wait_for("serve-started", timeout=15)[0]
        assert "198.18.1.2:4342" in started["fields"]["binds"]
        first = ms.wait_for("register-accepted", timeout=15)[0]
        assert first["fields"]["rlocs"] == ["198.18.1.2"]

        change = mn.set_address("eth0", "198.18.1.7/24", gateway="198.18.1.1")
        changed = node.wait_for(
            "interfaces-changed",
            timeout=10,
            where=lambda line: line["fields"]["rlocs"]["eth0"] == "198.18.1.7",
        )[0]
        assert changed["fields"]["before"] == {"eth0": "198.18.1.2", "eth1": None}
        assert 0 <= changed["time"] - change.end_ns / 1e9 < 2.0  # noticed within the poll
        accepted = ms.wait_for(
            "register-accepted",
            timeout=10,
            where=lambda line: line["fields"]["rlocs"] == ["198.18.1.7"],
        )[0]
        assert accepted["time"] - changed["time"] < 2.0

        mn.move_link("eth0", "eth1", gateway="198.18.4.1")
        node.wait_for(
            "interfaces-changed",
            timeout=10,
            where=lambda line: line["fields"]["rlocs"] == {"eth0": None, "eth1": "198.18.4.2"},
        )
        ms.wait_for(
            "register-accepted",
            timeout=10,
            where=lambda line: line["fields"]["rlocs"] == ["198.18.4.2"],
        )
        assert node.stop() == 0 and ms.stop() == 0
        binds = node.wait_for("serve-stopped")[0]
        assert binds["fields"]["sent"] >= 2


def test_control_endpoint_is_loopback_only_and_bad_commands_are_logged() -> None:
    assert serve_mod.parse_control("127.77.0.5:4351") == ("127.77.0.5", 4351)
    assert serve_mod.parse_control("[::1]:4351") == ("::1", 4351)
    for bad in ("198.18.3.2:4351", "127.0.0.1", "127.0.0.1:0", "nope:1"):
        with pytest.raises(ConfigError, match="--control"):
            serve_mod.parse_control(bad)
    stack = loads(
        textwrap.dedent(
            """
            [map-server]
            listen = ["127.77.1.1:14342"]
            """
        )
    )
    log = io.StringIO()
    server = serve_mod.Server("map-server", stack, None, log, control="127.77.0.9:4351")

    async def feed() -> None:
        await server.adapter.start()
        try:
            for data in (
                b"{not json",
                b'{"rlocs": {"lo0": "127.77.0.2"}}',  # to a map-server
                b'{"packet": "45"}',  # a map-server sends no packets
                b"[]",
            ):
                server.control_received(data)
        finally:
            server.adapter.close()

    asyncio.run(feed())
    kinds = [json.loads(x)["kind"] for x in log.getvalue().splitlines()]
    assert kinds == ["control-error"] * 4
