"""Sibling filings in CUAD: contracts too close to each other to sit on both sides of a split.

CUAD holds the same agreement filed twice under two names, one exhibit split over several
files ("... Agreement1", "... Agreement2"), amendments filed with their agreement, and forms
filled in for other parties. A contract left out of training takes its siblings with it, so a
held-out contract's near-copy never trains anything. Two contracts are siblings when

* **same exhibit**: their file names give the same company, filing date and exhibit number
  (`filing_key`; CUAD's two EDGAR naming styles, ``Company_20190107_8-K_EX-10.2_...`` and
  ``COMPANY,INC_01_07_2019-EX-10.2-...``, folded to one key), or
* **near-copy**: at least `CONTAINMENT` of the shorter text's 8-word sequences occur verbatim
  in the other. Over the 129,795 pairs of CUAD v1, 97.7% share under 1% and 99.9% under 10%;
  the 103 pairs at 10% or more are re-filings, parts and amendments of one deal, and forms of
  one law firm or template (bank stock-offering agency agreements, sponsorship agreements,
  Schedule 13D joint filing agreements).

The relation is used one hop: leaving out A also leaves out every contract that is a sibling
of A (not siblings of those siblings).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

import numpy as np
from scipy import sparse

__all__ = ["CONTAINMENT", "SHINGLE_WORDS", "filing_key", "sibling_map", "with_siblings"]

SHINGLE_WORDS = 8
CONTAINMENT = 0.1

_NEW_STYLE = re.compile(r"^(?P<co>.+?)_(?P<date>\d{8})_[^_]+_(?P<ex>EX[^_]*)_")
_OLD_STYLE = re.compile(r"^(?P<co>.+?)_(?P<m>\d\d)_(?P<d>\d\d)_(?P<y>\d{4})-(?P<ex>EX-?[^-]+)")
_SUFFIX = re.compile(r"(inc|corp|corporation|ltd|llc|co|plc|lp|sa|ag|nv)$")


def filing_key(stem: str) -> tuple[str, str, str] | None:
    """(company, yyyymmdd, exhibit) from an EDGAR-style CUAD file name, else None.

    >>> filing_key("ArmstrongFlooringInc_20190107_8-K_EX-10.2_11471795_EX-10.2_IP Agreement")
    ('armstrongflooring', '20190107', 'EX10.2')
    >>> filing_key("ARMSTRONGFLOORING,INC_01_07_2019-EX-10.2-INTELLECTUAL PROPERTY AGREEMENT")
    ('armstrongflooring', '20190107', 'EX10.2')
    """
    m = _NEW_STYLE.match(stem)
    if m:
        company, date, exhibit = m["co"], m["date"], m["ex"]
    else:
        m = _OLD_STYLE.match(stem)
        if not m:
            return None
        company, date, exhibit = m["co"], m["y"] + m["m"] + m["d"], m["ex"]
    company = _SUFFIX.sub("", re.sub(r"[^a-z0-9]", "", company.lower()))
    return company, date, exhibit.upper().replace("EX-", "EX")


def _shingles(text: str) -> set[bytes]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {
        hashlib.blake2b(" ".join(words[i : i + SHINGLE_WORDS]).encode(), digest_size=8).digest()
        for i in range(max(0, len(words) - SHINGLE_WORDS + 1))
    }


def sibling_map(texts: Mapping[str, str]) -> dict[str, set[str]]:
    """Stem -> its siblings among ``texts`` (stem -> contract text); symmetric, no self."""
    stems = sorted(texts)
    column: dict[bytes, int] = {}
    rows, cols, sizes = [], [], []
    for i, stem in enumerate(stems):
        shingles = _shingles(texts[stem])
        sizes.append(len(shingles))
        for h in shingles:
            rows.append(i)
            cols.append(column.setdefault(h, len(column)))
    x = sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(stems), len(column))
    )
    shared = (x @ x.T).tocoo()  # shared 8-word sequences, per pair
    size = np.maximum(np.array(sizes, np.float64), 1)
    out: dict[str, set[str]] = {s: set() for s in stems}
    for i, j, n in zip(shared.row, shared.col, shared.data, strict=True):
        if i != j and n >= CONTAINMENT * min(size[i], size[j]):
            out[stems[i]].add(stems[j])
    by_key: dict[tuple[str, str, str], list[str]] = {}
    for stem in stems:
        key = filing_key(stem)
        if key is not None:
            by_key.setdefault(key, []).append(stem)
    for group in by_key.values():
        for stem in group:
            out[stem].update(g for g in group if g != stem)
    return out


def with_siblings(stems: Iterable[str], siblings: Mapping[str, set[str]]) -> set[str]:
    """``stems`` and every direct sibling of them."""
    out = set(stems)
    for stem in list(out):
        out |= siblings.get(stem, set())
    return out
