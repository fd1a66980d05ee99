"""TOML configuration of the reference roles (``lisptrace serve ROLE --config FILE.toml``).

One file may hold the sections of several roles; each role reads its own table::

    [map-server]
    listen = ["192.0.2.1:4342"]          # UDP endpoints (address:port, [v6]:port)
    registration-timeout = 180           # seconds without a refresh (RFC 6833: 3 x 60 s)
    profile = "9301"                     # "9301": ECM E bit, nonce anti-replay; "6830": neither
    faults = []                          # see FAULTS["map-server"]

    [[map-server.sites]]
    name = "mobile-nodes"
    eid-prefixes = ["10.1.0.0/16", "[1000]2001:db8:1::/48"]
    accept-more-specifics = true         # default false: only the exact prefixes register
    advertise = "aggregate"              # or "registrations" (see docs: the MN aggregate)

    [[map-server.sites.keys]]
    key-id = 0                           # RFC 9301 Key ID; 0 also serves RFC 6830 key id 1/2
    algorithms = [1, 2]                  # 1 HMAC-SHA-1-96, 2 HMAC-SHA-256-128
    secret = "s3cret"                    # or secret-hex = "736563726574"

    [map-resolver]
    listen = ["192.0.2.1:4342"]
    map-server = "co-located"            # or the Map-Server's address ("192.0.2.2[:4342]")
    eid-prefixes = []                    # LISP space besides the co-located MS's sites
    negative-ttl = 15                    # minutes, for non-LISP space
    negative-action = "natively-forward"
    unregistered-ttl = 1                 # minutes, for LISP space nobody registered
    unregistered-action = "send-map-request"
    faults = []

Errors are one line, ``ConfigError("FILE: [map-server.sites[0]] eid-prefixes[1]: ...")``,
and never quote a secret. Unknown keys are errors (a typo must not silently drop a setting).

**Adding a role's section** (xTR, PETR, PITR, mobile node): write a frozen dataclass for it
and a parser ``def _xtr(t: Table) -> XtrConfig`` that reads every key with ``t.text/integer/...``
and ends with ``t.done()``; decorate it with ``@section("xtr", faults=("no-smr", ...))``.
:func:`load` then fills ``StackConfig.roles["xtr"]``. Keys are :class:`Secret` values: their
``repr``/``str`` is ``Secret(***)``, so a config printed in a log or put in a Decision leaks
nothing; only ``.reveal()`` gives the bytes.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import LISP_CONTROL_PORT, Endpoint, IPAddress

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration problem, as one line naming the file, table and key."""


# Each fault switch breaks exactly one rule of the catalog (spec sec. 2).
FAULTS: dict[str, dict[str, str]] = {
    "map-server": {
        "accept-bad-auth": "MS-REG-BAD-HMAC",
        "authoritative-proxy-reply": "MS-PROXY-NONAUTH",
        "forward-despite-proxy": "MS-PROXY-NO-FORWARD",
        "long-ttl": "MN-TTL-SHORT",
    },
    "map-resolver": {},
}

ACTIONS = {
    "no-action": 0,
    "natively-forward": 1,
    "send-map-request": 2,
    "drop": 3,
    "drop-policy-denied": 4,
    "drop-auth-failure": 5,
}


