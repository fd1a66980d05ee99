"""The compiled kernels are built wherever a C compiler is (CI must not test numpy alone)."""

from __future__ import annotations

import os
import shutil

import pytest

from lisptrace.kernels import load

KERNELS = (
    "lisptrace.ingest._hop",
    "lisptrace.ingest._fastpath",
    "lisptrace.tables._addrtext",
    "lisptrace._blocks",
)


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_built_where_a_compiler_is(name: str) -> None:
    if os.environ.get("LISPTRACE_PURE"):
        assert load(name) is None
        return
    if shutil.which("cc") is None:
        pytest.skip("no C compiler: the numpy paths run")
    assert load(name) is not None, f"{name} was not built: run pip install -e . again"


def test_pure_environment_disables_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISPTRACE_PURE", "1")
    assert all(load(name) is None for name in KERNELS)
