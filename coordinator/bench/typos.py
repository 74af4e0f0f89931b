"""Seeded typo generator for routing benchmarks (never used at run time).

Each word of 3+ letters gets a typo with probability `rate` (at least one per text):
a dropped letter, two swapped neighbours, a doubled letter or a QWERTY keyboard neighbour.
The same seed always gives the same copy, so typo robustness is comparable across runs::

    typo_copy(["how do I reset my password"], seed=0)   # ['how do I rset my passwird']
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

__all__ = ["misspell", "typo_copy"]

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for r, row in enumerate(_ROWS):
    for c, ch in enumerate(row):
        near = [row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)]
        for rr in (r - 1, r + 1):
            if 0 <= rr < len(_ROWS):
                near.extend(_ROWS[rr][j] for j in (c - 1, c, c + 1) if 0 <= j < len(_ROWS[rr]))
        _NEIGHBOURS[ch] = "".join(near)
_WORD = re.compile(r"[^\W\d_]{3,}")
OPS = ("drop", "swap", "double", "neighbour")


def misspell(word: str, rng: random.Random) -> str:
    """One typo in `word` (3+ letters)."""
    i = rng.randrange(len(word))
    op = rng.choice(OPS)
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "swap":
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "double":
        return word[: i + 1] + word[i] + word[i + 1 :]
    ch = word[i]
    near = _NEIGHBOURS.get(ch.lower())
    if not near:  # not on the keyboard map (digits, accents): drop instead
        return word[:i] + word[i + 1 :]
    sub = rng.choice(near)
    return word[:i] + (sub.upper() if ch.isupper() else sub) + word[i + 1 :]


def _one(text: str, rng: random.Random, rate: float) -> str:
    words = list(_WORD.finditer(text))
    if not words:
        return text
    chosen = {m.start() for m in words if rng.random() < rate}
    if not chosen:
        chosen = {rng.choice(words).start()}
    out, last = [], 0
    for m in words:
        out.append(text[last : m.start()])
        out.append(misspell(m.group(), rng) if m.start() in chosen else m.group())
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def typo_copy(texts: Sequence[str], *, seed: int = 0, rate: float = 0.25) -> list[str]:
    """A misspelled copy of `texts` (same order), reproducible from `seed`."""
    rng = random.Random(seed)
    return [_one(t, rng, rate) for t in texts]