@dataclass(frozen=True, slots=True)
class Secret:
    """A pre-shared key. Never printed: ``repr`` and ``str`` are ``Secret(***)``."""

    _value: bytes = field(repr=False)

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def parse_endpoint(text: str, default_port: int = LISP_CONTROL_PORT) -> Endpoint:
    """``192.0.2.1``, ``192.0.2.1:4342``, ``2001:db8::1``, ``[2001:db8::1]:4342``."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r} is not [address]:port")
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host, port = text, default_port
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return Endpoint(ipaddress.ip_address(host), port)


class Table:
    """Typed, checked access to one TOML table; every error names ``where`` and the key."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where} {key}: {message}")

    def _get(self, key: str, default: Any, kinds: tuple[type, ...], what: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise self.fail(key, f"expected {what}, got {type(value).__name__}")
        return value

    def text(self, key: str, default: Any = None) -> Any:
        return self._get(key, default, (str,), "a string")

    def flag(self, key: str, default: Any = None) -> Any:
        return self._get(key, default, (bool,), "true or false")

    def integer(self, key: str, default: Any = None, lo: int = 0, hi: int | None = None) -> Any:
        value = self._get(key, default, (int,), "an integer")
        if isinstance(value, int) and (value < lo or (hi is not None and value > hi)):
            raise self.fail(key, f"{value} is outside {lo}..{hi if hi is not None else ''}")
        return value

    def number(self, key: str, default: Any = None, lo: float = 0.0) -> Any:
        value = self._get(key, default, (int, float), "a number")
        if isinstance(value, int | float) and value < lo:
            raise self.fail(key, f"{value} is below {lo}")
        return float(value) if value is not None else None

    def array(self, key: str, of: type, default: Any = None) -> Any:
        value = self._get(key, default, (list,), "a list")
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, of) or (of is not bool and isinstance(item, bool)):
                    raise self.fail(f"{key}[{i}]", f"expected {of.__name__}")
        return value

    def choice(self, key: str, choices: dict[str, C] | tuple[str, ...], default: Any) -> Any:
        value = self.text(key, default)
        if value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return choices[value] if isinstance(choices, dict) else value

    def prefixes(self, key: str, default: Any = ()) -> tuple[EidPrefix, ...]:
        out = []
        for i, text in enumerate(self.array(key, str, list(default))):
            try:
                out.append(EidPrefix.parse(text))
            except ValueError as exc:
                raise self.fail(f"{key}[{i}]", f"{text!r}: {exc}") from None
        return tuple(out)

    def endpoints(self, key: str, default: Any = ()) -> tuple[Endpoint, ...]:
        out = []
        for i, text in enumerate(self.array(key, str, list(default))):
            try:
                out.append(parse_endpoint(text))
            except ValueError as exc:
                raise self.fail(f"{key}[{i}]", f"{text!r}: {exc}") from None
        return tuple(out)

    def secret(self) -> Secret:
        """``secret`` (text, UTF-8) or ``secret-hex``: exactly one. Never echoed in errors."""
        text = self._get("secret", None, (str,), "a string")
        hexed = self._get("secret-hex", None, (str,), "a string")
        if (text is None) == (hexed is None):
            raise self.fail("secret", "give exactly one of secret / secret-hex")
        if text is not None:
            return Secret(text.encode())
        try:
            return Secret(bytes.fromhex(hexed))
        except ValueError:
            raise self.fail("secret-hex", "not hexadecimal") from None

    def faults(self, role: str) -> frozenset[str]:
        names = self.array("faults", str, [])
        for i, name in enumerate(names):
            if name not in FAULTS[role]:
                known = ", ".join(FAULTS[role]) or "none"
                raise self.fail(f"faults[{i}]", f"unknown fault {name!r} (known: {known})")
        return frozenset(names)

    def tables(self, key: str) -> list[Table]:
        value = self._get(key, [], (list,), "an array of tables")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", "expected a table")
            out.append(Table(item, f"{self.where[:-1]}.{key}[{i}]]"))
        return out

    def done(self) -> None:
        """Raise on any key nobody read (a typo)."""
        for key in self.data:
            if key not in self.used:
                raise self.fail(key, "unknown key")


_REQUIRED = object()


# -- Map-Server -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteKey:
    """A pre-shared key of a site: RFC 9301 Key ID (high byte of the 16-bit field; 0 is what
    RFC 6830 senders use with key id 1/2) and the algorithms accepted with it."""

    secret: Secret
    key_id: int = 0
    algorithms: frozenset[int] = frozenset({1, 2})


@dataclass(frozen=True, slots=True)
class SiteConfig:
    name: str
    eid_prefixes: tuple[EidPrefix, ...]
    keys: tuple[SiteKey, ...]
    accept_more_specifics: bool = False
    advertise: str = "aggregate"  # "aggregate" | "registrations"


@dataclass(frozen=True, slots=True)
class MapServerConfig:
    sites: tuple[SiteConfig, ...] = ()
    listen: tuple[Endpoint, ...] = ()
    registration_timeout: float = 180.0
    profile: str = "9301"  # "9301" | "6830"
    faults: frozenset[str] = frozenset()
    name: str = "map-server"
    rtrs: tuple[IPAddress, ...] = ()  # offered in Info-Replies (NAT traversal)
    info_ttl: int = 1  # minutes, the Info-Reply TTL


