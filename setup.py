"""The optional compiled kernels (docs/performance.md); everything else is in pyproject.toml.

They are here, not in pyproject.toml, because the block cache needs numpy's C headers, whose
directory only numpy knows. A machine without a C compiler installs the project without them.
"""

import numpy
from setuptools import Extension, setup


def kernel(name: str, source: str, **options: list[str]) -> Extension:
    return Extension(name, [source], optional=True, **options)


setup(
    ext_modules=[
        kernel("lisptrace.ingest._hop", "lisptrace/ingest/_hop.c"),
        kernel("lisptrace.ingest._fastpath", "lisptrace/ingest/_fastpath.c"),
        kernel("lisptrace.tables._addrtext", "lisptrace/tables/_addrtext.c"),
        kernel("lisptrace._blocks", "lisptrace/_blocks.c", include_dirs=[numpy.get_include()]),
    ]
)
