"""A training corpus from the CUAD contracts we do NOT evaluate on, and the clause classifier.

Five labelled contracts hold ~30 positive clauses for 33 categories, too few to learn from.
CUAD v1 labels 510 contracts; this module distils the others into a small shipped file:
labelled clause excerpts per presence category (positives) and sentences that carry no label
of any category (negatives). Left out by file stem: every contract in ``data/cuad/contracts``,
every contract of the ``--exclude`` list (the held-out split, ``eval/heldout.txt``), and every
sibling filing of either (`agents.contract_review.eval.siblings`); any remaining excerpt found
verbatim in a left-out contract is dropped. A model trained on the corpus has never seen text
that is scored.

Build once from a CUAD v1 checkout (``master_clauses.csv`` + ``full_contract_txt/``):

    python -m agents.contract_review.eval.corpus CUAD_v1/ \\
        --exclude agents/contract_review/eval/heldout.txt
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import re
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from agents.contract_review.clauses import (
    CLASSIFIER_FILE,
    EMBED_CHARS,
    collapse_ws,
    sentence_spans,
)
from agents.contract_review.cuad import CUAD_DIR
from coordinator import UsageError, get_encoder

from .artefacts import save_json_gz, save_npz
from .cuad_v1 import check_cuad_dir, read_cuad, read_stem_list, resolve_stems
from .siblings import sibling_map, with_siblings

__all__ = [
    "CORPUS_FILE",
    "LOCAL_CONTRACTS",
    "CuadCorpus",
    "build_corpus",
    "load_corpus",
    "train_classifier",
]

CORPUS_FILE = CLASSIFIER_FILE.with_name("exemplars.json.gz")
LOCAL_CONTRACTS = CUAD_DIR / "contracts"
"""The shipped, evaluated contracts: never trained on (nor their sibling filings)."""


class CuadCorpus(BaseModel):
    """Positives per category and unlabelled negatives, from contracts never scored."""

    source: str = Field(description="Where the corpus was distilled from, with licence.")
    excluded: list[str] = Field(
        description="File stems left out: shipped, listed (held out) and their siblings."
    )
    contracts: int = Field(description="How many CUAD contracts contributed.")
    exemplars: dict[str, list[str]] = Field(description="Category -> labelled clause excerpts.")
    background: list[str] = Field(description="Sentences of those contracts with no label.")


class _Verbatim:
    """Is a piece of text found verbatim (whitespace and case folded) in any of some texts?

    Exact, and fast for ~100 long texts: every occurrence of a piece starts, after the piece's
    first space, at a word start of the text, so 40-character windows at word starts are indexed
    and only a piece whose window is indexed is searched for."""

    W = 40

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = [collapse_ws(t).lower() for t in texts]
        self.windows = {
            t[i : i + self.W]
            for t in self.texts
            for i in [0, *(m.end() for m in re.finditer(" ", t))]
            if i + self.W <= len(t)
        }

    def __contains__(self, piece: str) -> bool:
        key = collapse_ws(piece).lower()[:120]
        if len(key) < 40 or not self.texts:
            return False
        cut = key.find(" ") + 1
        if cut and cut + self.W <= len(key) and key[cut : cut + self.W] not in self.windows:
            return False
        return any(key in t for t in self.texts)


def build_corpus(
    cuad_dir: str | Path,
    exclude: Sequence[str],
    outside: Mapping[str, str] | None = None,
    per_category: int = 150,
    background_per_contract: int = 12,
    max_chars: int = 600,
    seed: int = 0,
) -> CuadCorpus:
    """Distil ``cuad_dir`` (CUAD v1 layout) minus the ``exclude`` stems and their siblings.

    ``outside``: texts (by stem) of left-out contracts the copy may not hold (the shipped
    sample); their siblings are left out too, and so are excerpts found in them verbatim.
    """
    src = read_cuad(cuad_dir)
    rng = random.Random(seed)
    every = {**(outside or {}), **src.texts}
    excluded = with_siblings(set(exclude) | set(outside or {}), sibling_map(every))
    leaked = _Verbatim([every[s] for s in sorted(excluded) if s in every])
    presence = sorted(
        {
            k[: -len("-Answer")]
            for r in list(src.rows.values())[:1]
            for k in r
            if k.endswith("-Answer")
        }
        - {"Document Name", "Parties", "Agreement Date", "Effective Date", "Expiration Date"}
        - {"Renewal Term", "Notice Period to Terminate Renewal", "Governing Law"}
    )
    exemplars: dict[str, list[str]] = {c: [] for c in presence}
    background: list[str] = []
    used = 0
    for stem in src.stems:
        if stem in excluded:
            continue
        row, text = src.rows[stem], src.texts[stem]
        used += 1
        labelled: list[str] = []
        for key, raw in row.items():
            if key == "Filename" or key.endswith("Answer") or not raw:
                continue
            try:
                clauses = [str(c) for c in ast.literal_eval(raw)]
            except (ValueError, SyntaxError):
                continue
            labelled.extend(collapse_ws(c).lower()[:60] for c in clauses if len(c) > 20)
            if key in exemplars:
                exemplars[key].extend(
                    collapse_ws(c)[:max_chars] for c in clauses if len(c) > 20 and c not in leaked
                )
        sents = []
        for s, e in sentence_spans(text):
            sent = collapse_ws(text[s:e])
            low = sent.lower()
            if (
                len(sent) >= 40
                and not any(k in low or low[:60] in k for k in labelled)
                and sent not in leaked
            ):
                sents.append(sent[:max_chars])
        background.extend(rng.sample(sents, min(background_per_contract, len(sents))))
    for cat, xs in exemplars.items():
        xs = list(dict.fromkeys(xs))
        exemplars[cat] = rng.sample(xs, min(per_category, len(xs)))
    return CuadCorpus(
        source="CUAD v1 (The Atticus Project, CC BY 4.0): master_clauses.csv + full_contract_txt",
        excluded=sorted(excluded & set(every)),
        contracts=used,
        exemplars=exemplars,
        background=background,
    )


@lru_cache(maxsize=4)
def load_corpus(path: str | Path = CORPUS_FILE) -> CuadCorpus:
    """The shipped corpus (cached); category keys are CUAD's spelling, match case-insensitively."""
    with gzip.open(Path(path), "rt", encoding="utf-8") as fh:
        return CuadCorpus.model_validate(json.load(fh))


