"""Decode throughput and memory: lisptrace vs tshark vs a dpkt loop vs a numpy record walk.

    python -m benchmarks.decode [--packets 1000000] [--tshark-packets 100000] [--runs 3]
                                [--keep DIR] [--skip pure,tshark,dpkt,numpy] [--scale 4]

Generates a capture (benchmarks/generate.py: ~95% data plane, ~5% control, IPv4 and IPv6
outer headers), then runs each contender in its own subprocess, measured in the same run:

* ``lisptrace decode CAPTURE -o OUT`` to Parquet (end to end: read, decode, write, manifest),
  after a warm-up decode of the first 1,000 frames (so its byte code is cached, as for an
  installed program); then the same with ``LISPTRACE_PURE=1`` (the compiled kernels' numpy
  twins);
* ``tshark -T fields`` with the equivalent fields (outer addresses/ports, LISP type/nonce,
  data-plane nonce/IID, inner addresses) - on the first ``--tshark-packets`` frames (tshark
  is slow; its rate does not depend on the capture's length), ``0`` = all;
* a dpkt per-packet loop extracting the same fields into Python lists;
* a numpy record-header walk (hop over the record headers, gather time/length with numpy):
  the floor of any pcap reader in Python;
* with ``--scale K``, ``lisptrace decode`` of a capture K times as long (generated alike):
  memory must not grow with the capture, so its peak RSS is printed beside the first's, as a
  ratio of the largest and of the median peaks.

Each contender runs ``--runs`` times, round robin; its fastest run counts (the usual answer
to a shared, noisy host: noise only ever adds time) and its largest peak RSS. Prints
packets/s, the ratios, and the peak RSS (``ru_maxrss`` from ``wait4``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TSHARK_FIELDS = [
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "udp.srcport",
    "udp.dstport",
    "lisp.type",
    "lisp.nonce",
    "lisp-data.nonce",
    "lisp-data.iid",
]

DPKT_LOOP = r"""
import sys, dpkt, socket
ts_, src_, dst_, sp_, dp_, typ_, nonce_, inner_s, inner_d, proto_, iid_ = ([] for _ in range(11))
def addr(b):
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)
n = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        n += 1
        ts_.append(ts)
        try:
            ip = dpkt.ethernet.Ethernet(buf).data
        except Exception:
            continue
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            continue
        src_.append(addr(ip.src)); dst_.append(addr(ip.dst))
        u = ip.data
        if not isinstance(u, dpkt.udp.UDP):
            continue
        sp_.append(u.sport); dp_.append(u.dport)
        p = bytes(u.data)
        if 4342 in (u.sport, u.dport) and p:
            typ_.append(p[0] >> 4)
            nonce_.append(int.from_bytes(p[4:12], "big"))
        elif u.dport == 4341 and len(p) >= 8:
            nonce_.append(int.from_bytes(p[1:4], "big"))
            if p[0] & 0x08:
                iid_.append(int.from_bytes(p[4:7], "big"))
            inner = p[8:]
            try:
                iip = dpkt.ip.IP(inner) if inner[0] >> 4 == 4 else dpkt.ip6.IP6(inner)
            except Exception:
                continue
            inner_s.append(addr(iip.src)); inner_d.append(addr(iip.dst))
            proto_.append(iip.p if hasattr(iip, "p") else iip.nxt)
print(n)
"""

NUMPY_WALK = r"""
import sys, mmap, struct
import numpy as np
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
size = len(m)
offs = []
at = 24
u32 = struct.Struct("<I").unpack_from
while at + 16 <= size:
    offs.append(at)
    at += 16 + u32(m, at + 8)[0]
a = np.frombuffer(m, np.uint8)
o = np.array(offs, np.int64)
hdr = a[o[:, None] + np.arange(16)].view("<u4").reshape(-1, 4)
time_ns = hdr[:, 0].astype(np.int64) * 1_000_000_000 + hdr[:, 1].astype(np.int64) * 1000
caplen = hdr[:, 2]
print(len(o))
"""


# Every contender runs as an installed program would: with its byte code cached (a sandbox may
# set PYTHONDONTWRITEBYTECODE, which would make each Python run compile its sources again).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(args: list[str], **env: str) -> tuple[float, int, str]:
    """(seconds, peak RSS in bytes, stdout) of one subprocess (``env``: added variables)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE, env=ENV | env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode not in (0,):
            raise SystemExit(f"{args[0]} failed ({proc.returncode}): {err.strip()[:500]}")
        out.seek(0)
        text = out.read(4096).decode(errors="replace")
    return seconds, usage.ru_maxrss * 1024, text


