"""Topologies in network namespaces: building, running processes, roaming, teardown, and the
detection of (and fallback for) machines without namespaces."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lisptrace.lab import netns
from lisptrace.lab.netns import (
    Availability,
    LabError,
    LoopbackLab,
    NamespacesUnavailable,
    Topology,
    cleanup,
    detect,
    lab,
    namespaces,
)
from tests.lisptrace.lab.conftest import needs_netns

ROOT = Path(__file__).resolve().parents[3]

# --------------------------------------------------------------------------- detection


def test_detect_without_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.sys, "platform", "linux")
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    a = detect()
    assert not a.netns and a.backend == "loopback"
    assert "ip" in a.reason and "iproute2" in a.reason


def test_detect_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.sys, "platform", "linux")
    monkeypatch.setattr(netns.shutil, "which", lambda name: "/usr/sbin/ip")
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(netns, "_has_cap_sys_admin", lambda: False)
    a = detect()
    assert not a.netns and "root" in a.reason


def test_detect_not_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.sys, "platform", "darwin")
    a = detect()
    assert not a.netns and "Linux" in a.reason


def test_detect_when_ip_netns_add_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.sys, "platform", "linux")
    monkeypatch.setattr(netns.shutil, "which", lambda name: "/usr/sbin/ip")
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    failed = subprocess.CompletedProcess(["ip"], 1, "", "mount --make-shared: Permission denied")
    monkeypatch.setattr(netns.subprocess, "run", lambda *a, **k: failed)
    a = detect()
    assert not a.netns and "Permission denied" in a.reason


def test_topology_refuses_without_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "detect", lambda probe=True: Availability(False, "no root here"))
    with pytest.raises(NamespacesUnavailable, match="no root here"):
        Topology()


def test_lab_falls_back_to_loopback_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(netns, "detect", lambda probe=True: Availability(False, "no root here"))
    with lab() as fallback:
        assert isinstance(fallback, LoopbackLab)
        a, b = fallback.add_host("a"), fallback.add_host("b")
        assert fallback.address["a"] != fallback.address["b"]
        assert all(fallback.address[n].startswith("127.") for n in "ab")
        assert a.command(["true"]) == ["true"]  # runs in this namespace
        with pytest.raises(NamespacesUnavailable):
            b.add_route("default", via="127.0.0.1")
        change = fallback.renumber("a")
        assert change.address_to == fallback.address["a"] != change.address_from
    err = capsys.readouterr().err
    assert "no root here" in err and "loopback" in err


@needs_netns
@pytest.mark.netns
def test_detect_here() -> None:
    a = detect()
    assert a.netns and a.backend == "netns"
    assert not [n for n in namespaces() if n.endswith("-probe")]


# --------------------------------------------------------------------------- building


@pytest.mark.netns
def test_routed_topology(routed: Topology) -> None:
    a, r, b = routed.host("a"), routed.host("r"), routed.host("b")
    assert len(routed.namespaces()) == 3
    assert all(ns.startswith(routed.prefix) for ns in routed.namespaces())
    assert routed.describe()["a"] == {
        "eth0": ["198.18.1.2/24", "2001:db8:1::2/64"],
        "eth1": ["198.18.3.2/24"],
    }
    # processes really run inside the namespace
    assert "198.18.2.2/24" in b.run(["ip", "-o", "addr"]).stdout
    assert (
        "198.18.2.2"
        not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    )
    # forwarding is on in the router only, and the caller's namespace is untouched
    cat = ["cat", "/proc/sys/net/ipv4/ip_forward"]
    assert r.run(cat).stdout.strip() == "1"
    assert a.run(cat).stdout.strip() == "0"
    assert "default via 198.18.1.1 dev eth0" in a.routes()
    assert "default via 2001:db8:1::1 dev eth0" in a.routes(v6=True)
    with pytest.raises(LabError, match="ip -n"):
        a.add_route("203.0.113.0/24", via="198.18.99.1")  # unreachable gateway


@pytest.mark.netns
def test_names_are_checked(topo: Topology) -> None:
    with pytest.raises(LabError):
        topo.add_host("Bad_Name")
    h = topo.add_host("h")
    with pytest.raises(LabError):
        topo.add_host("h")
    s = topo.add_switch("s")
    with pytest.raises(LabError):
        topo.link(h, s, a_if="an-interface-name-too-long")
    with pytest.raises(LabError, match="net"):
        h.sysctl("kernel.panic", 1)


@pytest.mark.netns
def test_switch_joins_links_into_one_segment(topo: Topology, tmp_path: Path) -> None:
    from lisptrace.lab.apps import start_app

    s = topo.add_switch("s")
    x, y = topo.add_host("x"), topo.add_host("y")
    topo.link(x, s, a_addr="198.18.9.1/24")
    topo.link(y, s, a_addr="198.18.9.2/24")
    assert "master br0" in s.run(["ip", "-o", "link", "show", "eth0"]).stdout
    server = start_app(y, "udp-receiver", tmp_path, "rx", "--bind", "198.18.9.2")
    start_app(
        x,
        "udp-sender",
        tmp_path,
        "tx",
        "--to",
        "198.18.9.2",
        "--port",
        str(server.port),
        "--count",
        "5",
        "--interval-ms",
        "1",
    ).result(10)
    assert server.result(10)["received"] == 5


# --------------------------------------------------------------------------- roaming


@pytest.mark.netns
def test_set_address(routed: Topology) -> None:
    a = routed.host("a")
    before = time.time_ns()
    change = a.set_address("eth0", "198.18.1.7/24", gateway="198.18.1.1")
    assert before <= change.start_ns <= change.end_ns <= time.time_ns()
    assert (change.kind, change.address_from, change.address_to) == (
        "set-address",
        "198.18.1.2/24",
        "198.18.1.7/24",
    )
    assert a.addresses("eth0") == ["198.18.1.7/24", "2001:db8:1::2/64"]
    v6 = a.set_address("eth0", "2001:db8:1::7/64")
    assert v6.address_from == "2001:db8:1::2/64"
    assert a.addresses("eth0") == ["198.18.1.7/24", "2001:db8:1::7/64"]


@pytest.mark.netns
def test_move_link(routed: Topology) -> None:
    a = routed.host("a")
    change = a.move_link("eth0", "eth1", gateway="198.18.3.1")
    assert (change.kind, change.interface_from, change.interface_to) == (
        "move-link",
        "eth0",
        "eth1",
    )
    assert (change.address_from, change.address_to) == ("198.18.1.2/24", "198.18.3.2/24")
    links = a.run(["ip", "-o", "link"]).stdout
    assert "eth0@" in links and "state DOWN" in links.split("eth0@")[1].split("\n")[0]
    assert "default via 198.18.3.1 dev eth1" in a.routes()


# --------------------------------------------------------------------------- teardown


@pytest.mark.netns
def test_teardown_leaves_nothing_even_after_an_exception() -> None:
    if not detect(probe=False).netns:
        pytest.skip("no namespaces")
    with pytest.raises(RuntimeError, match="boom"), Topology() as t:
        a = t.add_host("a")
        r = t.add_router("r")
        t.link(a, r, a_addr="198.18.1.2/24", b_addr="198.18.1.1/24")
        tracked = a.popen(["sleep", "60"])
        # a daemon the topology did not start itself: found through `ip netns pids`
        a.run(["sh", "-c", "sleep 61 >/dev/null 2>&1 &"])
        stray = [int(p) for p in a.run(["sh", "-c", "pgrep -f 'sleep 61' || true"]).stdout.split()]
        prefix = t.prefix
        raise RuntimeError("boom")
    assert not [n for n in namespaces() if n.startswith(prefix)]
    assert tracked.poll() is not None
    time.sleep(0.05)
    for pid in stray:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "sleep 61"
            not in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        )
    assert "lt-" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    t.teardown()  # idempotent


@pytest.mark.netns
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_teardown_when_the_run_is_interrupted(sig: signal.Signals) -> None:
    if not detect(probe=False).netns:
        pytest.skip("no namespaces")
    script = textwrap.dedent(
        """
        import sys, time
        from lisptrace.lab.netns import Topology
        with Topology() as t:
            a, b = t.add_host("a"), t.add_host("b")
            t.link(a, b, a_addr="198.18.5.1/30", b_addr="198.18.5.2/30")
            a.popen(["sleep", "60"])
            print(t.prefix, flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    prefix = proc.stdout.readline().strip()
    assert prefix.startswith("lt-")
    assert len([n for n in namespaces() if n.startswith(prefix)]) == 2
    proc.send_signal(sig)
    proc.wait(timeout=20)
    assert not [n for n in namespaces() if n.startswith(prefix)]


@pytest.mark.netns
def test_cleanup_removes_dead_runs_only(topo: Topology) -> None:
    topo.add_host("live")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"lt-{dead.pid}-abc-old"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        gone = cleanup()
        assert stale in gone
        assert stale not in namespaces()
        assert topo.namespaces() == [topo.prefix + "live"]  # a live run is kept
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_cleanup_cli_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lisptrace.lab", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.split(":")[0] in ("netns", "loopback")
    assert done.returncode == (0 if done.stdout.startswith("netns") else 1)


@pytest.mark.netns
def test_roles_run_as_lisptrace_processes(topo: Topology) -> None:
    h = topo.add_host("h")
    proc = h.lisptrace("--version", stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and b"lisptrace" in out
    sleeper = h.popen(["sleep", "30"])
    assert h.terminate(sleeper, grace=2) == -signal.SIGTERM


@pytest.mark.netns
def test_tun_device_for_the_data_plane(topo: Topology) -> None:
    h = topo.add_host("h")
    h.add_tun("lisp0", ["192.0.2.10/32"])
    assert "tun" in h.run(["ip", "-d", "link", "show", "lisp0"]).stdout
    assert h.addresses("lisp0") == ["192.0.2.10/32"]
