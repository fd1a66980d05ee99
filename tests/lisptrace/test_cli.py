"""The ``lisptrace`` command line, run as a user would (a real subprocess)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "captures"
REGISTER = SHARED / "tcpdump" / "lisp_eid_register.pcap"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lisptrace.cli import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_show_lists_each_lisp_message() -> None:
    out = run("show", str(REGISTER))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert all("lisp Map-Register" in line for line in lines)
    assert "2 records" in lines[0]


def test_show_verbose_prints_field_tree_with_spans(tmp_path: Path) -> None:
    gz = tmp_path / "register.pcap.gz"
    gz.write_bytes(gzip.compress(REGISTER.read_bytes()))
    out = run("show", "-V", str(gz))
    assert out.returncode == 0, out.stderr
    assert "nonce:" in out.stdout
    assert "records: 2 items" in out.stdout
    assert "[12+2]" in out.stdout  # the Key ID at byte 12 of the payload


def test_show_reports_malformed_messages_as_rows() -> None:
    out = run("show", str(SHARED / "tcpdump" / "lisp_invalid_length.pcap"))
    assert out.returncode == 0, out.stderr
    assert "malformed" in out.stdout or "{" in out.stdout


def test_bad_arguments_give_one_line_and_status_2(tmp_path: Path) -> None:
    missing = run("show", str(tmp_path / "nope.pcap"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "no such file" in missing.stderr
    bad_option = run("show", "--no-such-option", str(REGISTER))
    assert bad_option.returncode == 2
    assert bad_option.stderr.strip().count("\n") == 0
    assert "Traceback" not in bad_option.stderr


def test_a_file_that_is_not_a_capture_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    out = run("show", str(junk))
    assert out.returncode == 2
    assert "not a pcap or pcapng capture" in out.stderr
    assert "Traceback" not in out.stderr


def test_show_decodes_mobility_headers_and_checks_their_checksum() -> None:
    good = run("show", str(SHARED / "zeek" / "mip6_bu.pcap"))
    assert good.returncode == 0, good.stderr
    assert "mip6 Binding-Update [checksum_ok a h k]" in good.stdout
    bad = run("show", str(SHARED / "zeek" / "mip6-bad-mh-chksum.pcap"))
    assert "{mip6.bad_checksum}" in bad.stdout


def test_anomalies_lists_the_catalog() -> None:
    out = run("anomalies")
    assert out.returncode == 0
    assert "| `lisp.auth.bad_hmac` | error |" in out.stdout
    assert "| `mip6.bad_checksum` |" in out.stdout


# -- decode ------------------------------------------------------------------------------------


def test_decode_writes_tables_and_one_summary_line(tmp_path: Path) -> None:
    out = run("decode", str(REGISTER), "-o", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1  # piped: no progress bar, one summary line
    assert lines[0].startswith("2 frames -> 2 control, 4 records, 5 locators")
    assert (tmp_path / "out" / "packets.parquet").is_file()
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_decode_ports_are_options_recorded_in_the_manifest(tmp_path: Path) -> None:
    """Like Wireshark's "Decode As": the LISP ports can be moved; with the data port moved
    the data-plane frames are no longer LISP data; the manifest says which ports were used."""
    capture = ROOT / "captures" / "clean-roam-mn.pcapng"

    def decoded(name: str, *ports: str) -> dict[str, Any]:
        done = run("decode", str(capture), "-o", str(tmp_path / name), "-q", *ports)
        assert done.returncode == 0, done.stderr
        return dict(json.loads((tmp_path / name / "manifest.json").read_text()))

    usual = decoded("usual")
    assert usual["ports"] == {"control": 4342, "data": 4341, "gpe": 4790}
    assert usual["rows"]["data"] > 0 and usual["rows"]["control"] > 0
    moved = decoded("moved", "--data-port", "14341", "--control-port", "14342")
    assert moved["ports"] == {"control": 14342, "data": 14341, "gpe": 4790}
    assert moved["rows"]["data"] == moved["rows"]["control"] == 0
    assert moved["frames"] == usual["frames"]
    for bad in (["--data-port", "0"], ["--gpe-port", "4342"], ["--data-port", "x"]):
        for command in (["decode", "-o", str(tmp_path / "bad")], ["show"]):
            refused = run(command[0], str(capture), *command[1:], *bad)
            assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
            assert "port" in refused.stderr


def test_show_takes_the_same_ports() -> None:
    capture = ROOT / "captures" / "clean-roam-mn.pcapng"
    usual = run("show", str(capture), "--all").stdout.splitlines()
    moved = run("show", str(capture), "--all", "--data-port", "14341").stdout.splitlines()
    assert len(usual) == len(moved) == 53
    data = [k for k, line in enumerate(usual) if " lisp-data " in line]
    assert data and all("(not LISP)" in moved[k] for k in data)
    assert all(" lisp " in moved[k] for k, line in enumerate(usual) if " lisp " in line)


def test_decode_arrow_tables_quiet(tmp_path: Path) -> None:
    out = run(
        "decode", str(REGISTER), "-o", str(tmp_path / "o"), "--format", "arrow",
        "--tables", "control,records", "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["control.arrow", "manifest.json", "packets.arrow", "records.arrow"]


def test_decode_truncated_capture_exit_status_3(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(REGISTER.read_bytes()[:-7])
    out = run("decode", str(cut), "-o", str(tmp_path / "o"))
    assert out.returncode == 3
    assert "warning:" in out.stderr and "cut" in out.stderr
    assert "1 frames" in out.stderr and "(capture truncated)" in out.stderr


def test_console_script_ends_a_finished_decode_without_teardown(tmp_path: Path) -> None:
    """``run`` (the console script) skips Python's teardown after a decode, whose files are
    closed and output printed by then (an atexit handler shows it), keeping the exit status;
    other commands end as usual."""
    script = (
        "import atexit; atexit.register(print, 'teardown'); from lisptrace.cli import run; run()"
    )

    def run_with(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
        )

    done = run_with("decode", str(REGISTER), "-o", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "2 frames" in done.stderr
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["frames"] == 2
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(REGISTER.read_bytes()[:-7])
    truncated = run_with("decode", str(cut), "-o", str(tmp_path / "t"))
    assert truncated.returncode == 3 and truncated.stdout == ""
    for other in (run_with("anomalies"), run_with("decode", str(cut), "-o", str(tmp_path / "t"))):
        assert other.stdout.endswith("teardown\n")  # a usage error (exists) ends as usual


def test_decode_input_errors_are_one_line_status_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture")
    for args in (
        ["decode", str(junk), "-o", str(tmp_path / "a")],
        ["decode", str(tmp_path / "missing.pcap"), "-o", str(tmp_path / "b")],
        ["decode", str(REGISTER), "-o", str(tmp_path / "c"), "--tables", "nope"],
        ["decode", str(REGISTER)],
    ):
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr


def test_decode_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('[default]\nkey = "not-the-key"\n')
    out = run("decode", str(REGISTER), "-o", str(tmp_path / "o"), "--keys", str(keys))
    assert out.returncode == 0, out.stderr
    assert "not-the-key" not in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[sites.x]\nkey = 'secret-value'\n")
    out = run("decode", str(REGISTER), "-o", str(tmp_path / "p"), "--keys", str(bad))
    assert out.returncode == 2 and "secret-value" not in out.stderr


def test_decode_refuses_to_overwrite_without_the_option(tmp_path: Path) -> None:
    assert run("decode", str(REGISTER), "-o", str(tmp_path / "o"), "-q").returncode == 0
    again = run("decode", str(REGISTER), "-o", str(tmp_path / "o"), "-q")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (
        run("decode", str(REGISTER), "-o", str(tmp_path / "o"), "-q", "--overwrite").returncode == 0
    )


def test_show_truncated_capture_lists_frames_then_warns(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(REGISTER.read_bytes()[:-7])
    out = run("show", str(cut))
    assert out.returncode == 3
    assert len(out.stdout.splitlines()) == 1 and "Map-Register" in out.stdout
    assert out.stderr.startswith("lisptrace: warning:") and "Traceback" not in out.stderr


def test_serve_runs_a_role_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import json
    import signal
    import time

    config = tmp_path / "ms.toml"
    config.write_text(
        '[map-server]\nlisten = ["127.0.0.1:43420"]\n'
        '[[map-server.sites]]\nname = "s"\neid-prefixes = ["10.1.0.0/16"]\n'
        '[[map-server.sites.keys]]\nsecret = "s3cr3t-value"\n'
    )
    log = tmp_path / "ms.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lisptrace.cli import main; main()",
            "serve",
            "map-server",
            "--config",
            str(config),
            "--log",
            str(log),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            if log.exists() and "serve-started" in log.read_text():
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
    assert kinds[0] == "serve-started" and kinds[-1] == "serve-stopped"
    assert "s3cr3t-value" not in log.read_text()


def test_serve_config_error_is_one_line_and_status_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[map-server]\nlisten = ["127.0.0.1:4342"]\nno-such-key = 1\n')
    out = run("serve", "map-server", "--config", str(config))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no-such-key" in out.stderr


def test_lab_lists_its_scenarios() -> None:
    out = run("lab", "--list")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("clean-roam ")
    assert "fault-no-smr" in out.stdout


def _decode_under(probe: str, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    """Run ``lisptrace decode`` of the Map-Register capture in a fresh interpreter under the
    Python ``probe`` (which calls the CLI's ``main``; ``env``: its environment, else this
    process's); its standard output, once the decode has succeeded and written its output."""
    out = subprocess.run(
        [sys.executable, "-c", probe, "decode", str(REGISTER), "-o", str(tmp_path / "o"), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "o" / "manifest.json").is_file()
    return out.stdout


def test_commands_import_lazily(tmp_path: Path) -> None:
    """`lisptrace decode` starts without the other commands' machinery (start-up time), nor
    pandas (which pyarrow would import) nor the Mobile IPv6 codecs of a capture without any;
    pandas stays importable in the process afterwards."""
    probe = (
        "import sys; from lisptrace.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in ('dpkt', 'asyncio', 'rich', 'lisptrace.stack',"
        " 'lisptrace.ingest.walk', 'pandas', 'dissectors.mip6.mh') if m in sys.modules))\n"
        "import pyarrow as pa\n"
        "assert type(pa.table({'a': [1]}).to_pandas()).__name__ == 'DataFrame'"
    )
    assert _decode_under(probe, tmp_path).strip() == ""


def test_decode_starts_reading_before_it_imports_pyarrow_and_the_codecs(tmp_path: Path) -> None:
    """The reading stage reads the first batches while the rest is imported (docs/performance.md:
    ~0.17 s of a 1M-frame decode): nothing before it may import pyarrow or the codecs."""
    probe = (
        "import sys\n"
        "import lisptrace.ingest.reading as r\n"
        "start = r.Reading.__init__\n"
        "def init(self, *a, **k):\n"
        "    print(' '.join(m for m in ('pyarrow', 'dissectors.lisp') if m in sys.modules))\n"
        "    start(self, *a, **k)\n"
        "r.Reading.__init__ = init\n"
        "from lisptrace.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    assert _decode_under(probe, tmp_path) == "\n"  # the probe ran, and found neither


def test_decode_takes_arrow_memory_from_jemalloc_unless_told_otherwise(tmp_path: Path) -> None:
    """Arrow's jemalloc pool where pyarrow has one (a steadier, lower resident size than
    mimalloc: docs/performance.md), chosen before pyarrow is loaded; the user's
    ``ARROW_DEFAULT_MEMORY_POOL`` wins."""
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
        expected = "jemalloc"
    except NotImplementedError:
        expected = pa.mimalloc_memory_pool().backend_name
    probe = (
        "from lisptrace.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import pyarrow as pa\nprint(pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    assert _decode_under(probe, tmp_path, env).strip() == expected
    env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    assert _decode_under(probe, tmp_path / "s", env).strip() == "system"


def test_decode_has_glibc_keep_the_top_of_its_heap() -> None:
    """After ``_glibc_heap_pad`` (called by ``lisptrace decode``), freeing what was taken from
    the top of the heap leaves ``GLIBC_TOP_PAD`` bytes there for the next batch, instead of
    trimming them (glibc's ``keepcost``: the top chunk's releasable bytes)."""
    if not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("not glibc")
    probe = (
        "import ctypes, sys\n"
        "from lisptrace.cli import GLIBC_TOP_PAD, _glibc_heap_pad\n"
        "fields = 'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks'\n"
        "fields += ' keepcost'\n"
        "class Info(ctypes.Structure):\n"
        "    _fields_ = [(n, ctypes.c_size_t) for n in fields.split()]\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.mallinfo2.restype = Info\n"
        "libc.malloc.restype = ctypes.c_void_p\n"
        "libc.free.argtypes = [ctypes.c_void_p]\n"
        "if sys.argv[1] == 'pad':\n"
        "    _glibc_heap_pad()\n"
        "taken = [libc.malloc(100_000) for _ in range(300)]  # below the mmap threshold\n"
        "for block in reversed(taken):\n"
        "    libc.free(block)\n"
        "print(libc.mallinfo2().keepcost, GLIBC_TOP_PAD)\n"
    )
    kept = {}
    for mode in ("pad", "default"):
        out = subprocess.run(
            [sys.executable, "-c", probe, mode], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        kept[mode], pad = map(int, out.stdout.split())
    assert kept["pad"] >= pad > 4 * kept["default"]


def test_decode_pads_the_glibc_heap(tmp_path: Path) -> None:
    probe = (
        "import lisptrace.cli as cli\n"
        "pad = cli._glibc_heap_pad\n"
        "def padded():\n    print('padded')\n    pad()\n"
        "cli._glibc_heap_pad = padded\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
    )
    assert _decode_under(probe, tmp_path) == "padded\n"


def test_serve_roles_match_the_stack() -> None:
    from lisptrace.cli import ROLES
    from lisptrace.stack.serve import ROLES as STACK_ROLES

    assert ROLES == STACK_ROLES
