"""TOML configuration: the documented example, defaults, one-line errors, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lisptrace.stack import config as cfgmod
from lisptrace.stack.config import (
    FAULTS,
    ConfigError,
    MapResolverConfig,
    MapServerConfig,
    Secret,
    load,
    loads,
    parse_endpoint,
)
from lisptrace.stack.prefixes import EidPrefix
from lisptrace.stack.role import Endpoint


def example() -> str:
    """The example of the module docstring, verbatim."""
    doc = cfgmod.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\nErrors are", 1)[0]
    return "\n".join(line[4:] for line in block.splitlines())


def test_the_documented_example_loads() -> None:
    cfg = loads(example())
    ms = cfg.role("map-server")
    assert isinstance(ms, MapServerConfig)
    assert ms.listen == (Endpoint.of("192.0.2.1", 4342),)
    assert ms.registration_timeout == 180.0 and ms.profile == "9301" and ms.faults == frozenset()
    [site] = ms.sites
    assert site.name == "mobile-nodes" and site.accept_more_specifics
    assert site.eid_prefixes == (
        EidPrefix.parse("10.1.0.0/16"),
        EidPrefix.parse("[1000]2001:db8:1::/48"),
    )
    [key] = site.keys
    assert key.key_id == 0 and key.algorithms == {1, 2} and key.secret.reveal() == b"s3cret"
    mr = cfg.role("map-resolver")
    assert isinstance(mr, MapResolverConfig)
    assert mr.map_server is None and mr.negative_ttl == 15 and mr.negative_action == 1
    assert mr.unregistered_ttl == 1 and mr.unregistered_action == 2


def test_defaults_and_remote_map_server() -> None:
    cfg = loads('[map-resolver]\nmap-server = "[2001:db8::2]:4342"\n')
    mr = cfg.role("map-resolver")
    assert mr.map_server == Endpoint.of("2001:db8::2", 4342)
    with pytest.raises(ConfigError, match=r"no \[map-server\] section"):
        cfg.role("map-server")
    site = (
        loads(
            '[[map-server.sites]]\nname = "s"\neid-prefixes = ["10.0.0.0/8"]\n'
            '[[map-server.sites.keys]]\nsecret-hex = "00ff"\n'
        )
        .role("map-server")
        .sites[0]
    )
    assert not site.accept_more_specifics and site.advertise == "aggregate"
    assert site.keys[0].secret.reveal() == b"\x00\xff"


def test_secrets_never_show() -> None:
    cfg = loads(example())
    text = repr(cfg) + str(cfg.role("map-server").sites[0].keys[0].secret)
    assert "s3cret" not in text and "Secret(***)" in text
    assert repr(Secret(b"x")) == "Secret(***)"


def test_endpoints() -> None:
    assert parse_endpoint("192.0.2.1") == Endpoint.of("192.0.2.1", 4342)
    assert parse_endpoint("192.0.2.1:99") == Endpoint.of("192.0.2.1", 99)
    assert parse_endpoint("2001:db8::1") == Endpoint.of("2001:db8::1", 4342)
    assert parse_endpoint("[2001:db8::1]") == Endpoint.of("2001:db8::1", 4342)
    assert parse_endpoint("[2001:db8::1]:7") == Endpoint.of("2001:db8::1", 7)
    for bad in ("192.0.2.1:0", "[2001:db8::1]x", "host", "192.0.2.1:99999"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


SITE = '[[map-server.sites]]\nname = "s"\neid-prefixes = ["10.0.0.0/8"]\n'
KEYS = '[[map-server.sites.keys]]\nsecret = "TOPSECRET"\n'

ERRORS = [
    ("[map-server]\nlisten = 5\n", r"\[map-server\] listen: expected a list"),
    ('[map-server]\nlisten = ["nowhere"]\n', r"listen\[0\]: 'nowhere'"),
    ("[map-server]\ntimeout = 5\n", r"\[map-server\] timeout: unknown key"),
    ('[map-server]\nfaults = ["no-smr"]\n', r"faults\[0\]: unknown fault 'no-smr'"),
    ('[map-server]\nprofile = "7000"\n', r"profile: '7000' is not one of 9301, 6830"),
    ("[map-server]\nregistration-timeout = 0\n", r"registration-timeout: 0 is below 1"),
    ("[map-server]\nregistration-timeout = true\n", r"expected a number, got bool"),
    (SITE.replace("10.0.0.0/8", "10.0.0.1/8") + KEYS, r"eid-prefixes\[0\]: '10.0.0.1/8'"),
    (SITE, r"\[map-server.sites\[0\]\] keys: a site needs at least one key"),
    (SITE + "[[map-server.sites.keys]]\nkey-id = 1\n", r"secret: give exactly one"),
    (
        SITE + '[[map-server.sites.keys]]\nsecret = "TOPSECRET"\nsecret-hex = "00"\n',
        r"secret: give exactly one",
    ),
    (SITE + '[[map-server.sites.keys]]\nsecret-hex = "TOPSECRETzz"\n', r"secret-hex: not hex"),
    (SITE + KEYS + KEYS, r"two keys with the same key-id"),
    (SITE + KEYS.replace('"\n', '"\nalgorithms = [3]\n'), r"algorithms\[0\]: 3: only 1"),
    (SITE + KEYS.replace('"\n', '"\nkey-id = 256\n'), r"key-id: 256 is outside 0..255"),
    (SITE + KEYS + SITE + KEYS, r"two sites with the same name"),
    (
        SITE + KEYS + SITE.replace('"s"', '"t"') + KEYS,
        r"10.0.0.0/8 is configured in sites 's' and 't'",
    ),
    ("[[map-server.sites]]\neid-prefixes = []\n", r"name: missing"),
    ('[[map-server.sites]]\nname = "s"\n' + KEYS, r"at least one EID-prefix"),
    ('[map-resolver]\nmap-server = "x:y:z:"\n', r"\[map-resolver\] map-server: 'x:y:z:'"),
    ('[map-resolver]\nnegative-action = "explode"\n', r"negative-action: 'explode'"),
    ("[map-resolver]\nnegative-ttl = -1\n", r"negative-ttl: -1 is outside"),
    ('[map-resolver]\nfaults = ["long-ttl"]\n', r"unknown fault 'long-ttl' \(known: none\)"),
    ("[map-resolver]\neid-prefixes = [1]\n", r"eid-prefixes\[0\]: expected str"),
    ("[teleporter]\n", r"unknown section \[teleporter\]"),
    ("map-server = 1\n", r"\[map-server\] must be a table"),
    ("[map-server\n", r"<config>: "),
    ("[map-server]\nsites = [1]\n", r"sites\[0\]: expected a table"),
    ("[map-server]\nname = 5\n", r"name: expected a string, got int"),
    (
        '[[map-server.sites]]\nname = "s"\neid-prefixes = ["10.0.0.0/8"]\nx = true\n' + KEYS,
        r"\[map-server.sites\[0\]\] x: unknown key",
    ),
]


@pytest.mark.parametrize(("text", "pattern"), ERRORS)
def test_errors_are_one_line_and_never_quote_secrets(text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        loads(text)
    message = str(info.value)
    assert "\n" not in message and "TOPSECRET" not in message
    assert message.startswith("<config>: ")


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ms.toml"
    path.write_text(example())
    assert isinstance(load(path).role("map-server"), MapServerConfig)
    with pytest.raises(ConfigError, match=r"ms\.toml: "):
        path.write_text("[map-server]\nbogus = 1\n")
        load(path)
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load(tmp_path / "missing.toml")


def test_fault_names_map_to_catalog_rules() -> None:
    assert FAULTS["map-server"] == {
        "accept-bad-auth": "MS-REG-BAD-HMAC",
        "authoritative-proxy-reply": "MS-PROXY-NONAUTH",
        "forward-despite-proxy": "MS-PROXY-NO-FORWARD",
        "long-ttl": "MN-TTL-SHORT",
    }
    rules = set()
    spec = Path("/work/shared/spec/wire-formats-and-rules.md")
    if spec.exists():
        rules = {
            line.split("|")[1].strip() for line in spec.read_text().splitlines() if line[:2] == "| "
        }
        assert set(FAULTS["map-server"].values()) <= rules


def test_a_new_section_can_be_registered() -> None:
    @cfgmod.section("test-role", faults=("test-fault",))
    def _parse(t: cfgmod.Table) -> dict[str, int]:
        out = {"n": t.integer("n", 1)}
        t.done()
        return out

    try:
        assert loads("[test-role]\nn = 3\n").role("test-role") == {"n": 3}
        assert "test-fault" in FAULTS["test-role"]
    finally:
        del cfgmod.SECTIONS["test-role"]
        del FAULTS["test-role"]
