"""Deterministic mutation of valid messages for fuzzing the parsers.

Mutations: bit flips, truncation, "interesting" byte values in count/length positions,
lying 16-bit length fields, insertions, deletions. ``fuzz`` runs a parser over mutants of
seed messages and lets only ``DecodeError`` through; anything else fails the test with the
reproducing input.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dissectors.core import DecodeError

INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF)
INTERESTING_WORDS = (0x0000, 0x0001, 0x00FF, 0x4003, 0x7FFF, 0x8000, 0xFFFF)


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """One mutant of ``seed``."""
    b = bytearray(seed)
    if not b:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    kind = rng.randrange(7)
    if kind == 0:  # flip 1-4 bits
        for _ in range(rng.randrange(1, 5)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        del b[rng.randrange(len(b)) :]
    elif kind == 2:  # an interesting byte value (counts, lengths, mask-lens)
        b[rng.randrange(len(b))] = rng.choice(INTERESTING_BYTES)
    elif kind == 3 and len(b) >= 2:  # a lying 16-bit field (AFI, lengths)
        i = rng.randrange(len(b) - 1)
        b[i : i + 2] = rng.choice(INTERESTING_WORDS).to_bytes(2, "big")
    elif kind == 4:  # insert bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    elif kind == 5:  # delete bytes
        i = rng.randrange(len(b))
        del b[i : i + rng.randrange(1, 9)]
    else:  # several random bytes
        for _ in range(rng.randrange(1, 9)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


@dataclass
class FuzzStats:
    runs: int = 0
    decoded: int = 0
    errors: int = 0


def fuzz(
    parse: Callable[[bytes], object], seeds: Sequence[bytes], runs: int, seed: int = 0
) -> FuzzStats:
    """Parse ``runs`` mutants of ``seeds``; only DecodeError may escape ``parse``."""
    rng = random.Random(seed)
    stats = FuzzStats()
    for _ in range(runs):
        data = mutate(rng.choice(seeds), rng)
        if rng.random() < 0.25:  # stack mutations now and then
            data = mutate(data, rng)
        stats.runs += 1
        try:
            parse(data)
        except DecodeError:
            stats.errors += 1
        except Exception as exc:  # anything but DecodeError is a bug to report
            raise AssertionError(f"{type(exc).__name__}: {exc} on input {data.hex()}") from exc
        else:
            stats.decoded += 1
    return stats
