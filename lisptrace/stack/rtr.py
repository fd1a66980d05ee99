"""A minimal Re-encapsulating Tunnel Router (RTR) for mobile nodes behind a NAT
(draft-ermagan-lisp-nat-traversal, LISP-MN white paper sec. 2.5), sans-I/O.

What it does (the counterpart of :class:`lisptrace.stack.mobile_node.MobileNode`'s NAT side):

* **ECM'd Map-Register** from a NATed node (outer source = the NAT's translation of the node's
  port 4341): remembers the node's EID-prefixes, its private address (the ECM's inner source)
  and the translated address/port, then relays the *inner* Map-Register unchanged (its HMAC is
  the node's, checked by the Map-Server) natively from the RTR's port 4342 to the Map-Server
  named by the inner destination. The Map-Server answers the RTR (it sends Map-Notifies back to
  the register's source), and forwards Map-Requests to the RTR (the registering ETR).
* **Map-Notify** for a relayed register (by nonce) and **ECM'd Map-Requests** for a bound EID:
  relayed to the node inside a LISP data packet (inner IP/UDP 4342), to its translated
  address/port - the only way in through the NAT.
* **Data from the node** (UDP 4341 from a translated address): the translation is refreshed,
  the inner packet is re-encapsulated by the shared ITR engine (:class:`ItrEngine`: map-cache,
  Map-Requests, PETR for negative mappings), or straight to another bound node.
* **Data for a bound EID** (it is registered with the RTR as its locator): encapsulated to the
  node's translated address/port.
* **Info-Request probes on 4341** (lispers.net style: a LISP data header with Instance-ID
  0xFFFFFF, then the control message): the node sends one from its data port after each
  register through the RTR, which opens the NAT's mapping for RTR:4341 -> node:4341 (a
  port-restricted NAT drops the RTR's data otherwise: the register went to RTR:4342). The
  binding's translated endpoint becomes the probe's source and the RTR answers with an
  Info-Reply behind the same header (Global ETR RLOC/port = what it saw; itself as the RTR;
  unauthenticated: the RTR holds no site key).
* **The node's own ECM'd Map-Requests** (from a bound node's translated address, for an EID
  not bound here): the node's ITR-RLOCs are private, so the RTR re-sends the request to its
  own Map-Resolver with its RLOC as the ITR-RLOC, keeps the nonce, and relays the Map-Reply
  to the node (inside a data packet, like a Map-Notify).

Not done: the MS-RTR authentication block of Map-Notifies (R bit), xTR-ID-based
demultiplexing of several nodes behind one translated address, binding expiry beyond
``binding_timeout``, verifying the probes (anyone may refresh a binding's translated
endpoint by sending a probe for its EID from the same translated address).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dissectors import DecodeError
from dissectors.inet import IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.data import DataHeader
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.info import Info
from dissectors.lisp.lcaf import NatTraversal
from dissectors.lisp.map_notify import MapNotify
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest
from dissectors.lisp.message import parse_control
from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import (
    LISP_CONTROL_PORT,
    LISP_DATA_PORT,
    Datagram,
    Decision,
    Endpoint,
    IPAddress,
    Output,
    Send,
)
from lisptrace.stack.xtr import ItrEngine, lisp_address, parse_ip

CONTROL_IID = 0xFFFFFF
"""The Instance-ID of a data header whose payload is a control message (lispers.net's RTR
probes: an Info-Request to the RTR's data port)."""


@dataclass(frozen=True)
class RtrConfig:
    """``rlocs``: the RTR's own addresses (it binds 4341 and 4342 on each); ``map_resolvers``
    and ``petr``: for re-encapsulating the nodes' traffic; ``binding_timeout``: seconds a NAT
    binding lives without a register or data from the node."""

    rlocs: tuple[IPAddress, ...]
    map_resolvers: tuple[IPAddress, ...] = ()
    petr: IPAddress | None = None
    binding_timeout: float = 180.0
    name: str = "rtr"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RtrConfig:
        d = {str(k).replace("-", "_"): v for k, v in data.items()}
        rlocs = d.pop("rlocs", None)
        if not rlocs:
            raise ValueError("an RTR needs at least one RLOC")
        kwargs: dict[str, Any] = {
            "rlocs": tuple(ipaddress.ip_address(str(r)) for r in rlocs),
            "map_resolvers": tuple(
                ipaddress.ip_address(str(r)) for r in d.pop("map_resolvers", ())
            ),
        }
        if d.get("petr"):
            kwargs["petr"] = ipaddress.ip_address(str(d.pop("petr")))
        d.pop("petr", None)
        if "binding_timeout" in d:
            kwargs["binding_timeout"] = float(d.pop("binding_timeout"))
        if "name" in d:
            kwargs["name"] = str(d.pop("name"))
        if d:
            raise ValueError(f"unknown RTR setting(s): {sorted(d)}")
        return cls(**kwargs)


@dataclass(slots=True)
class NatBinding:
    """A node behind a NAT: its EIDs, private address and the NAT's translation of its 4341."""

    eids: tuple[EidPrefix, ...]
    private: IPAddress
    translated: Endpoint
    map_server: IPAddress
    last_seen: float


class Rtr:
    """The RTR role (see the module docstring)."""

    def __init__(self, config: RtrConfig, *, seed: int | None = None) -> None:
        self.config = config
        self.name = config.name
        self.rng = random.Random(seed)
        self.bindings: list[NatBinding] = []
        self.relayed: dict[int, NatBinding] = {}  # Map-Register nonce -> binding
        self.requests: dict[int, NatBinding] = {}  # a node's Map-Request nonce -> binding
        self.itr = ItrEngine(
            rlocs=list(config.rlocs),
            map_resolvers=list(config.map_resolvers),
            rng=self.rng,
            petr=config.petr,
            use_petr=config.petr is not None,
        )

    # -- Role ------------------------------------------------------------------------------

    def bind(self) -> list[Endpoint]:
        return [
            Endpoint(r, port)
            for r in self.config.rlocs
            for port in (LISP_CONTROL_PORT, LISP_DATA_PORT)
        ]

    def next_deadline(self) -> float | None:
        return self.itr.next_deadline()

    def tick(self, now: float) -> list[Output]:
        limit = now - self.config.binding_timeout
        gone = [b for b in self.bindings if b.last_seen < limit]
        self.bindings = [b for b in self.bindings if b.last_seen >= limit]
        out: list[Output] = [
            Decision(now, "nat-binding-expired", ", ".join(map(str, b.eids))) for b in gone
        ]
        return out + self.itr.tick(now)

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        if datagram.dst.port == LISP_DATA_PORT and datagram.src.port != LISP_CONTROL_PORT:
            return self._data(now, datagram)
        try:
            msg = parse_control(datagram.payload)
        except DecodeError as exc:
            return [Decision(now, "malformed", f"from {datagram.src}: {exc}")]
        if isinstance(msg, EncapsulatedControlMessage):
            inner = msg.message
            if isinstance(inner, MapRegister):
                return self._register(now, datagram, msg, inner)
            if isinstance(inner, MapRequest):
                return self._relay_request(now, datagram, msg, inner)
            return [Decision(now, "ignored", f"ECM from {datagram.src}")]
        if isinstance(msg, MapNotify):
            return self._relay_notify(now, datagram, msg)
        if isinstance(msg, MapReply):
            node = self.requests.pop(msg.nonce, None)
            if node is not None:
                return [
                    self._to_node(node, datagram.src.address, datagram.payload),
                    Decision(now, "reply-relayed", f"nonce {msg.nonce:#x} to {node.translated}"),
                ]
            return self.itr.handle_reply(now, msg, datagram.src)
        if isinstance(msg, MapRequest) and msg.smr:
            return self.itr.handle_smr(now, msg, datagram.src)
        return [Decision(now, "ignored", f"{type(msg).__name__} from {datagram.src}")]

    # -- control ---------------------------------------------------------------------------

    def _register(
        self, now: float, datagram: Datagram, ecm: EncapsulatedControlMessage, reg: MapRegister
    ) -> list[Output]:
        udp = ecm.udp
        assert udp is not None  # ecm.message is set
        eids: list[EidPrefix] = []
        for rec in reg.records:
            try:
                eids.append(EidPrefix.from_wire(rec.eid, rec.eid_mask_len))
            except ValueError:
                return [Decision(now, "register-not-relayed", f"EID {rec.eid_prefix}")]
        ms = ecm.inner.dst
        src = next((r for r in self.config.rlocs if r.version == ms.version), None)
        if src is None:
            return [Decision(now, "register-not-relayed", f"no RLOC to reach {ms}")]
        binding = self._binding_for(eids)
        if binding is None:
            binding = NatBinding(tuple(eids), ecm.inner.src, datagram.src, ms, now)
            self.bindings.append(binding)
        binding.eids, binding.private, binding.map_server = tuple(eids), ecm.inner.src, ms
        binding.translated, binding.last_seen = datagram.src, now
        self.relayed[reg.nonce] = binding
        return [
            Send(
                Datagram(
                    udp.payload_bytes(),
                    Endpoint(src, LISP_CONTROL_PORT),
                    Endpoint(ms, LISP_CONTROL_PORT),
                )
            ),
            Decision(
                now,
                "register-relayed",
                f"{', '.join(map(str, eids))} behind {datagram.src} -> {ms}",
                {"translated": str(datagram.src), "private": str(ecm.inner.src)},
            ),
        ]

    def _relay_notify(self, now: float, datagram: Datagram, notify: MapNotify) -> list[Output]:
        binding = self.relayed.pop(notify.nonce, None)
        if binding is None:
            return [Decision(now, "notify-not-relayed", f"unknown nonce from {datagram.src}")]
        return [
            self._to_node(binding, datagram.src.address, datagram.payload),
            Decision(now, "notify-relayed", f"to {binding.translated}"),
        ]

    def _relay_request(
        self, now: float, datagram: Datagram, ecm: EncapsulatedControlMessage, req: MapRequest
    ) -> list[Output]:
        for rec in req.records:
            try:
                eid = EidPrefix.from_wire(rec.eid, rec.eid_mask_len)
            except ValueError:
                continue
            binding = self._binding_for([eid])
            if binding is not None:
                return [
                    self._to_node(binding, datagram.src.address, datagram.payload),
                    Decision(now, "request-relayed", f"{eid} to {binding.translated}"),
                ]
        node = next(
            (b for b in self.bindings if b.translated.address == datagram.src.address), None
        )
        if node is not None:
            return self._request_for_node(now, node, ecm, req)
        return [Decision(now, "request-not-relayed", "no bound EID")]

    def _request_for_node(
        self, now: float, node: NatBinding, ecm: EncapsulatedControlMessage, req: MapRequest
    ) -> list[Output]:
        """A NATed node's own Map-Request: re-sent to our Map-Resolver with our RLOC as the
        ITR-RLOC (the node's are private); the Map-Reply is relayed back by nonce."""
        resolver = next(
            (m for m in self.config.map_resolvers if m.version == ecm.inner.dst.version), None
        )
        src = (
            next((r for r in self.config.rlocs if r.version == resolver.version), None)
            if resolver is not None
            else None
        )
        if resolver is None or src is None:
            return [Decision(now, "request-not-relayed", "no Map-Resolver for a node's request")]
        request = dataclasses.replace(req, itr_rlocs=(lisp_address(src),))
        header: Ipv4Header | Ipv6Header = (
            Ipv4Header(src, ecm.inner.dst, protocol=17)  # type: ignore[arg-type]
            if src.version == 4
            else Ipv6Header(src, ecm.inner.dst, next_header=17)  # type: ignore[arg-type]
        )
        udp = UdpDatagram(LISP_CONTROL_PORT, LISP_CONTROL_PORT, request.build(), checksum=None)
        out_ecm = EncapsulatedControlMessage(inner=IpPacket(header, udp))
        self.requests[req.nonce] = node
        node.last_seen = now
        return [
            Send(
                Datagram(
                    out_ecm.build(),
                    Endpoint(src, LISP_CONTROL_PORT),
                    Endpoint(resolver, LISP_CONTROL_PORT),
                )
            ),
            Decision(
                now,
                "node-request-relayed",
                f"for {ecm.inner.dst} from {node.translated} via {resolver}",
                {"nonce": req.nonce, "node": ", ".join(map(str, node.eids))},
            ),
        ]

    def _to_node(self, binding: NatBinding, src: IPAddress, message: bytes) -> Send:
        """``message`` (a control message) to the node through its NAT: inside a data packet,
        inner IP from ``src`` to the node's private address, inner UDP 4342 -> 4342."""
        header: Ipv4Header | Ipv6Header = (
            Ipv4Header(src, binding.private)  # type: ignore[arg-type]
            if binding.private.version == 4
            else Ipv6Header(src, binding.private)  # type: ignore[arg-type]
        )
        inner = IpPacket(header, UdpDatagram(LISP_CONTROL_PORT, LISP_CONTROL_PORT, message))
        return self._encap_to(binding, inner.build())

    def _encap_to(self, binding: NatBinding, packet: bytes) -> Send:
        rloc = next(r for r in self.config.rlocs if r.version == binding.translated.address.version)
        header = DataHeader.make(nonce=self.rng.getrandbits(24))
        return Send(
            Datagram(header.build() + packet, Endpoint(rloc, LISP_DATA_PORT), binding.translated)
        )

    def _binding_for(self, eids: list[EidPrefix]) -> NatBinding | None:
        for b in self.bindings:
            if any(e == own or own.contains(e) for e in eids for own in b.eids):
                return b
        return None

    def _bound(self, address: IPAddress) -> NatBinding | None:
        return next((b for b in self.bindings if any(e.contains(address) for e in b.eids)), None)

    # -- data ------------------------------------------------------------------------------

    def _data(self, now: float, datagram: Datagram) -> list[Output]:
        payload = datagram.payload
        try:
            header = DataHeader.parse(payload[:8])
        except DecodeError:
            return [Decision(now, "undecodable", f"data from {datagram.src}")]
        if header.instance_id == CONTROL_IID:
            return self._probe(now, datagram, payload[8:])
        inner_bytes = payload[8:]
        inner = parse_ip(inner_bytes)
        if inner is None:
            return [Decision(now, "undecodable", f"inner packet from {datagram.src}")]
        source = self._bound(inner.src)
        if source is not None and source.translated.address == datagram.src.address:
            source.translated, source.last_seen = datagram.src, now  # the NAT may re-map
        target = self._bound(inner.dst)
        if target is not None:
            return [self._encap_to(target, inner_bytes)]
        if source is None:
            return [Decision(now, "decap-refused", f"{inner.src} is behind no binding here")]
        return self.itr.forward(now, inner_bytes)  # a Deliver = forwarded natively

    def _probe(self, now: float, datagram: Datagram, raw: bytes) -> list[Output]:
        """An Info-Request to the data port (behind a control-IID data header): refresh the
        binding of its EID to this translated endpoint and answer with an Info-Reply."""
        try:
            msg = parse_control(raw)
        except DecodeError as exc:
            return [Decision(now, "malformed", f"probe from {datagram.src}: {exc}")]
        if not isinstance(msg, Info) or msg.reply:
            return [Decision(now, "ignored", f"{type(msg).__name__} probe from {datagram.src}")]
        try:
            eid = EidPrefix.from_wire(msg.eid, msg.eid_mask_len)
        except ValueError:
            return [Decision(now, "ignored", f"probe without an EID from {datagram.src}")]
        binding = self._binding_for([eid])
        fields: dict[str, object] = {"eid": str(eid), "translated": str(datagram.src)}
        if binding is not None and binding.translated.address == datagram.src.address:
            binding.translated, binding.last_seen = datagram.src, now
            fields["bound"] = True
        rloc = next(
            (r for r in self.config.rlocs if r.version == datagram.src.address.version), None
        )
        if rloc is None:
            return [Decision(now, "probe-not-answered", f"no RLOC for {datagram.src}")]
        nat = NatTraversal(
            ms_udp_port=LISP_DATA_PORT,
            etr_udp_port=datagram.src.port,
            global_etr_rloc=lisp_address(datagram.src.address),
            ms_rloc=lisp_address(rloc),
            rtr_rlocs=(lisp_address(rloc),),
        )
        reply = Info(
            reply=True,
            nonce=msg.nonce,
            eid_mask_len=msg.eid_mask_len,
            eid=msg.eid,
            body=nat,
        )
        header = DataHeader.make(instance_id=CONTROL_IID)
        return [
            Send(
                Datagram(
                    header.build() + reply.build(),
                    Endpoint(rloc, LISP_DATA_PORT),
                    datagram.src,
                )
            ),
            Decision(now, "probe-answered", f"{eid} seen as {datagram.src}", fields),
        ]
