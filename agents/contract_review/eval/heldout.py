"""The fixed held-out split of CUAD v1: contracts no cue or weight ever saw.

Which contracts (`choose_heldout`, decided before any result on them was seen, and written to
``heldout.txt`` beside this module): a contract is *eligible* when nobody read it while
building, i.e. it is not one of the 10 contracts shipped in ``data/cuad`` (the rules' authors
read 5 of them and the similarity judge uses their labels at run time), it is not in the half of
CUAD whose labelled excerpts cue authors may read (`cue_writing_half`), and no sibling filing
of it (`agents.contract_review.eval.siblings`) is either. An eligible contract is held out
when SHA-256 of ``"heldout-v1:" + stem``, read as a fraction of 2**256, is below
`HELDOUT_FRACTION`. Every artefact is then built with the list and its siblings left out
(``--exclude heldout.txt``): exemplars, both sentence classifiers, the presence model, its
thresholds and rule overrides.

    python -m agents.contract_review.eval.heldout split --dir CUAD_v1/ --out heldout.txt
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from coordinator.errors import UsageError

from .cuad_v1 import check_cuad_dir, read_cuad
from .siblings import sibling_map

__all__ = [
    "HELDOUT_FILE",
    "HELDOUT_FRACTION",
    "SPLIT_SALT",
    "choose_heldout",
    "cue_writing_half",
    "eligible",
    "hash_fraction",
    "main",
    "shipped_stems",
]

HELDOUT_FILE = Path(__file__).resolve().with_name("heldout.txt")
SPLIT_SALT = "heldout-v1:"
HELDOUT_FRACTION = 0.45
"""Of the ~200 eligible contracts: about 90 held out, 18% of CUAD's 510."""


def cue_writing_half(stem: str) -> bool:
    """Whether a contract is in the half whose labelled excerpts rule authors may read.

    Cues are hand-written from CUAD excerpts, and the CV figure includes the contracts they
    were read from. The other half (SHA-1 of the file stem odd) is never read while writing
    cues, so the build also reports CV on it alone, and the held-out split is drawn from it."""
    return int(hashlib.sha1(stem.encode("utf-8")).hexdigest(), 16) % 2 == 0


def hash_fraction(stem: str) -> float:
    """SHA-256 of ``SPLIT_SALT + stem`` as a number in [0, 1). Surrounding spaces are not part
    of the stem here: four CUAD file names end in one, which a list file does not keep."""
    digest = hashlib.sha256((SPLIT_SALT + stem.strip()).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") / 2**256


def shipped_stems() -> set[str]:
    """The 10 contracts shipped in ``data/cuad`` (never trained on, nor their siblings)."""
    from .corpus import LOCAL_CONTRACTS  # deferred: corpus imports the encoder (slow, unused)

    return {p.stem for p in LOCAL_CONTRACTS.glob("*.txt")}


def eligible(
    stems: Sequence[str], siblings: Mapping[str, Collection[str]], shipped: Collection[str]
) -> list[str]:
    """The stems nobody read while building: neither they nor any sibling filing of theirs
    is shipped in ``data/cuad`` or in `cue_writing_half`."""

    def read(stem: str) -> bool:
        return stem in shipped or cue_writing_half(stem)

    return sorted(s for s in stems if not read(s) and not any(map(read, siblings.get(s, ()))))


def choose_heldout(
    stems: Sequence[str], siblings: Mapping[str, Collection[str]], shipped: Collection[str]
) -> list[str]:
    """The held-out stems: the `eligible` ones whose `hash_fraction` < `HELDOUT_FRACTION`."""
    return [s for s in eligible(stems, siblings, shipped) if hash_fraction(s) < HELDOUT_FRACTION]


def _header(total: int, eligible: int, chosen: int) -> str:
    return f"""\
# CUAD v1 held-out split "heldout-v1": {chosen} of {total} contracts, one file stem a line.
# Chosen before any result on them was seen, by
#   python -m agents.contract_review.eval.heldout split --dir <CUAD v1> --out <this file>
# Rule (agents/contract_review/eval/heldout.py): of the {eligible} contracts nobody read while
# building (not shipped in data/cuad, SHA-1 of the stem odd, and the same for every sibling
# filing), those with SHA-256("heldout-v1:" + stem) / 2**256 < {HELDOUT_FRACTION}.
# Every artefact is built with these and their sibling filings left out (--exclude this file).
"""


def split(source: str | Path) -> tuple[str, list[str]]:
    """(file text, held-out stems) for a CUAD v1 copy."""
    src = read_cuad(source)
    siblings = sibling_map(src.texts)
    shipped = shipped_stems()
    pool = eligible(src.stems, siblings, shipped)
    chosen = choose_heldout(src.stems, siblings, shipped)
    text = _header(len(src.stems), len(pool), len(chosen)) + "".join(
        f"{s.strip()}\n" for s in chosen
    )
    return text, chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.contract_review.eval.heldout", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split", help="write the held-out list chosen by the rule")
    s.add_argument("--dir", required=True, help="CUAD v1 dir (master_clauses.csv, texts)")
    s.add_argument("--out", default=str(HELDOUT_FILE))
    args = parser.parse_args(argv)
    try:
        check_cuad_dir(args.dir)
        text, chosen = split(args.dir)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"{len(chosen)} held-out contracts -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