@dataclass(frozen=True, slots=True)
class MapResolverConfig:
    listen: tuple[Endpoint, ...] = ()
    map_server: Endpoint | None = None  # None: co-located (direct call)
    eid_prefixes: tuple[EidPrefix, ...] = ()
    negative_ttl: int = 15  # minutes
    negative_action: int = 1  # Natively-Forward
    unregistered_ttl: int = 1  # minutes
    unregistered_action: int = 2  # Send-Map-Request
    profile: str = "9301"  # "9301": ECM M bit when forwarding to the Map-Server
    faults: frozenset[str] = frozenset()
    name: str = "map-resolver"


def _site(t: Table) -> SiteConfig:
    name = t.text("name", _REQUIRED)
    prefixes = t.prefixes("eid-prefixes")
    if not prefixes:
        raise t.fail("eid-prefixes", "a site needs at least one EID-prefix")
    keys = []
    for kt in t.tables("keys"):
        secret = kt.secret()
        key_id = kt.integer("key-id", 0, 0, 255)
        algs = kt.array("algorithms", int, [1, 2])
        for i, alg in enumerate(algs):
            if alg not in (1, 2):
                raise kt.fail(f"algorithms[{i}]", f"{alg}: only 1 (SHA-1) and 2 (SHA-256)")
        kt.done()
        keys.append(SiteKey(secret, key_id, frozenset(algs)))
    if not keys:
        raise t.fail("keys", "a site needs at least one key ([[...keys]] with secret)")
    ids = [k.key_id for k in keys]
    if len(set(ids)) != len(ids):
        raise t.fail("keys", "two keys with the same key-id")
    site = SiteConfig(
        name=name,
        eid_prefixes=prefixes,
        keys=tuple(keys),
        accept_more_specifics=t.flag("accept-more-specifics", False),
        advertise=t.choice("advertise", ("aggregate", "registrations"), "aggregate"),
    )
    t.done()
    return site


# -- the section registry -------------------------------------------------------------------

Parser = Callable[[Table], Any]
SECTIONS: dict[str, Parser] = {}


def section(name: str, faults: tuple[str, ...] | dict[str, str] = ()) -> Callable[[Parser], Parser]:
    """Register the parser of the ``[name]`` table (and the fault names that role knows)."""

    def deco(fn: Parser) -> Parser:
        SECTIONS[name] = fn
        if name not in FAULTS:
            FAULTS[name] = dict(faults) if isinstance(faults, dict) else dict.fromkeys(faults, "")
        return fn

    return deco


@section("map-server")
def _map_server(t: Table) -> MapServerConfig:
    sites = tuple(_site(st) for st in t.tables("sites"))
    names = [s.name for s in sites]
    if len(set(names)) != len(names):
        raise t.fail("sites", "two sites with the same name")
    seen: dict[EidPrefix, str] = {}
    for s in sites:
        for p in s.eid_prefixes:
            if p in seen:
                raise t.fail("sites", f"{p} is configured in sites {seen[p]!r} and {s.name!r}")
            seen[p] = s.name
    cfg = MapServerConfig(
        sites=sites,
        listen=t.endpoints("listen"),
        registration_timeout=t.number("registration-timeout", 180.0, lo=1.0),
        profile=t.choice("profile", ("9301", "6830"), "9301"),
        faults=t.faults("map-server"),
        name=t.text("name", "map-server"),
        rtrs=_addresses(t, "rtrs"),
        info_ttl=t.integer("info-ttl", 1, 0, 0xFFFFFFFF),
    )
    t.done()
    return cfg


def _addresses(t: Table, key: str) -> tuple[IPAddress, ...]:
    out = []
    for i, text in enumerate(t.array(key, str, [])):
        try:
            out.append(ipaddress.ip_address(text))
        except ValueError as exc:
            raise t.fail(f"{key}[{i}]", f"{text!r}: {exc}") from None
    return tuple(out)


