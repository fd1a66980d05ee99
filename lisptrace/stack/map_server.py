"""The reference Map-Server (RFC 6833 / RFC 9301, as the LISP-MN draft uses it), sans-I/O.

What it does with each datagram on its control endpoints (see :mod:`lisptrace.stack.role`):

**Map-Register** - the site is the one whose configured EID-prefixes hold the first record's
EID-prefix; the key is the site key whose RFC 9301 Key ID is the high byte of the 16-bit Key ID
field (a 6830 sender's key id 1/2 is Key ID 0 with algorithm 1/2); the HMAC is checked over
the received bytes with :func:`dissectors.lisp.auth.verify` (SHA-1 12/20 and SHA-256 16/32
byte digests). Every record must lie inside one of the site's prefixes (equal to it unless
``accept-more-specifics``). Any failure rejects the whole message silently - nothing changes,
no Map-Notify - but it is counted in :attr:`MapServer.rejected` by reason and logged as a
``register-rejected`` Decision. Reasons: ``malformed``, ``no-records``, ``bad-eid``,
``no-site``, ``unknown-key-id``, ``no-auth``, ``unsupported-algorithm``, ``bad-auth-length``,
``bad-hmac``, ``eid-outside-site``, ``more-specific-not-allowed``, ``replayed-nonce``.

**Anti-replay (MS-REG-REPLAY, RFC 9301 sec. 5.6), 9301 profile only**: a Map-Register that
carries an xTR-ID (I bit) and authenticates is dropped - counted as ``replayed-nonce``, logged,
no Map-Notify - when its nonce is not greater than the last one accepted for the same
(xTR-ID, Site-ID); only accepted registers advance that nonce. The state lives in memory (a
restarted Map-Server accepts any nonce once). Registers without an xTR-ID are not checked, and
the 6830 profile checks nothing: 6830-era stacks send nonce 0 or clock-derived ones that
need not increase (OOR: see docs/interop.md).

An accepted register replaces the registration of each of its EID-prefixes (last writer wins;
the merge bit is not implemented) and keeps it for ``registration-timeout`` seconds (default
3 x 60 s), or the record TTL (minutes) when the T bit is set. With M set a Map-Notify goes back
to the register's source address and port (NAT-friendly, as deployed stacks do): same nonce,
key id, auth length, records and xTR-ID/Site-ID, signed with the site key.

**ECM'd Map-Request** - for the registration covering the requested EID-prefix: with the P bit
a proxy Map-Reply (A=0, L=0 and p=0 on every locator, the registered locator set, the
registered TTL, the request's nonce) to the first ITR-RLOC of the local endpoint's family at
the inner UDP source port; without it the request is forwarded, as an ECM (E bit in the 9301
profile) holding the original inner packet, to the registering ETR's address on port 4342.
No registration: a negative Map-Reply (see :func:`negative_answer`).

**The mobile node's /32 and the covering aggregate** (issue 4 point 1, MN draft: a Map-Server
for mobile nodes is configured with an aggregate that holds their EIDs and advertises that
aggregate, so that the mapping system never carries per-node /32s [R: MN -03 sec. 6/7, not
re-read here]). What we decided it means:

* "advertise" is what the Map-Server announces to the mapping system - here
  :meth:`MapServer.advertised_prefixes`, which the Map-Resolver uses as its LISP space. With
  ``advertise = "aggregate"`` (default) that is the site's configured prefixes, whatever is
  registered inside; with ``"registrations"`` it is the registered prefixes themselves.
* Positive answers never widen the mapping: a proxy Map-Reply (and the MN's own reply to a
  forwarded request) carries the registered EID-prefix, the /32. Answering with the aggregate
  would point every other mobile node of the aggregate at this node's RLOCs.
* The aggregate shows in *negative* answers: an unregistered EID inside an advertised aggregate
  gets ``Send-Map-Request`` with a short TTL (default 1 minute) for the widest block inside the
  aggregate that holds no registration; with ``"registrations"`` the same EID is outside LISP
  space and gets ``Natively-Forward`` for the widest non-LISP block (default 15 minutes).

Fault switches (config ``faults``), one catalog rule each: ``accept-bad-auth``
(MS-REG-BAD-HMAC: an HMAC mismatch is treated as valid; other auth failures still reject),
``authoritative-proxy-reply`` (MS-PROXY-NONAUTH: proxy replies set A=1), ``forward-despite-
proxy`` (MS-PROXY-NO-FORWARD: requests for P=1 registrations are forwarded to the ETR instead
of proxy-answered), ``long-ttl`` (MN-TTL-SHORT: proxy replies carry a 1-day TTL instead of the
registered one).

Keys are never put in Decisions; Decisions carry the Key ID / algorithm numbers only.
"""