def train_classifier(corpus: CuadCorpus, c: float = 10.0) -> dict[str, np.ndarray]:
    """Multinomial logistic regression on WordLlama embeddings: categories + "none".

    Shipped as weights (a few KB) so using it costs one matrix product per clause; refit with
    ``python -m agents.contract_review.eval.corpus`` (takes ~20 s on 2 cores).
    """
    from sklearn.linear_model import LogisticRegression  # deferred: ~1 s import, fitting only

    texts = [x for xs in corpus.exemplars.values() for x in xs] + corpus.background
    labels = [k for k, xs in corpus.exemplars.items() for _ in xs]
    labels += ["none"] * len(corpus.background)
    emb = get_encoder().embed([t[:EMBED_CHARS] for t in texts])
    model = LogisticRegression(C=c, max_iter=400).fit(emb, labels)
    return {
        "classes": np.array(model.classes_, dtype=str),
        "coef": model.coef_.astype(np.float32),
        "intercept": model.intercept_.astype(np.float32),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.contract_review.eval.corpus", description=__doc__
    )
    parser.add_argument("cuad_dir", help="CUAD v1 dir (master_clauses.csv, full_contract_txt/)")
    parser.add_argument("--out", default=str(CORPUS_FILE))
    parser.add_argument(
        "--exclude",
        metavar="FILE",
        help="contract stems (one a line, # comments) left out with their sibling filings, "
        "e.g. agents/contract_review/eval/heldout.txt",
    )
    args = parser.parse_args(argv)
    try:
        check_cuad_dir(args.cuad_dir)
        listed = read_stem_list(args.exclude) if args.exclude else []
        exclude = resolve_stems(listed, read_cuad(args.cuad_dir).stems, args.exclude or "")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    local = {p.stem: p.read_text(encoding="utf-8") for p in sorted(LOCAL_CONTRACTS.glob("*.txt"))}
    corpus = build_corpus(args.cuad_dir, exclude, outside=local)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_json_gz(out, corpus.model_dump())
    with threadpool_limits(limits=1):  # BLAS sums in one fixed order: same bits every build
        save_npz(out.with_name(CLASSIFIER_FILE.name), **train_classifier(corpus))
    n = sum(len(v) for v in corpus.exemplars.values())
    print(f"{corpus.contracts} contracts, {n} exemplars, {len(corpus.background)} background")
    print(f"left out {len(corpus.excluded)} (shipped, listed, siblings) -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
