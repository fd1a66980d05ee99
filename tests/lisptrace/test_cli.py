"""The ``lisptrace`` command line, run as a user would (a real subprocess)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "captures"
REGISTER = SHARED / "tcpdump" / "lisp_eid_register.pcap"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lisptrace.cli import main; main()", *args],
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
