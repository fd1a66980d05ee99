"""The reference Map-Resolver (RFC 6833 / RFC 9301), sans-I/O.

It accepts ECM'd Map-Requests from ITRs (anything else is counted and ignored) and resolves
the first record's EID:

* **co-located Map-Server** (``map-server = "co-located"``, the ``map_server`` argument): a
  direct call to :meth:`MapServer.answer`, which proxy-replies or forwards to the ETR when the
  EID is registered; otherwise the resolver answers negatively itself, its LISP space being the
  Map-Server's advertised prefixes plus its own ``eid-prefixes``;
* **remote Map-Server** (an address): EIDs inside its ``eid-prefixes`` (or every EID when that
  list is empty) are forwarded to the Map-Server as an ECM with the original inner packet (M
  bit in the 9301 profile), which answers the ITR itself; EIDs outside get the negative reply.

Negative Map-Replies (see :func:`lisptrace.stack.map_server.negative_answer`): outside LISP
space the widest block around the EID holding no LISP prefix (the covering non-LISP prefix),
``negative-action`` (Natively-Forward) and ``negative-ttl`` (15 minutes); inside LISP space but
unregistered, the widest block inside that LISP prefix holding no registration,
``unregistered-action`` (Send-Map-Request) and ``unregistered-ttl`` (1 minute). A=0. The reply
goes from the endpoint the request arrived on to the ITR-RLOC at the inner UDP source port.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from dissectors.core import DecodeError
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.map_request import MapRequest
from dissectors.lisp.message import parse_control
from lisptrace.stack.config import MapResolverConfig
from lisptrace.stack.map_server import MapServer, negative_answer, negative_reply
from lisptrace.stack.prefixes import EidPrefix, PrefixTable
from lisptrace.stack.role import Datagram, Decision, Endpoint, Output, Send


class MapResolver:
    """The Map-Resolver role; ``map_server`` is the co-located Map-Server (if any)."""

    def __init__(self, config: MapResolverConfig, map_server: MapServer | None = None) -> None:
        if map_server is None and config.map_server is None:
            raise ValueError("a co-located Map-Resolver needs its MapServer")
        self.config = config
        self.name = config.name
        self.map_server = map_server if config.map_server is None else None
        self.counters: Counter[str] = Counter()
        self._own: PrefixTable[None] = PrefixTable()
        for p in config.eid_prefixes:
            self._own.insert(p, None)

    def bind(self) -> list[Endpoint]:
        return list(self.config.listen)

    def tick(self, now: float) -> list[Output]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def lisp_space(self, now: float) -> PrefixTable[None]:
        """The EID-prefixes this resolver treats as LISP space at ``now``."""
        table: PrefixTable[None] = PrefixTable()
        for p, _ in self._own.items():
            table.insert(p, None)
        if self.map_server is not None:
            for p in self.map_server.advertised_prefixes(now):
                table.insert(p, None)
        return table

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        try:
            msg = parse_control(datagram.payload)
        except DecodeError as exc:
            self.counters["malformed"] += 1
            return [Decision(now, "dropped", f"undecodable from {datagram.src}: {exc}")]
        request = msg.message if isinstance(msg, EncapsulatedControlMessage) else None
        if not isinstance(msg, EncapsulatedControlMessage) or not isinstance(request, MapRequest):
            self.counters["ignored"] += 1
            what = type(msg).__name__
            return [Decision(now, "ignored", f"{what} from {datagram.src} (not an ECM'd request)")]
        if not request.records:
            self.counters["ignored"] += 1
            return [Decision(now, "ignored", f"Map-Request without records from {datagram.src}")]
        rec = request.records[0]
        try:
            eid = EidPrefix.from_wire(rec.eid, rec.eid_mask_len)
        except ValueError as exc:
            self.counters["ignored"] += 1
            return [Decision(now, "ignored", f"Map-Request for an unusable EID: {exc}")]
        self.counters["requests"] += 1
        local = datagram.dst
        out: list[Output] = []
        registered: PrefixTable[Any]
        if self.map_server is not None:
            answered, out = self.map_server.answer(now, msg, request, local)
            ms_name = self.map_server.name  # the Map-Server decided these (serve.Colocated)
            out = [
                dataclasses.replace(o, role=ms_name) if isinstance(o, Decision) else o for o in out
            ]
            if answered:
                self.counters["resolved"] += 1
                return out
            registered = self.map_server.registration_table()
        else:
            assert self.config.map_server is not None
            if not len(self._own) or self._own.lookup(eid) is not None:
                return self._forward(now, msg, eid, local, self.config.map_server)
            registered = PrefixTable()
        record = negative_answer(
            eid,
            self.lisp_space(now),
            registered,
            negative_ttl=self.config.negative_ttl,
            negative_action=self.config.negative_action,
            unregistered_ttl=self.config.unregistered_ttl,
            unregistered_action=self.config.unregistered_action,
        )
        return out + negative_reply(now, self.counters, request, msg.inner, local, record, eid)

    def _forward(
        self,
        now: float,
        ecm: EncapsulatedControlMessage,
        eid: EidPrefix,
        local: Endpoint,
        ms: Endpoint,
    ) -> list[Output]:
        fwd = EncapsulatedControlMessage(
            inner=ecm.inner, security=ecm.security, to_ms=self.config.profile == "9301"
        )
        self.counters["forwarded"] += 1
        return [
            Send(Datagram(fwd.build(), local, ms)),
            Decision(
                now, "request-forwarded", f"{eid} to the Map-Server at {ms}", {"eid": str(eid)}
            ),
        ]