@section("map-resolver")
def _map_resolver(t: Table) -> MapResolverConfig:
    ms_text = t.text("map-server", "co-located")
    ms: Endpoint | None = None
    if ms_text != "co-located":
        try:
            ms = parse_endpoint(ms_text)
        except ValueError as exc:
            raise t.fail("map-server", f"{ms_text!r}: {exc}") from None
    cfg = MapResolverConfig(
        listen=t.endpoints("listen"),
        map_server=ms,
        eid_prefixes=t.prefixes("eid-prefixes"),
        negative_ttl=t.integer("negative-ttl", 15, 0, 0xFFFFFFFF),
        negative_action=t.choice("negative-action", ACTIONS, "natively-forward"),
        unregistered_ttl=t.integer("unregistered-ttl", 1, 0, 0xFFFFFFFF),
        unregistered_action=t.choice("unregistered-action", ACTIONS, "send-map-request"),
        profile=t.choice("profile", ("9301", "6830"), "9301"),
        faults=t.faults("map-resolver"),
        name=t.text("name", "map-resolver"),
    )
    t.done()
    return cfg


# -- xTR, PETR, PITR, mobile node, RTR ------------------------------------------------------
#
# These roles define their configuration dataclass next to the role (``XtrConfig.from_dict``
# and so on, TOML keys with ``-`` or ``_``); their sections only wrap that in this registry:
# the same one-line errors, never quoting a secret.


def _from_dict(t: Table, build: Callable[[dict[str, Any]], C]) -> C:
    try:
        return build(dict(t.data))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{t.where} {message}") from None


def _role_faults(module: str, name: str) -> dict[str, str]:
    """The fault table of a role module (empty if the module cannot be imported yet)."""
    import importlib

    try:
        return dict(getattr(importlib.import_module(module), name))
    except Exception:  # pragma: no cover - a role module under construction
        return {}


@section("xtr", faults=_role_faults("lisptrace.stack.xtr", "XTR_FAULTS"))
def _xtr(t: Table) -> Any:
    from lisptrace.stack.xtr import XtrConfig

    return _from_dict(t, XtrConfig.from_dict)


@section("petr", faults=_role_faults("lisptrace.stack.petr", "PETR_FAULTS"))
def _petr(t: Table) -> Any:
    from lisptrace.stack.petr import PetrConfig

    return _from_dict(t, PetrConfig.from_dict)


@section("pitr", faults=_role_faults("lisptrace.stack.petr", "PITR_FAULTS"))
def _pitr(t: Table) -> Any:
    from lisptrace.stack.petr import PitrConfig

    return _from_dict(t, PitrConfig.from_dict)


@dataclass(frozen=True, slots=True)
class MobileNodeSection:
    """The ``[mobile-node]`` table: the node's configuration plus what only the process needs
    (its name in logs, the nonce seed)."""

    config: Any  # lisptrace.stack.mobile_node.MobileNodeConfig
    name: str = "mobile-node"
    seed: int | None = None


@section("mobile-node", faults=_role_faults("lisptrace.stack.mobile_node", "FAULTS"))
def _mobile_node(t: Table) -> MobileNodeSection:
    from lisptrace.stack.mobile_node import MobileNodeConfig

    name = t.text("name", "mobile-node")
    seed = t.integer("seed", None, 0)
    rest = {k: v for k, v in t.data.items() if k not in ("name", "seed")}
    config = _from_dict(Table(rest, t.where), MobileNodeConfig.from_dict)
    return MobileNodeSection(config, name, seed)


@section("rtr")
def _rtr(t: Table) -> Any:
    from lisptrace.stack.rtr import RtrConfig

    return _from_dict(t, RtrConfig.from_dict)


@dataclass(frozen=True, slots=True)
class StackConfig:
    """Every role section found in a file, by section name."""

    roles: dict[str, Any]

    def role(self, name: str) -> Any:
        if name not in self.roles:
            raise ConfigError(f"no [{name}] section")
        return self.roles[name]


def loads(text: str, source: str = "<config>") -> StackConfig:
    """Parse TOML text; ConfigError (one line) on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    roles: dict[str, Any] = {}
    for key, value in data.items():
        parser = SECTIONS.get(key)
        if parser is None:
            known = ", ".join(sorted(SECTIONS))
            raise ConfigError(f"{source}: unknown section [{key}] (known: {known})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{key}] must be a table")
        try:
            roles[key] = parser(Table(value, f"[{key}]"))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return StackConfig(roles)


def load(path: str | Path) -> StackConfig:
    """Read and parse a TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: {exc.strerror or exc}") from None
    return loads(text, str(p))