from __future__ import annotations

import dataclasses
import heapq
import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dissectors.core import DecodeError
from dissectors.inet import IpPacket, UdpDatagram
from dissectors.lisp.afi import IPv4, IPv6
from dissectors.lisp.auth import verify
from dissectors.lisp.ecm import EncapsulatedControlMessage
from dissectors.lisp.info import Info
from dissectors.lisp.lcaf import NatTraversal
from dissectors.lisp.map_notify import MapNotify, MapNotifyAck
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import TTL_UNLIMITED, Action, EidRecord, Locator
from lisptrace.stack.config import MapServerConfig, SiteConfig, SiteKey
from lisptrace.stack.prefixes import EidPrefix, PrefixTable
from lisptrace.stack.role import (
    LISP_CONTROL_PORT,
    Datagram,
    Decision,
    Endpoint,
    IPAddress,
    Output,
    Send,
)

LONG_TTL = 1440  # minutes: what the long-ttl fault puts in proxy replies
DEFAULT_NEGATIVE_TTL = 15  # minutes, non-LISP space
DEFAULT_UNREGISTERED_TTL = 1  # minutes, LISP space with nothing registered


@dataclass(frozen=True, slots=True)
class Registration:
    """One accepted registration of an EID-prefix (the read API's row)."""

    prefix: EidPrefix
    site: str
    record: EidRecord  # as registered
    proxy_reply: bool  # the P bit
    registerer: Endpoint  # where the Map-Register came from (the ETR / mobile node)
    registered_at: float
    expires_at: float
    nonce: int = 0
    xtr_id: bytes | None = None
    site_id: bytes | None = None
    key_id: int = 0  # the raw 16-bit Key ID field it was signed with (not the key)

    @property
    def locators(self) -> tuple[Locator, ...]:
        return self.record.locators

    @property
    def rlocs(self) -> tuple[IPAddress, ...]:
        """The IPv4/IPv6 locator addresses (LCAF locators are left out)."""
        return tuple(
            loc.address.address
            for loc in self.record.locators
            if isinstance(loc.address, IPv4 | IPv6)
        )

    @property
    def ttl(self) -> int:
        """Record TTL in minutes."""
        return self.record.ttl

    def valid(self, now: float) -> bool:
        return now < self.expires_at


def lisp_ip(address: IPAddress) -> IPv4 | IPv6:
    return IPv4(address) if address.version == 4 else IPv6(address)  # type: ignore[arg-type]


def reply_target(request: MapRequest, inner: IpPacket, local: Endpoint) -> Endpoint:
    """Where a Map-Reply to an ECM'd request goes: the first ITR-RLOC of the local endpoint's
    address family (else the first IP one, else the inner source) at the inner UDP source
    port."""
    port = inner.payload.src_port if isinstance(inner.payload, UdpDatagram) else LISP_CONTROL_PORT
    ips = [a.address for a in request.itr_rlocs if isinstance(a, IPv4 | IPv6)]
    same = [a for a in ips if a.version == local.address.version]
    chosen = same[0] if same else ips[0] if ips else inner.src
    return Endpoint(chosen, port)


