"""A training corpus from the CUAD contracts we do NOT evaluate on, and the clause classifier.

Five labelled contracts hold ~30 positive clauses for 33 categories, too few to learn from.
CUAD v1 labels 510 contracts; this module distils the other 500 into a small shipped file:
labelled clause excerpts per presence category (positives) and sentences that carry no label
of any category (negatives). Every contract in ``data/cuad/contracts`` is excluded by
file stem, and so is every other contract sharing 3+ long sentences with one of them (CUAD
holds sibling filings of the same deal); any remaining excerpt found verbatim in an evaluated
contract is dropped. A model trained on the corpus has never seen text that is scored.

Build once from a CUAD v1 checkout (``master_clauses.csv`` + ``full_contract_txt/``):

    python -m agents.contract_review.eval.corpus BUILD_FROM_DIR
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import json
import random
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from agents.contract_review.clauses import (
    CLASSIFIER_FILE,
    EMBED_CHARS,
    collapse_ws,
    sentence_spans,
)
from agents.contract_review.cuad import CUAD_DIR
from coordinator.encoder import get_encoder
from coordinator.errors import UsageError

__all__ = [
    "CORPUS_FILE",
    "LOCAL_CONTRACTS",
    "CuadCorpus",
    "build_corpus",
    "check_cuad_dir",
    "load_corpus",
    "sentence_keys",
    "train_classifier",
]

CORPUS_FILE = CLASSIFIER_FILE.with_name("exemplars.json.gz")
LOCAL_CONTRACTS = CUAD_DIR / "contracts"
"""The shipped, evaluated contracts: never trained on (nor their sibling filings)."""


class CuadCorpus(BaseModel):
    """Positives per category and unlabelled negatives, from contracts never scored."""

    source: str = Field(description="Where the corpus was distilled from, with licence.")
    excluded: list[str] = Field(description="File stems left out (the evaluated contracts).")
    contracts: int = Field(description="How many CUAD contracts contributed.")
    exemplars: dict[str, list[str]] = Field(description="Category -> labelled clause excerpts.")
    background: list[str] = Field(description="Sentences of those contracts with no label.")


def sentence_keys(text: str) -> set[str]:
    """Fingerprints of a contract's long sentences, for sibling-filing detection."""
    out = set()
    for s, e in sentence_spans(text):
        sent = collapse_ws(text[s:e]).lower()
        if len(sent) >= 80:
            out.add(sent[:100])
    return out


def check_cuad_dir(path: str | Path, texts: str = "full_contract_txt") -> Path:
    """``path`` if it holds ``master_clauses.csv`` and the ``texts`` folder, else `UsageError`
    (one line for the eval commands, instead of a traceback half-way through a build)."""
    path = Path(path)
    for need in ("master_clauses.csv", texts):
        if not (path / need).exists():
            raise UsageError(f"{path}: not a CUAD directory (no {need})")
    return path


def build_corpus(
    cuad_dir: str | Path,
    exclude: Sequence[str],
    evaluated_texts: Sequence[str] = (),
    per_category: int = 150,
    background_per_contract: int = 12,
    max_chars: int = 600,
    seed: int = 0,
) -> CuadCorpus:
    """Distil ``cuad_dir`` (CUAD v1 layout) minus the ``exclude`` stems into a corpus.

    ``evaluated_texts`` are the contracts that will be scored: siblings of them are excluded
    too, and excerpts occurring in them verbatim are dropped.
    """
    cuad_dir = Path(cuad_dir)
    rng = random.Random(seed)
    excluded = set(exclude)
    held = [collapse_ws(t).lower() for t in evaluated_texts]
    held_keys = set().union(*(sentence_keys(t) for t in evaluated_texts)) if held else set()

    def leaked(x: str) -> bool:
        k = collapse_ws(x).lower()[:120]
        return len(k) >= 40 and any(k in t for t in held)

    with (cuad_dir / "master_clauses.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    presence = sorted(
        {k[: -len("-Answer")] for r in rows[:1] for k in r if k.endswith("-Answer")}
        - {"Document Name", "Parties", "Agreement Date", "Effective Date", "Expiration Date"}
        - {"Renewal Term", "Notice Period to Terminate Renewal", "Governing Law"}
    )
    exemplars: dict[str, list[str]] = {c: [] for c in presence}
    background: list[str] = []
    used = 0
    for row in rows:
        stem = Path(row["Filename"]).stem
        if stem in excluded:
            continue
        txt = cuad_dir / "full_contract_txt" / f"{stem}.txt"
        text = txt.read_text(encoding="utf-8", errors="replace") if txt.exists() else ""
        if len(sentence_keys(text) & held_keys) >= 3:
            excluded.add(stem)  # a sibling filing of an evaluated contract
            continue
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
                    collapse_ws(c)[:max_chars] for c in clauses if len(c) > 20 and not leaked(c)
                )
        sents = []
        for s, e in sentence_spans(text):
            sent = collapse_ws(text[s:e])
            low = sent.lower()
            if (
                len(sent) >= 40
                and not any(k in low or low[:60] in k for k in labelled)
                and not leaked(sent)
            ):
                sents.append(sent[:max_chars])
        background.extend(rng.sample(sents, min(background_per_contract, len(sents))))
    for cat, xs in exemplars.items():
        xs = list(dict.fromkeys(xs))
        exemplars[cat] = rng.sample(xs, min(per_category, len(xs)))
    return CuadCorpus(
        source="CUAD v1 (The Atticus Project, CC BY 4.0): master_clauses.csv + full_contract_txt",
        excluded=sorted(excluded),
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
    args = parser.parse_args(argv)
    try:
        check_cuad_dir(args.cuad_dir)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    local = sorted(LOCAL_CONTRACTS.glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in local]
    corpus = build_corpus(args.cuad_dir, [p.stem for p in local], evaluated_texts=texts)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        json.dump(corpus.model_dump(), fh, ensure_ascii=False)
    np.savez_compressed(out.with_name(CLASSIFIER_FILE.name), **train_classifier(corpus))
    n = sum(len(v) for v in corpus.exemplars.values())
    print(f"{corpus.contracts} contracts, {n} exemplars, {len(corpus.background)} background")
    print(f"excluded {len(corpus.excluded)} (evaluated + siblings) -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
