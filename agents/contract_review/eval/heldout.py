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
thresholds and rule overrides. `score` then measures the presence model on the held-out
contracts once, beside a plain baseline fitted on exactly the same training contracts
(`agents.contract_review.eval.baseline`: per-category logistic regression on tf-idf).

    python -m agents.contract_review.eval.heldout split --dir CUAD_v1/ --out heldout.txt
    python -m agents.contract_review.eval.heldout score --dir CUAD_v1/ [--model FILE] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from coordinator import UsageError

from .baseline import fit_baseline
from .cuad_v1 import CuadSource, check_cuad_dir, read_cuad, read_stem_list, resolve_stems
from .siblings import sibling_map, with_siblings

__all__ = [
    "HELDOUT_FILE",
    "HELDOUT_FRACTION",
    "SPLIT_SALT",
    "choose_heldout",
    "cue_writing_half",
    "eligible",
    "hash_fraction",
    "main",
    "score",
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


def _gold(src: CuadSource, stems: Sequence[str], cats: Sequence[str]) -> np.ndarray:
    """Contracts x categories: CUAD's Yes/No answers (anything else counts as No)."""
    return np.array(
        [[src.rows[s].get(f"{c}-Answer") == "Yes" for c in cats] for s in stems], dtype=bool
    )


def _counts(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Categories x (tp, fp, fn)."""
    return np.stack(
        [(pred & gold).sum(0), (pred & ~gold).sum(0), (~pred & gold).sum(0)], axis=1
    ).astype(np.int64)


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _summary(pred: np.ndarray, gold: np.ndarray) -> dict:
    """Micro P/R/F1 over every (contract, category) and macro-F1 over the categories that
    occur in ``gold``."""
    c = _counts(pred, gold)
    p, r, f = _prf(*c.sum(0))
    present = gold.any(0)
    macro = float(np.mean([_prf(*c[j])[2] for j in np.flatnonzero(present)]))
    return {"micro_p": p, "micro_r": r, "micro_f1": f, "macro_f1": macro}


def _bootstrap(
    preds: Mapping[str, np.ndarray], gold: np.ndarray, n: int = 2000, seed: int = 0
) -> dict:
    """95% intervals, resampling contracts: each system's micro/macro-F1 and ours - baseline."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[tuple[float, float]]] = {k: [] for k in preds}
    for _ in range(n):
        idx = rng.integers(0, len(gold), len(gold))
        for k, pred in preds.items():
            s = _summary(pred[idx], gold[idx])
            draws[k].append((s["micro_f1"], s["macro_f1"]))
    out = {}
    arr = {k: np.array(v) for k, v in draws.items()}
    for k, a in arr.items():
        out[k] = {"micro_f1": _interval(a[:, 0]), "macro_f1": _interval(a[:, 1])}
    diff = arr["presence_model"] - arr["tfidf_lr"]
    out["presence_model - tfidf_lr"] = {
        "micro_f1": _interval(diff[:, 0]),
        "macro_f1": _interval(diff[:, 1]),
    }
    return out


def _interval(x: np.ndarray) -> list[float]:
    return [round(float(np.quantile(x, 0.025)), 4), round(float(np.quantile(x, 0.975)), 4)]


def score(
    source: str | Path,
    heldout: str | Path = HELDOUT_FILE,
    model_path: str | Path | None = None,
    log=print,
) -> dict:
    """Score the presence model and the tf-idf baseline on the held-out contracts, once.

    Refuses (`UsageError`) a model fitted on any held-out contract or sibling of one: a
    number on contracts it saw is not held out."""
    # deferred: the runtime model, the rulebook and the embedding encoder load only to score
    from agents.contract_review.eval.clauses import baseline_presence, natural_baseline_presence
    from agents.contract_review.presence import MODEL_FILE, PresenceModel, presence
    from agents.contract_review.rulebook import load_rulebook

    model_path = Path(model_path or MODEL_FILE)
    src = read_cuad(source)
    stems = resolve_stems(read_stem_list(heldout), src.stems, str(heldout))
    model = PresenceModel(model_path)
    train = list(model.meta["stems"])
    unknown = sorted(set(train) - set(src.texts))
    if unknown:
        raise UsageError(f"{model_path}: fitted on {len(unknown)} contract(s) not in {source}")
    seen = sorted(with_siblings(stems, sibling_map(src.texts)) & set(train))
    if seen:
        raise UsageError(
            f"{model_path}: fitted on {len(seen)} held-out contract(s) or siblings "
            f"(first: {seen[0]!r}); rebuild it with --exclude {heldout}"
        )
    rulebook = load_rulebook()
    cats = [r.name for r in rulebook.presence]
    gold = _gold(src, stems, cats)
    log(f"{len(stems)} held-out contracts; fitting the tf-idf baseline on {len(train)}")
    base = fit_baseline([src.texts[s] for s in train], _gold(src, train, cats), cats)
    preds = {"tfidf_lr": base.predict([src.texts[s] for s in stems])}
    ours, strict, natural = [], [], []
    for n, stem in enumerate(stems):
        text = src.texts[stem]
        result = presence(text, rulebook, model)
        ours.append([result[c].present for c in cats])
        words, loose = baseline_presence(text, rulebook), natural_baseline_presence(text, rulebook)
        strict.append([words[c] for c in cats])
        natural.append([loose[c] for c in cats])
        if n % 20 == 0:
            log(f"  {n}/{len(stems)} scored")
    preds["presence_model"] = np.array(ours, bool)
    preds["name_words_strict"] = np.array(strict, bool)
    preds["name_words_natural"] = np.array(natural, bool)
    per_category = []
    counts = {k: _counts(v, gold) for k, v in preds.items()}
    for j, cat in enumerate(cats):
        row: dict = {"category": cat, "heldout_positives": int(gold[:, j].sum())}
        for k in ("presence_model", "tfidf_lr"):
            tp, fp, fn = (int(v) for v in counts[k][j])
            p, r, f = _prf(tp, fp, fn)
            row[k] = {"tp": tp, "fp": fp, "fn": fn, "p": p, "r": r, "f1": f}
        per_category.append(row)
    return {
        "heldout_file": Path(heldout).name,
        "model": model_path.name,
        "heldout": stems,
        "training_contracts": len(train),
        "summary": {k: _summary(v, gold) for k, v in preds.items()},
        "bootstrap_95": _bootstrap({k: preds[k] for k in ("presence_model", "tfidf_lr")}, gold),
        "per_category": per_category,
        "tfidf_lr_choices": {
            c: {"C": base.c[j], "threshold": base.thresholds[j]} for j, c in enumerate(cats)
        },
    }


def _print(result: dict) -> None:
    s = result["summary"]
    print(
        f"{len(result['heldout'])} held-out contracts ({result['heldout_file']}); both systems "
        f"fitted on the same {result['training_contracts']} training contracts\n"
    )
    print("| category | held-out with it | presence model P / R / F1 | tf-idf LR P / R / F1 |")
    print("|---|---|---|---|")
    for row in result["per_category"]:
        a, b = row["presence_model"], row["tfidf_lr"]
        print(
            f"| {row['category']} | {row['heldout_positives']} "
            f"| {a['p']:.2f} / {a['r']:.2f} / **{a['f1']:.2f}** "
            f"| {b['p']:.2f} / {b['r']:.2f} / {b['f1']:.2f} |"
        )
    ci = result["bootstrap_95"]
    names = {
        "presence_model": "presence model (shipped)",
        "tfidf_lr": "tf-idf logistic regression",
        "name_words_natural": "category's own words (natural)",
        "name_words_strict": "category's own words (strict)",
    }
    print()
    for k, label in names.items():
        x = s[k]
        band = ""
        if k in ci:
            band = f"  95% CI micro {ci[k]['micro_f1']}, macro {ci[k]['macro_f1']}"
        print(
            f"{label:<32} micro-F1 {x['micro_f1']:.3f} (P {x['micro_p']:.3f} R "
            f"{x['micro_r']:.3f})  macro-F1 {x['macro_f1']:.3f}{band}"
        )
    d = ci["presence_model - tfidf_lr"]
    print(f"{'difference (model - tf-idf LR)':<32} micro {d['micro_f1']}, macro {d['macro_f1']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.contract_review.eval.heldout", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split", help="write the held-out list chosen by the rule")
    s.add_argument("--dir", required=True, help="CUAD v1 dir (master_clauses.csv, texts)")
    s.add_argument("--out", default=str(HELDOUT_FILE))
    c = sub.add_parser("score", help="score the presence model and the baseline, held out")
    c.add_argument("--dir", required=True, help="CUAD v1 dir (master_clauses.csv, texts)")
    c.add_argument("--heldout", default=str(HELDOUT_FILE), help="the held-out list")
    c.add_argument("--model", help="presence model file (default: the shipped one)")
    c.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    try:
        check_cuad_dir(args.dir)
        if args.cmd == "split":
            text, chosen = split(args.dir)
        else:
            if args.model and not Path(args.model).is_file():
                raise UsageError(f"{args.model}: no such model file")
            log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
            result = score(args.dir, args.heldout, args.model, log=log)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "split":
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(chosen)} held-out contracts -> {args.out}")
    elif args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
