"""The lab: real hosts in network namespaces, captures at vantage points, application
traffic, and the manifest of truth written beside each capture.

* :mod:`lisptrace.lab.netns` -- :class:`Topology` (hosts, routers, switches, veth links,
  addresses, routes, roaming operations, guaranteed teardown), :func:`detect`,
  :func:`cleanup`, and the :class:`LoopbackLab` fallback;
* :mod:`lisptrace.lab.capture` -- :class:`Capture` (dumpcap/tshark at one interface);
* :mod:`lisptrace.lab.apps` -- TCP and UDP test traffic (``python -m lisptrace.lab.apps``);
* :mod:`lisptrace.lab.manifest` -- :class:`Manifest`, JSON beside each capture.
"""

from lisptrace.lab.capture import Capture, CaptureResult
from lisptrace.lab.manifest import Manifest, manifest_path
from lisptrace.lab.netns import (
    Availability,
    Change,
    Host,
    LabError,
    LoopbackLab,
    NamespacesUnavailable,
    Topology,
    cleanup,
    detect,
    lab,
)

__all__ = [
    "Availability",
    "Capture",
    "CaptureResult",
    "Change",
    "Host",
    "LabError",
    "LoopbackLab",
    "Manifest",
    "NamespacesUnavailable",
    "Topology",
    "cleanup",
    "detect",
    "lab",
    "manifest_path",
]