def negative_answer(
    eid: EidPrefix,
    lisp_space: PrefixTable[Any],
    registered: PrefixTable[Any],
    *,
    negative_ttl: int = DEFAULT_NEGATIVE_TTL,
    negative_action: int = Action.NATIVELY_FORWARD,
    unregistered_ttl: int = DEFAULT_UNREGISTERED_TTL,
    unregistered_action: int = Action.SEND_MAP_REQUEST,
) -> EidRecord:
    """The record of a negative Map-Reply for an EID nobody registered.

    Inside ``lisp_space`` (advertised prefixes): the widest block inside the covering LISP
    prefix that holds no ``registered`` prefix, ``unregistered_action``/``_ttl``. Outside:
    the widest block that holds no LISP prefix (the covering non-LISP prefix),
    ``negative_action``/``_ttl``. A=0 (the resolver is not the authority for the space).
    """
    addr = eid.address
    inside = lisp_space.lookup(eid)
    if inside is not None:
        block = registered.uncovered(addr, eid.iid, floor=inside[0].prefixlen)
        if block is None:  # only when a stale registration covers it; answer the host
            block = EidPrefix.host(addr, eid.iid)
        ttl, action = unregistered_ttl, unregistered_action
    else:
        block = lisp_space.uncovered(addr, eid.iid) or EidPrefix.host(addr, eid.iid)
        ttl, action = negative_ttl, negative_action
    wire_eid, mask = block.to_wire()
    return EidRecord(wire_eid, mask, (), ttl, action, False)