def _versions() -> dict[str, str]:
    import pyarrow

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tshark = shutil.which("tshark")
    tv = "not installed"
    if tshark:
        tv = subprocess.run([tshark, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
        "tshark": tv,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--tshark-packets", type=int, default=100_000)
    ap.add_argument("--dpkt-packets", type=int, default=0, help="0 = all")
    ap.add_argument("--keep", type=Path, help="directory for the capture and output (kept)")
    ap.add_argument("--skip", default="", help="comma-separated: pure,tshark,dpkt,numpy")
    ap.add_argument("--runs", type=int, default=3, help="runs of each contender (the fastest)")
    ap.add_argument("--scale", type=int, default=0, help="also decode K times the packets")
    ap.add_argument(
        "--repeat-control",
        action="store_true",
        help="repeat 200 control payloads (best case) instead of unique nonces (default)",
    )
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = args.keep or Path(tempfile.mkdtemp(prefix="lisptrace-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.packets
    cap = _capture(work, n, args.repeat_control)
    for k, v in _versions().items():
        print(f"{k}: {v}")
    runs: dict[str, list[tuple[float, int]]] = {}  # name -> (seconds, peak RSS) of each run

    def prefix(count: int) -> Path:
        if count <= 0 or count >= n:
            return cap
        small = work / f"bench-{args.packets}-first{count}.pcap"
        if not small.exists():
            subprocess.run(
                ["editcap", "-r", str(cap), str(small), f"1-{count}"], check=True
            ) if shutil.which("editcap") else _head(cap, small, count)
        return small

    out = work / "decoded"

    def decode(capture: Path) -> list[str]:
        cli = ["-c", "from lisptrace.cli import run; run()", "decode"]
        return [sys.executable, *cli, str(capture), "-o", str(out), "--overwrite", "-q"]

    _run(decode(prefix(1000)))  # caches byte code
    ours = decode(cap)
    # name -> (packets, command, added environment)
    contenders: dict[str, tuple[int, list[str], dict[str, str]]] = {
        "lisptrace decode -> Parquet": (n, ours, {}),
    }
    scaled = f"  the same, {args.scale}x the frames"
    if args.scale > 1:
        longer = _capture(work, n * args.scale, args.repeat_control)
        contenders[scaled] = (n * args.scale, decode(longer), {})
    if "pure" not in skip:  # the same decode on the numpy twins of the compiled kernels
        contenders["  the same, numpy only"] = (n, ours, {"LISPTRACE_PURE": "1"})
    if "tshark" not in skip and shutil.which("tshark"):
        tn = min(n, args.tshark_packets) if args.tshark_packets > 0 else n
        fields = [x for f in TSHARK_FIELDS for x in ("-e", f)]
        tshark = ["tshark", "-n", "-r", str(prefix(tn)), "-T", "fields", *fields]
        contenders["tshark -T fields"] = (tn, tshark, {})
    if "dpkt" not in skip:
        dn = min(n, args.dpkt_packets) if args.dpkt_packets > 0 else n
        contenders["dpkt per-packet loop"] = (
            dn,
            [sys.executable, "-c", DPKT_LOOP, str(prefix(dn))],
            {},
        )
    if "numpy" not in skip:
        contenders["numpy record-header walk"] = (
            n,
            [sys.executable, "-c", NUMPY_WALK, str(cap)],
            {},
        )
    # round robin, so that a slow spell of a shared host hits every contender alike; each
    # keeps its fastest run and its largest peak RSS
    for _ in range(max(1, args.runs)):
        for name, (_count, cmd, env) in contenders.items():
            s, rss, _ = _run(cmd, **env)
            runs.setdefault(name, []).append((s, rss))
    print(f"runs: {max(1, args.runs)} of each, round robin (the fastest; the largest RSS)")

    def best(name: str) -> tuple[float, int]:
        return min(s for s, _ in runs[name]), max(r for _, r in runs[name])

    ours_rate = n / best("lisptrace decode -> Parquet")[0]
    print()
    print(f"{'contender':32} {'packets':>9} {'seconds':>8} {'packets/s':>11} {'ours is':>9} "
          f"{'peak RSS':>9}")  # fmt: skip
    for name, (count, _cmd, _env) in contenders.items():
        sec, rss = best(name)
        rate = count / sec
        print(
            f"{name:32} {count:>9} {sec:>8.2f} {rate:>11,.0f} {ours_rate / rate:>8.2f}x "
            f"{rss / 2**20:>7.0f} MB"
        )
    if scaled in runs:
        peaks = [sorted(r for _, r in runs[k]) for k in ("lisptrace decode -> Parquet", scaled)]
        largest = peaks[1][-1] / peaks[0][-1] - 1
        median = statistics.median(peaks[1]) / statistics.median(peaks[0]) - 1
        print(
            f"\npeak RSS, {args.scale}x the frames against {n:,}: {largest:+.1%} (largest), "
            f"{median:+.1%} (median); each run's: {_mb(peaks[0])} and {_mb(peaks[1])}"
        )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


def _mb(sizes: list[int]) -> str:
    return "/".join(f"{r / 2**20:.0f}" for r in sizes) + " MB"


def _capture(work: Path, packets: int, repeat_control: bool) -> Path:
    """The benchmark's capture of ``packets`` frames in ``work`` (generated unless there)."""
    cap = work / f"bench-{packets}{'-repeat' if repeat_control else ''}.pcap"
    if not cap.exists():
        # in a subprocess: a child forked from a big parent would inherit its peak RSS
        # (ru_maxrss survives exec), and every measurement below is a child of this process
        t0 = time.perf_counter()
        gen = [sys.executable, "-m", "benchmarks.generate", str(cap), "--packets", str(packets)]
        gen += ["--repeat-control"] if repeat_control else []
        subprocess.run(gen, check=True, stdout=subprocess.DEVNULL)
        size = cap.stat().st_size
        print(f"generated {cap} ({size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    return cap


def _head(src: Path, dst: Path, count: int) -> None:
    """The first ``count`` records of a little-endian pcap (without editcap)."""
    import struct

    data = src.read_bytes()
    at, k = 24, 0
    while k < count and at + 16 <= len(data):
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]
        k += 1
    dst.write_bytes(data[:at])


if __name__ == "__main__":
    main()
