"""benchmarks/decode.py runs end to end on a small capture (figures are not checked: timing
belongs to the benchmark, not to the tests)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_decode_benchmark_runs_every_contender(tmp_path: Path) -> None:
    args = ["--packets", "3000", "--tshark-packets", "500", "--runs", "2", "--scale", "2"]
    args += ["--keep", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.decode", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split()[0:3] for line in out.stdout.splitlines()]
    names = {" ".join(r) for r in rows}
    assert "lisptrace decode ->" in names and "the same, numpy" in names
    assert "the same, 2x" in names and "peak RSS, 2x the frames against 3,000:" in out.stdout
    assert "dpkt per-packet loop" in names and "numpy record-header walk" in names
    if shutil.which("tshark"):
        assert "tshark -T fields" in names
    assert "runs: 2 of each" in out.stdout
    assert (tmp_path / "decoded" / "manifest.json").is_file()
