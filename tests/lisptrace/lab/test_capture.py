"""A capture at a vantage point holds the traffic sent after start() returned, and is a
complete pcapng once stop() returns (read back with our reader and with tshark)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import dpkt
import pytest

from lisptrace.ingest.capture import open_capture
from lisptrace.lab.apps import UDP_END, UDP_HEADER, UDP_MAGIC, start_app
from lisptrace.lab.capture import Capture, capture_tool
from lisptrace.lab.manifest import (
    CaptureInfo,
    Manifest,
    RoamEvent,
    hosts_of,
    manifest_path,
)
from lisptrace.lab.netns import LabError, Topology

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(capture_tool() is None, reason="neither dumpcap nor tshark installed"),
]


def _udp_seqs(path: Path, port: int) -> tuple[list[int], list[int]]:
    """Sequence numbers and frame times of the app's datagrams to ``port``, via our reader."""
    seqs, times = [], []
    with open_capture(path) as cap:
        for batch in cap.batches():
            for i in range(len(batch)):
                eth = dpkt.ethernet.Ethernet(batch.frame(i))
                ip = eth.data
                if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.udp.UDP):
                    continue
                udp = ip.data
                if udp.dport != port or len(udp.data) < UDP_HEADER.size:
                    continue
                magic, seq, _ = UDP_HEADER.unpack_from(bytes(udp.data))
                if magic == UDP_MAGIC and seq != UDP_END:
                    seqs.append(seq)
                    times.append(int(batch.time_ns[i]))
        assert cap.truncated is None and not cap.warnings
    return seqs, times


@pytest.mark.parametrize("tool", ["dumpcap", "tshark"])
def test_capture_at_the_router_holds_the_udp_stream(
    routed: Topology, tmp_path: Path, tool: str
) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    a, r, b = routed.host("a"), routed.host("r"), routed.host("b")
    rx = start_app(b, "udp-receiver", tmp_path, "rx", "--bind", "198.18.2.2")
    path = tmp_path / "core.pcapng"
    with Capture(r, "eth1", path, vantage="core", tool=tool) as cap:
        # the very first datagram, sent right after start() returned, must be in the file
        tx = start_app(
            a,
            "udp-sender",
            tmp_path,
            "tx",
            "--to",
            "198.18.2.2",
            "--port",
            str(rx.port),
            "--count",
            "40",
            "--interval-ms",
            "2",
        )
        t = tx.result(10)
        rx.result(10)
    result = cap.result
    assert result is not None and result.vantage == "core" and result.path == path
    seqs, times = _udp_seqs(path, rx.port)
    assert seqs == list(range(40))
    # frame times are on the clock of the apps (and of roaming events)
    assert t["start_ns"] - 50_000_000 <= times[0] and times[-1] <= t["end_ns"] + 50_000_000
    if tool == "dumpcap":
        assert result.packets is not None and result.packets >= 40 and result.dropped == 0
    shown = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            f"udp.dstport == {rx.port}",
            "-T",
            "fields",
            "-e",
            "ip.src",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(shown) >= 40 and set(shown) == {"198.18.1.2"}


def test_capture_only_sees_its_vantage_point(routed: Topology, tmp_path: Path) -> None:
    """A capture on the mobile side's idle second link sees none of the stream."""
    a, b = routed.host("a"), routed.host("b")
    b.link_up("eth0")
    rx = start_app(b, "udp-receiver", tmp_path, "rx", "--bind", "198.18.2.2")
    with Capture(routed.host("r"), "eth2", tmp_path / "idle.pcapng") as cap:
        start_app(
            a,
            "udp-sender",
            tmp_path,
            "tx",
            "--to",
            "198.18.2.2",
            "--port",
            str(rx.port),
            "--count",
            "5",
            "--interval-ms",
            "1",
        ).result(10)
    assert _udp_seqs(cap.path, rx.port)[0] == []


def test_capture_on_a_missing_interface_fails_clearly(topo: Topology, tmp_path: Path) -> None:
    h = topo.add_host("h")
    with pytest.raises(LabError, match="did not start"):
        Capture(h, "nosuch0", tmp_path / "x.pcapng").start(timeout=5)
    assert all(p.poll() is not None for p in h.processes)


def test_a_roam_recorded_beside_its_capture(routed: Topology, tmp_path: Path) -> None:
    """What a scenario runner does: capture, traffic, roam, manifest; the event's time falls
    between the last datagram from the old link and the first from the new one."""
    a, r, b = routed.host("a"), routed.host("r"), routed.host("b")
    rx = start_app(b, "udp-receiver", tmp_path, "rx", "--bind", "198.18.2.2")
    path = tmp_path / "roam.core.pcapng"
    with Capture(r, "eth1", path, vantage="core", comment="scenario=test-roam") as cap:
        tx = start_app(
            a,
            "udp-sender",
            tmp_path,
            "tx",
            "--to",
            "198.18.2.2",
            "--port",
            str(rx.port),
            "--duration",
            "1.5",
            "--interval-ms",
            "5",
        )
        time.sleep(0.4)
        change = a.move_link("eth0", "eth1", gateway="198.18.3.1")
        tx.result(10)
        received = rx.result(10)
    m = Manifest("test-roam", hosts=hosts_of(routed, roles={"a": "mobile-node"}))
    m.captures.append(CaptureInfo.from_result(cap.stop(), manifest_path(path)))
    m.events.append(RoamEvent.from_change(change))
    back = Manifest.read(m.write(manifest_path(path)))
    assert back.captures[0].file == "roam.core.pcapng"
    assert {h.name: h.role for h in back.hosts} == {"a": "mobile-node", "r": "router", "b": "host"}
    assert back.hosts[0].interfaces["eth1"] == ["198.18.3.2/24"]
    # sources in the capture switch from the old to the new address around the event
    seen = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            f"udp.dstport == {rx.port}",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    rows = [(float(t), src) for t, src in (line.split("\t") for line in seen if line)]
    old = [t for t, src in rows if src == "198.18.1.2"]
    new = [t for t, src in rows if src == "198.18.3.2"]
    assert old and new
    event = back.events[0]
    assert max(old) * 1e9 <= event.end_ns and event.time_ns <= min(new) * 1e9
    assert received["loss_runs"] or received["lost"] == 0
    comments = open_capture(path)
    with comments:
        list(comments.batches())
        assert "scenario=test-roam" in comments.comments
