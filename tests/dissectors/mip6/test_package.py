"""The package's names load lazily from their submodules."""

from __future__ import annotations

import importlib
import subprocess
import sys

import dissectors.mip6 as mip6


def test_every_public_name_resolves_to_its_submodule() -> None:
    assert sorted(mip6.__all__) == sorted(mip6._SUBMODULE)
    for name, sub in mip6._SUBMODULE.items():
        module = importlib.import_module(f"dissectors.mip6.{sub}")
        assert getattr(mip6, name) is getattr(module, name)


def test_extension_headers_do_not_load_the_mobility_header_codecs() -> None:
    code = (
        "import sys, dissectors.mip6.ext, lisptrace.ingest.decode;"
        "assert 'dissectors.mip6.mh' not in sys.modules, 'mh loaded';"
        "assert 'dissectors.mip6.options' not in sys.modules, 'options loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
