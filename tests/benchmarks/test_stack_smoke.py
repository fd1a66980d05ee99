"""benchmarks/stack.py runs end to end (a smoke test, not a timing assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stack_benchmark_loses_no_registration(tmp_path: Path) -> None:
    out = tmp_path / "stack.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "stack.py"), "--nodes", "50"]
    cmd += ["--seconds", "1", "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no registration or Map-Notify lost" in done.stdout
    r = json.loads(out.read_text())
    assert all(v == 0 for v in r["lost"].values()), r["lost"]
    reg, req = r["register"], r["request"]
    assert reg["sent"] > 0 and reg["answered"] == reg["sent"]
    assert reg["server"]["registers-accepted"] == reg["sent"] == reg["server"]["notifies"]
    assert reg["registrations"] == 50 and reg["covered"] == 50
    assert req["answered"] == req["sent"] > 0 and req["wrong"] == 0
    assert req["server"]["proxy-replies"] == req["sent"]
    assert r["echo"]["answered"] > 0