class MapServer:
    """The Map-Server role. See the module docstring."""

    def __init__(self, config: MapServerConfig) -> None:
        self.config = config
        self.name = config.name
        self.faults = config.faults
        self._sites: PrefixTable[SiteConfig] = PrefixTable()
        for site in config.sites:
            for p in site.eid_prefixes:
                self._sites.insert(p, site)
        self._regs: PrefixTable[Registration] = PrefixTable()
        self._advertise_registrations = {
            s.name for s in config.sites if s.advertise == "registrations"
        }
        self._expiry: list[tuple[float, EidPrefix]] = []  # heap, lazily cleaned
        self.counters: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        # MS-REG-REPLAY: (xTR-ID, Site-ID) -> the nonce of the last accepted Map-Register
        self.last_nonce: dict[tuple[bytes, bytes], int] = {}

    # -- Role ---------------------------------------------------------------------------------

    def bind(self) -> list[Endpoint]:
        return list(self.config.listen)

    def receive(self, now: float, datagram: Datagram) -> list[Output]:
        out: list[Output] = self._expire(now)
        try:
            msg = parse_control(datagram.payload)
        except DecodeError as exc:
            self.counters["malformed"] += 1
            out.append(Decision(now, "dropped", f"undecodable from {datagram.src}: {exc}"))
            return out
        if isinstance(msg, MapRegister):
            out += self._register(now, msg, datagram)
        elif isinstance(msg, EncapsulatedControlMessage):
            inner = msg.message
            if isinstance(inner, MapRequest):
                self.counters["requests"] += 1
                answered, answer = self.answer(now, msg, inner, datagram.dst)
                out += answer
                if not answered:
                    out += self._negative(now, msg, inner, datagram.dst)
            else:
                self.counters["ignored"] += 1
                out.append(
                    Decision(now, "ignored", f"ECM without a Map-Request from {datagram.src}")
                )
        elif isinstance(msg, MapNotifyAck):
            self.counters["notify-acks"] += 1
        elif isinstance(msg, Info) and not msg.reply:
            out += self._info_request(now, msg, datagram)
        else:
            self.counters["ignored"] += 1
            out.append(Decision(now, "ignored", f"{type(msg).__name__} from {datagram.src}"))
        return out

    def tick(self, now: float) -> list[Output]:
        return list(self._expire(now))

    def next_deadline(self) -> float | None:
        while self._expiry:
            when, prefix = self._expiry[0]
            reg = self._regs.get(prefix)
            if reg is not None and reg.expires_at == when:
                return when
            heapq.heappop(self._expiry)
        return None

    # -- read API (for the co-located PETR, the Map-Resolver, tests) --------------------------

    def registrations(self, now: float | None = None) -> list[Registration]:
        """The registration table, sorted by prefix; with ``now`` only the unexpired rows."""
        rows = [r for _, r in self._regs.items() if now is None or r.valid(now)]
        return sorted(rows, key=lambda r: r.prefix)

    def lookup(
        self, eid: EidPrefix | IPAddress | str, iid: int = 0, now: float | None = None
    ) -> Registration | None:
        """The most specific registration covering ``eid`` (unexpired at ``now`` if given)."""
        for _, reg in self._regs.covering(eid, iid):
            if now is None or reg.valid(now):
                return reg
        return None

    def is_registered_rloc(
        self, eid: IPAddress | str, rloc: IPAddress | str, now: float, iid: int = 0
    ) -> bool:
        """Whether ``rloc`` is a locator of the registration covering ``eid`` at ``now`` (the
        PETR's decapsulation check, rule PETR-NO-DECAP-UNREG)."""
        reg = self.lookup(eid, iid, now)
        return reg is not None and ipaddress.ip_address(rloc) in reg.rlocs

    def rlocs_for(self, eid: IPAddress, now: float) -> set[IPAddress] | None:
        """The PETR's view (:class:`lisptrace.stack.petr.RegistrationView`): the RLOCs of the
        registration covering ``eid`` at ``now``, ``None`` when no registration covers it."""
        reg = self.lookup(eid, 0, now)
        return None if reg is None else set(reg.rlocs)

    def registration_table(self) -> PrefixTable[Registration]:
        """The live table (read-only by convention; rows past ``expires_at`` linger until the
        next receive/tick purges them - use :meth:`lookup` with ``now`` to filter)."""
        return self._regs

    def site_of(self, eid: EidPrefix | IPAddress | str, iid: int = 0) -> SiteConfig | None:
        hit = self._sites.lookup(eid, iid)
        return hit[1] if hit is not None else None

    def advertised_prefixes(self, now: float) -> list[EidPrefix]:
        """What this Map-Server announces to the mapping system: each site's configured
        prefixes (``advertise = "aggregate"``) or its live registrations (``"registrations"``)."""
        out = [p for s in self.config.sites if s.advertise == "aggregate" for p in s.eid_prefixes]
        if self._advertise_registrations:
            names = self._advertise_registrations
            out += [r.prefix for _, r in self._regs.items() if r.site in names and r.valid(now)]
        return out

    # -- Map-Register -------------------------------------------------------------------------

    def _reject(
        self, now: float, reason: str, datagram: Datagram, detail: str, **fields: object
    ) -> list[Output]:
        self.rejected[reason] += 1
        self.counters["registers-rejected"] += 1
        return [
            Decision(
                now,
                "register-rejected",
                f"{reason} from {datagram.src}: {detail}",
                {"reason": reason, "source": str(datagram.src), **fields},
            )
        ]

    def _info_request(self, now: float, msg: Info, datagram: Datagram) -> list[Output]:
        """NAT traversal: an Info-Request for an EID of a site, signed with that site's key,
        gets an Info-Reply to its observed source (NAT-IR-TRUTH: Global ETR RLOC/port = that
        source, MS RLOC/port = where it arrived; the configured ``rtrs``), signed with the
        same key. Unauthenticated or unknown ones are dropped, counted and logged."""
        self.counters["info-requests"] += 1
        fields: dict[str, object] = {"nonce": f"0x{msg.nonce:016x}", "source": str(datagram.src)}
        try:
            eid = EidPrefix.from_wire(msg.eid, msg.eid_mask_len)
        except ValueError as exc:
            return self._info_drop(now, f"bad EID: {exc}", fields)
        hit = self._sites.lookup(eid)
        if hit is None:
            return self._info_drop(now, f"{eid} is in no site", fields)
        site = hit[1]
        key = self._key(site, msg.key_id_9301)
        if key is None or verify(datagram.payload, key.secret.reveal()) is not True:
            return self._info_drop(now, f"bad authentication for site {site.name!r}", fields)
        src, local = datagram.src, datagram.dst
        nat = NatTraversal(
            ms_udp_port=local.port,
            etr_udp_port=src.port,
            global_etr_rloc=lisp_ip(src.address),
            ms_rloc=lisp_ip(local.address),
            rtr_rlocs=tuple(lisp_ip(r) for r in self.config.rtrs),
        )
        reply = Info(
            reply=True,
            nonce=msg.nonce,
            key_id=msg.key_id,
            ttl=self.config.info_ttl,
            eid_mask_len=msg.eid_mask_len,
            eid=msg.eid,
            body=nat,
        ).sign(key.secret.reveal(), len(msg.auth_data) or None)
        self.counters["info-replies"] += 1
        return [
            Send(Datagram(reply.build(), local, src)),
            Decision(
                now,
                "info-reply-sent",
                f"{eid} seen as {src}",
                {
                    **fields,
                    "site": site.name,
                    "global_rloc": str(src.address),
                    "global_port": src.port,
                    "rtrs": [str(r) for r in self.config.rtrs],
                },
            ),
        ]

    def _info_drop(self, now: float, detail: str, fields: dict[str, object]) -> list[Output]:
        self.counters["info-requests-dropped"] += 1
        return [Decision(now, "info-request-dropped", detail, fields)]

    def _key(self, site: SiteConfig, key_id_9301: int) -> SiteKey | None:
        return next((k for k in site.keys if k.key_id == key_id_9301), None)

    def _register(self, now: float, msg: MapRegister, datagram: Datagram) -> list[Output]:
        self.counters["registers"] += 1
        fields: dict[str, object] = {"nonce": f"0x{msg.nonce:016x}", "key_id": msg.key_id}
        if not msg.records:
            return self._reject(now, "no-records", datagram, "no EID-records", **fields)
        try:
            prefixes = [EidPrefix.from_wire(r.eid, r.eid_mask_len) for r in msg.records]
        except ValueError as exc:
            return self._reject(now, "bad-eid", datagram, str(exc), **fields)
        fields["eids"] = [str(p) for p in prefixes]
        hit = self._sites.lookup(prefixes[0])
        if hit is None:
            return self._reject(now, "no-site", datagram, f"{prefixes[0]} is in no site", **fields)
        site = hit[1]
        fields["site"] = site.name
        key = self._key(site, msg.key_id_9301)
        if key is None:
            detail = f"site {site.name!r} has no key id {msg.key_id_9301}"
            return self._reject(now, "unknown-key-id", datagram, detail, **fields)
        alg = msg.algorithm_id
        if alg == 0 or not msg.auth_data:
            return self._reject(now, "no-auth", datagram, "not authenticated", **fields)
        if alg not in key.algorithms:
            detail = f"algorithm {alg} not accepted for key id {key.key_id}"
            return self._reject(now, "unsupported-algorithm", datagram, detail, **fields)
        ok = verify(datagram.payload, key.secret.reveal())
        if ok is None:
            detail = f"{msg.auth_len}-byte digest for algorithm {alg}"
            return self._reject(now, "bad-auth-length", datagram, detail, **fields)
        if ok is False:
            if "accept-bad-auth" not in self.faults:
                return self._reject(now, "bad-hmac", datagram, "HMAC mismatch", **fields)
            fields["fault"] = "accept-bad-auth"
        for p in prefixes:
            owner = next((q for q in site.eid_prefixes if q.contains(p)), None)
            if owner is None:
                detail = f"{p} is outside site {site.name!r}"
                return self._reject(now, "eid-outside-site", datagram, detail, **fields)
            if p != owner and not site.accept_more_specifics:
                detail = f"{p} is a more-specific of {owner}"
                return self._reject(now, "more-specific-not-allowed", datagram, detail, **fields)
        replay_key = self._replay_key(msg)
        if replay_key is not None and replay_key in self.last_nonce:
            last = self.last_nonce[replay_key]
            if msg.nonce <= last:
                detail = f"nonce 0x{msg.nonce:016x} not above the last accepted 0x{last:016x}"
                fields["last_nonce"] = f"0x{last:016x}"
                fields["xtr_id"] = replay_key[0].hex()
                return self._reject(now, "replayed-nonce", datagram, detail, **fields)
        if replay_key is not None:
            self.last_nonce[replay_key] = msg.nonce
        return self._accept(now, msg, datagram, site, key, prefixes, fields)

    def _replay_key(self, msg: MapRegister) -> tuple[bytes, bytes] | None:
        """Whom MS-REG-REPLAY tracks the nonce of: (xTR-ID, Site-ID) of a 9301-profile
        register that carries an xTR-ID; ``None``: not checked."""
        if self.config.profile != "9301" or msg.xtr_id is None:
            return None
        return msg.xtr_id, msg.site_id or b""

    def _accept(
        self,
        now: float,
        msg: MapRegister,
        datagram: Datagram,
        site: SiteConfig,
        key: SiteKey,
        prefixes: list[EidPrefix],
        fields: dict[str, object],
    ) -> list[Output]:
        out: list[Output] = []
        self.counters["registers-accepted"] += 1
        for prefix, record in zip(prefixes, msg.records, strict=True):
            if msg.ttl_as_timeout and record.ttl != TTL_UNLIMITED:
                lifetime = record.ttl * 60.0
            else:
                lifetime = self.config.registration_timeout
            reg = Registration(
                prefix=prefix,
                site=site.name,
                record=record,
                proxy_reply=msg.proxy_map_reply,
                registerer=datagram.src,
                registered_at=now,
                expires_at=now + lifetime,
                nonce=msg.nonce,
                xtr_id=msg.xtr_id,
                site_id=msg.site_id,
                key_id=msg.key_id,
            )
            self._regs.insert(prefix, reg)
            heapq.heappush(self._expiry, (reg.expires_at, prefix))
        rlocs = sorted({str(a) for p in prefixes for a in self._regs.get(p).rlocs})  # type: ignore[union-attr]
        out.append(
            Decision(
                now,
                "register-accepted",
                f"{', '.join(map(str, prefixes))} -> {', '.join(rlocs) or '-'} "
                f"(site {site.name!r}{', proxy' if msg.proxy_map_reply else ''})",
                {
                    **fields,
                    "rlocs": rlocs,
                    "proxy": msg.proxy_map_reply,
                    "ttl_as_timeout": msg.ttl_as_timeout,
                    "xtr_id": msg.xtr_id.hex() if msg.xtr_id else None,
                },
            )
        )
        if msg.want_map_notify:
            notify = MapNotify(
                nonce=msg.nonce,
                key_id=msg.key_id,
                auth_data=bytes(msg.auth_len),
                records=msg.records,
                xtr_id=msg.xtr_id,
                site_id=msg.site_id,
            ).sign(key.secret.reveal())
            self.counters["notifies"] += 1
            out.append(Send(Datagram(notify.build(), datagram.dst, datagram.src)))
            out.append(
                Decision(
                    now,
                    "notify-sent",
                    f"Map-Notify to {datagram.src}",
                    {"nonce": f"0x{msg.nonce:016x}", "eids": fields["eids"]},
                )
            )
        return out

    def _expire(self, now: float) -> list[Output]:
        out: list[Output] = []
        while self._expiry and self._expiry[0][0] <= now:
            when, prefix = heapq.heappop(self._expiry)
            reg = self._regs.get(prefix)
            if reg is None or reg.expires_at != when:
                continue  # refreshed or already gone
            self._regs.remove(prefix)
            self.counters["expired"] += 1
            out.append(
                Decision(
                    now,
                    "registration-expired",
                    f"{prefix} (site {reg.site!r}, last register at {reg.registered_at:.3f})",
                    {"eid": str(prefix), "site": reg.site},
                )
            )
        return out

    # -- Map-Request --------------------------------------------------------------------------

    def answer(
        self, now: float, ecm: EncapsulatedControlMessage, request: MapRequest, local: Endpoint
    ) -> tuple[bool, list[Output]]:
        """Answer an ECM'd Map-Request for a registered EID (proxy reply or forward).

        Returns (answered, outputs): answered is False when nothing registered covers the EID
        (the caller answers negatively; outputs may still hold expiry decisions). ``local`` is
        the endpoint the request arrived on (replies leave from it). The co-located
        Map-Resolver calls this directly."""
        out: list[Output] = self._expire(now)
        if not request.records:
            self.counters["ignored"] += 1
            return True, [*out, Decision(now, "ignored", "Map-Request without records")]
        rec = request.records[0]
        try:
            eid = EidPrefix.from_wire(rec.eid, rec.eid_mask_len)
        except ValueError as exc:
            self.counters["ignored"] += 1
            detail = f"Map-Request for an unusable EID: {exc}"
            return True, [*out, Decision(now, "ignored", detail)]
        reg = self.lookup(eid, now=now)
        if reg is None:
            return False, out
        nonce = f"0x{request.nonce:016x}"
        if reg.proxy_reply and "forward-despite-proxy" not in self.faults:
            return True, out + self._proxy_reply(now, ecm, request, reg, local)
        fields: dict[str, object] = {"eid": str(reg.prefix), "nonce": nonce}
        if reg.proxy_reply:
            fields["fault"] = "forward-despite-proxy"
        fwd = EncapsulatedControlMessage(
            inner=ecm.inner, security=ecm.security, to_etr=self.config.profile == "9301"
        )
        dst = Endpoint(reg.registerer.address, LISP_CONTROL_PORT)
        self.counters["forwarded"] += 1
        out.append(Send(Datagram(fwd.build(), local, dst)))
        out.append(Decision(now, "request-forwarded", f"{eid} to the ETR at {dst}", fields))
        return True, out

    def _proxy_reply(
        self,
        now: float,
        ecm: EncapsulatedControlMessage,
        request: MapRequest,
        reg: Registration,
        local: Endpoint,
    ) -> list[Output]:
        fields: dict[str, object] = {"eid": str(reg.prefix), "nonce": f"0x{request.nonce:016x}"}
        authoritative = "authoritative-proxy-reply" in self.faults
        ttl = LONG_TTL if "long-ttl" in self.faults else reg.record.ttl
        faults = [f for f in ("authoritative-proxy-reply", "long-ttl") if f in self.faults]
        if faults:
            fields["fault"] = ",".join(faults)
        record = dataclasses.replace(
            reg.record,
            ttl=ttl,
            action=Action.NO_ACTION,
            authoritative=authoritative,
            locators=tuple(
                dataclasses.replace(loc, local=False, probed=False) for loc in reg.record.locators
            ),
        )
        reply = MapReply(nonce=request.nonce, records=(record,))
        dst = reply_target(request, ecm.inner, local)
        fields["ttl"] = ttl
        self.counters["proxy-replies"] += 1
        return [
            Send(Datagram(reply.build(), local, dst)),
            Decision(now, "proxy-reply", f"{reg.prefix} to {dst}", fields),
        ]

    def _negative(
        self, now: float, ecm: EncapsulatedControlMessage, request: MapRequest, local: Endpoint
    ) -> list[Output]:
        rec = request.records[0]
        eid = EidPrefix.from_wire(rec.eid, rec.eid_mask_len)
        space: PrefixTable[None] = PrefixTable()
        for p in self.advertised_prefixes(now):
            space.insert(p, None)
        record = negative_answer(eid, space, self.registration_table())
        return negative_reply(now, self.counters, request, ecm.inner, local, record, eid)


def negative_reply(
    now: float,
    counters: Counter[str],
    request: MapRequest,
    inner: IpPacket,
    local: Endpoint,
    record: EidRecord,
    asked: EidPrefix,
) -> list[Output]:
    """Send a negative Map-Reply carrying ``record`` to the requester, and log it."""
    dst = reply_target(request, inner, local)
    reply = MapReply(nonce=request.nonce, records=(record,))
    counters["negative-replies"] += 1
    return [
        Send(Datagram(reply.build(), local, dst)),
        Decision(
            now,
            "negative-reply",
            f"{asked}: {record.eid_prefix} {Action(record.action).name} ttl {record.ttl} to {dst}",
            {
                "eid": str(asked),
                "prefix": record.eid_prefix,
                "action": int(record.action),
                "ttl": record.ttl,
                "nonce": f"0x{request.nonce:016x}",
            },
        ),
    ]


def all_rlocs(regs: Iterable[Registration]) -> set[IPAddress]:
    """Every RLOC of ``regs`` (handy for a PETR that admits any registered RLOC)."""
    return {a for r in regs for a in r.rlocs}
