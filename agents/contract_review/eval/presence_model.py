"""Fit the document-level presence model (`agents.contract_review.presence`) from CUAD v1.

Everything is fitted on the CUAD v1 contracts we never score: the 10 evaluated contracts in
``agents/contract_review/data/cuad``, the ``--exclude`` list (the held-out split,
``eval/heldout.txt``) and the sibling filings of either are left out (399 of 510 remain). The
sentence features of the training contracts are cross-fitted (each contract scored by a
sentence classifier that never saw it), so the document model learns how much to trust the
classifier on unseen text; thresholds are chosen by cross-validation on those contracts only.
The shipped artefact (``presence_model.npz``) holds only weights: no contract text.

    python -m agents.contract_review.eval.presence_model build --dir CUAD_v1/ \\
        --exclude agents/contract_review/eval/heldout.txt
    python -m agents.contract_review.eval.heldout score --dir CUAD_v1/   # the 93 held out
    python -m agents.contract_review.eval.clauses      # the 10 untouched contracts

The build is byte-reproducible: contracts in name order, seeded folds and sampling,
single-threaded solvers, weights rounded to `WEIGHT_DECIMALS`, fixed zip timestamps
(`agents.contract_review.eval.artefacts`).
"""

from __future__ import annotations

import argparse
import ast
import json
import pickle
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from agents.contract_review.clauses import KeywordJudge, RuleJudge, collapse_ws, softmax
from agents.contract_review.presence import (
    FEATURES,
    MODEL_FILE,
    RawDoc,
    document_features,
    embed_sentences,
    load_presence_model,
    raw_document,
)
from agents.contract_review.rulebook import Rulebook, load_rulebook
from agents.contract_review.splitter import split_document
from coordinator import UsageError

from .artefacts import WEIGHT_DECIMALS, save_npz
from .corpus import LOCAL_CONTRACTS
from .cuad_v1 import check_cuad_dir, read_cuad, read_stem_list, resolve_stems
from .heldout import cue_writing_half
from .siblings import sibling_map, with_siblings

__all__ = ["WEIGHT_DECIMALS", "build", "cue_writing_half", "main"]


def _rulebook_key(key: str, spelling: dict[str, str]) -> str:
    """A CSV column in the rulebook's spelling ('Cap on Liability-Answer' -> 'Cap On ...')."""
    base, answer = (key[: -len("-Answer")], "-Answer") if key.endswith("-Answer") else (key, "")
    return spelling.get(base.casefold(), base) + answer


def _sentence_labels(
    raw: RawDoc, row: dict[str, str], categories: Sequence[str]
) -> list[list[str]]:
    """Categories whose labelled excerpts overlap each sentence (empty: an unlabelled one)."""
    excerpts: list[tuple[str, str]] = []
    for cat in categories:
        try:
            xs = ast.literal_eval(row.get(cat) or "[]")
        except (ValueError, SyntaxError):
            continue
        excerpts += [(cat, collapse_ws(str(x)).lower()) for x in xs if len(str(x)) > 20]
    other: list[str] = []
    for key, val in row.items():  # labels of the non-presence categories also mark "labelled"
        if key in categories or key.endswith("Answer") or key == "Filename" or not val:
            continue
        try:
            other += [
                collapse_ws(str(x)).lower() for x in ast.literal_eval(val) if len(str(x)) > 20
            ]
        except (ValueError, SyntaxError):
            continue
    out = []
    for s in raw.sentences:
        low = s.text.lower()
        head = low[:60]
        cats = sorted({c for c, x in excerpts if head in x or x[:60] in low})
        if not cats and any(head in x or x[:60] in low for x in other):
            cats = ["_other"]
        out.append(cats)
    return out


def _fit_sentence_lr(
    embs: Sequence[np.ndarray], labels: Sequence[list[list[str]]], seed: int, negatives: int = 40
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Multinomial LR, categories + "none", on sentences of the given contracts."""
    from sklearn.linear_model import LogisticRegression  # deferred: ~1 s import, fitting only

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for emb, labs in zip(embs, labels, strict=True):
        neg = [i for i, cats in enumerate(labs) if not cats]
        for i, cats in enumerate(labs):
            for c in cats:
                if c != "_other":
                    xs.append(emb[i])
                    ys.append(c)
        for i in rng.permutation(neg)[:negatives]:
            xs.append(emb[i])
            ys.append("none")
    model = LogisticRegression(C=10.0, max_iter=300).fit(np.asarray(xs, np.float32), ys)
    return (
        [str(c) for c in model.classes_],
        model.coef_.astype(np.float32),
        model.intercept_.astype(np.float32),
    )


def _fit_doc_lr(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, ...]:
    """Standardised logistic regression for one category (constant model if one class)."""
    from sklearn.linear_model import LogisticRegression  # deferred: ~1 s import, fitting only

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    if y.min() == y.max():
        prior = (y.sum() + 0.5) / (len(y) + 1)
        return mean, scale, np.zeros(x.shape[1]), np.array(np.log(prior / (1 - prior)))
    lr = LogisticRegression(C=c, max_iter=500).fit((x - mean) / scale, y)
    return mean, scale, lr.coef_[0], np.array(lr.intercept_[0])


def _predict_doc(params: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    mean, scale, coef, bias = params
    return 1 / (1 + np.exp(-(((x - mean) / scale) @ coef + bias)))


def _micro_f1(pred: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    tp = float((pred & gold).sum())
    fp = float((pred & ~gold).sum())
    fn = float((~pred & gold).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _counts(pred: np.ndarray, gold: np.ndarray) -> tuple[int, int, int]:
    return int((pred & gold).sum()), int((pred & ~gold).sum()), int((~pred & gold).sum())


def _per_category(pred: np.ndarray, gold: np.ndarray, cats: Sequence[str]) -> dict:
    """Category -> {"tp", "fp", "fn"} counts of contracts (pred, gold: contracts x categories)."""
    return {
        cat: dict(zip(("tp", "fp", "fn"), _counts(pred[:, j], gold[:, j]), strict=True))
        for j, cat in enumerate(cats)
    }


def _macro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Mean F1 over the categories that occur in the gold labels."""
    f1s = [_micro_f1(pred[:, j], gold[:, j])[2] for j in range(gold.shape[1]) if gold[:, j].any()]
    return float(np.mean(f1s)) if f1s else 0.0


def _override_choice(pred: np.ndarray, rule: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per category: does OR-ing the rule judge's hits raise the micro-F1 over all
    categories (pred, rule, gold: contracts x categories)?"""
    base = _micro_f1(pred, gold)[2]
    out = np.zeros(pred.shape[1], bool)
    for j in range(pred.shape[1]):
        trial = pred.copy()
        trial[:, j] |= rule[:, j]
        out[j] = _micro_f1(trial, gold)[2] > base + 1e-4
    return out


def _best_threshold(prob: np.ndarray, gold: np.ndarray, grid: np.ndarray) -> float:
    f = [_micro_f1(prob >= t, gold)[2] for t in grid]
    return float(grid[int(np.argmax(f))])


def build(
    source: str | Path,
    out: str | Path = MODEL_FILE,
    folds: int = 5,
    seed: int = 0,
    cache: str | Path | None = None,
    log=print,
    exclude_evaluated: bool = True,
    exclude: Sequence[str] = (),
    exclude_origin: str = "--exclude",
) -> dict:
    """Fit and save the model from CUAD v1 (dir or bare git repo); returns the CV summary.

    Left out of everything (sentence classifier, document models, thresholds, rule
    overrides): the 10 shipped contracts, the ``exclude`` stems (e.g. the held-out split), and
    every sibling filing of either (`agents.contract_review.eval.siblings`). An ``exclude``
    name not in the source is a `UsageError` naming ``exclude_origin``, raised before any
    embedding. Deterministic: the same inputs give a byte-identical file (contracts in name
    order, seeded sampling and folds, single-threaded solvers, weights rounded, fixed zip
    times). `exclude_evaluated=False` lets a test build from the shipped sample contracts.
    ``cache`` keeps every contract of the source embedded (with text: keep it outside the
    repository), so rebuilding with another ``exclude`` list re-embeds nothing."""
    rulebook = load_rulebook()
    cats = [r.name for r in rulebook.presence]
    cache_path = Path(cache) if cache else None
    rj, kj = RuleJudge(rulebook), KeywordJudge(rulebook)
    cached = cache_path is not None and cache_path.exists()
    if cached:
        with cache_path.open("rb") as fh:
            docs = pickle.load(fh)
        log(f"loaded {len(docs)} embedded contracts from {cache_path}")
    else:
        src = read_cuad(Path(source))
        spelling = {c.casefold(): c for c in cats}
        docs = [
            {
                "stem": stem,
                "text": src.texts[stem],
                "row": {_rulebook_key(k, spelling): v for k, v in src.rows[stem].items()},
            }
            for stem in src.stems
        ]
    left_out, listed = _left_out(
        {d["stem"]: d["text"] for d in docs}, exclude, exclude_origin, exclude_evaluated
    )
    known = {d["stem"] for d in docs}
    if cached or not cache_path:  # embed only what is fitted on; a new cache keeps all
        docs = [d for d in docs if d["stem"] not in left_out]
    t0 = time.perf_counter()
    for n, doc in enumerate(docs):
        doc.update(_rulebook_parts(doc["text"], doc["row"], rulebook, rj, kj))
        if cached:  # the rulebook may have changed since: only its features are re-derived
            assert len(doc["raw"].sentences) == len(doc["emb"]), doc["stem"]
            continue
        doc["emb"] = embed_sentences(doc["raw"].sentences).astype(np.float16)
        if n % 50 == 0:
            log(f"  {n}/{len(docs)} contracts embedded, {time.perf_counter() - t0:.0f} s")
    if cache_path and not cached:
        with cache_path.open("wb") as fh:
            pickle.dump([{k: d[k] for k in ("stem", "text", "row", "emb")} for d in docs], fh)
    docs = sorted((d for d in docs if d["stem"] not in left_out), key=lambda d: d["stem"])
    log(
        f"fitting on {len(docs)} contracts; left out {len(left_out & known)} ({len(listed)} listed)"
    )
    with threadpool_limits(limits=1):  # BLAS sums in one fixed order: same bits every build
        return _fit_and_save(
            docs,
            rulebook,
            Path(out),
            folds,
            seed,
            log,
            excluded={"listed": listed, "all": sorted(left_out & known)},
        )


def _left_out(
    texts: dict[str, str], exclude: Sequence[str], origin: str, exclude_evaluated: bool
) -> tuple[set[str], list[str]]:
    """(every stem left out, the ``exclude`` names as stems): the shipped contracts (unless
    ``exclude_evaluated`` is false) and the listed ones, each with its sibling filings."""
    listed = resolve_stems(exclude, texts, origin) if exclude else []
    seeds = set(listed)
    if exclude_evaluated:
        shipped = {p.stem: p.read_text(encoding="utf-8") for p in LOCAL_CONTRACTS.glob("*.txt")}
        texts = {**shipped, **texts}  # siblings of the shipped ones even if the copy lacks them
        seeds |= set(shipped)
    return with_siblings(seeds, sibling_map(texts)), listed


def _rulebook_parts(text: str, row: dict[str, str], rulebook: Rulebook, rj, kj) -> dict:
    """What depends on the rulebook (cheap); the sentence embeddings do not (costly)."""
    cats = [r.name for r in rulebook.presence]
    raw = raw_document(split_document(text), rulebook, rj, kj)
    return {
        "raw": raw,
        "gold": np.array([row.get(f"{c}-Answer") == "Yes" for c in cats]),
        "labels": _sentence_labels(raw, row, cats),
    }


def _doc_features(docs: Sequence[dict], classes, coef, bias, cats) -> np.ndarray:
    index = {c.casefold(): i for i, c in enumerate(classes)}
    out = np.zeros((len(docs), len(cats), len(FEATURES)))
    for d, doc in enumerate(docs):
        raw = doc["raw"]
        probs = softmax(doc["emb"].astype(np.float32), coef, bias)
        for j, cat in enumerate(cats):
            out[d, j] = document_features(raw, probs, index.get(cat.casefold()), cat)
    return out


def _fit_and_save(
    docs: Sequence[dict],
    rulebook: Rulebook,
    out: Path,
    folds: int,
    seed: int,
    log,
    excluded: dict[str, list[str]],
) -> dict:
    cats = [r.name for r in rulebook.presence]
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(len(docs)) % folds
    gold = np.stack([d["gold"] for d in docs])
    # 1. cross-fitted sentence probabilities -> document features of every training contract
    x = np.zeros((len(docs), len(cats), len(FEATURES)))
    for k in range(folds):
        tr = [d for d, f in zip(docs, fold_of, strict=True) if f != k]
        te_idx = np.flatnonzero(fold_of == k)
        classes, coef, bias = _fit_sentence_lr(
            [d["emb"].astype(np.float32) for d in tr], [d["labels"] for d in tr], seed + k
        )
        x[te_idx] = _doc_features([docs[i] for i in te_idx], classes, coef, bias, cats)
        log(f"  sentence fold {k}: {len(tr)} train contracts")
    # 2. per-category document LR: out-of-fold probabilities for C and threshold choice
    grid = np.round(np.arange(0.1, 0.9, 0.025), 3)
    best: dict | None = None
    for c in (0.03, 0.1, 0.3, 1.0):
        oof = np.zeros(gold.shape)
        for k in range(folds):
            tr, te = fold_of != k, fold_of == k
            for j in range(len(cats)):
                params = _fit_doc_lr(x[tr, j], gold[tr, j], c)
                oof[te, j] = _predict_doc(params, x[te, j])
        # global threshold vs per-category thresholds, each judged on folds it was not set on
        glob_pred = np.zeros(gold.shape, bool)
        per_pred = np.zeros(gold.shape, bool)
        for k in range(folds):
            tr, te = fold_of != k, fold_of == k
            t = _best_threshold(oof[tr], gold[tr], grid)
            glob_pred[te] = oof[te] >= t
            for j in range(len(cats)):
                tj = _best_threshold(oof[tr, j], gold[tr, j], grid)
                per_pred[te, j] = oof[te, j] >= (0.5 * tj + 0.5 * t)  # shrunk to global
        for mode, pred in (("global", glob_pred), ("per-category", per_pred)):
            p, r, f = _micro_f1(pred, gold)
            log(f"  C={c:<5} {mode:<13} CV micro-F1 {f:.3f} (P {p:.3f} R {r:.3f})")
            if best is None or f > best["f1"]:
                best = {"c": c, "mode": mode, "f1": f, "p": p, "r": r, "oof": oof, "pred": pred}
    assert best is not None
    oof = best["oof"]
    t_glob = _best_threshold(oof, gold, grid)
    thresholds = np.full(len(cats), t_glob)
    if best["mode"] == "per-category":
        thresholds = np.array(
            [
                0.5 * _best_threshold(oof[:, j], gold[:, j], grid) + 0.5 * t_glob
                for j in range(len(cats))
            ]
        )
    # 3. rule override for categories the model rarely reaches (rare ones: MFN, liquidated
    # damages...): present = model OR a rule-judge "yes" on a cue candidate, where that
    # helps. Chosen per category on the training folds only, scored on the held-out fold.
    rule_hit = x[:, :, FEATURES.index("n_rule_yes")] > 0
    model_pred = best["pred"]
    nested = model_pred.copy()
    for k in range(folds):
        tr, te = fold_of != k, fold_of == k
        chosen = _override_choice(model_pred[tr], rule_hit[tr], gold[tr])
        nested[te] = model_pred[te] | (rule_hit[te] & chosen)
    override = _override_choice(model_pred, rule_hit, gold)
    p_o, r_o, f_o = _micro_f1(nested, gold)
    log(f"  with rule override (nested CV): micro-F1 {f_o:.3f} (P {p_o:.3f} R {r_o:.3f})")
    unread = np.array([not cue_writing_half(d["stem"]) for d in docs])
    u_pred, u_gold = nested[unread], gold[unread]
    p_u, r_u, f_u = _micro_f1(u_pred, u_gold)
    macro_u = _macro_f1(u_pred, u_gold)
    log(
        f"  same, only the {int(unread.sum())} contracts never read for cues: micro-F1 "
        f"{f_u:.3f} (P {p_u:.3f} R {r_u:.3f}), macro-F1 {macro_u:.3f}"
    )
    # 4. final fit on every training contract
    classes, s_coef, s_bias = _fit_sentence_lr(
        [d["emb"].astype(np.float32) for d in docs], [d["labels"] for d in docs], seed
    )
    params = [_fit_doc_lr(x[:, j], gold[:, j], best["c"]) for j in range(len(cats))]
    meta = {
        "source": "CUAD v1 (The Atticus Project, CC BY 4.0): master_clauses.csv + texts",
        "contracts": len(docs),
        "stems": sorted(d["stem"] for d in docs),
        "excluded": excluded["all"],
        "excluded_listed": excluded["listed"],
        "features": list(FEATURES),
        "doc_C": best["c"],
        "threshold_mode": best["mode"],
        "cv_model_only_micro_f1": round(best["f1"], 4),
        "cv_micro_f1": round(f_o, 4),
        "cv_precision": round(p_o, 4),
        "cv_recall": round(r_o, 4),
        "cv_macro_f1": round(_macro_f1(nested, gold), 4),
        "cv_model_only_macro_f1": round(_macro_f1(model_pred, gold), 4),
        "rule_override": [c for c, o in zip(cats, override, strict=True) if o],
        "cv_per_category": _per_category(nested, gold, cats),
        "cv_unread_half": {
            "contracts": int(unread.sum()),
            "micro_f1": round(f_u, 4),
            "macro_f1": round(macro_u, 4),
            "per_category": _per_category(u_pred, u_gold, cats),
        },
        "folds": folds,
        "seed": seed,
    }
    save_npz(
        out,
        sentence_classes=np.array(classes, dtype=str),
        sentence_coef=s_coef,
        sentence_bias=s_bias,
        categories=np.array(cats, dtype=str),
        mean=np.stack([p[0] for p in params]),
        scale=np.stack([p[1] for p in params]),
        coef=np.stack([p[2] for p in params]),
        bias=np.array([float(p[3]) for p in params]),
        thresholds=thresholds,
        rule_override=override.astype(np.int8),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    load_presence_model.cache_clear()
    log(
        f"saved {out} ({out.stat().st_size} bytes);",
        json.dumps(
            {
                k: v
                for k, v in meta.items()
                if k
                not in ("stems", "excluded", "excluded_listed", "cv_per_category", "cv_unread_half")
            }
        ),
    )
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.contract_review.eval.presence_model", description=__doc__
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="fit from CUAD v1 (never the evaluated contracts)")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--git", help="bare git repo holding master_clauses.csv + full_contract_txt/")
    src.add_argument("--dir", help="CUAD v1 directory (master_clauses.csv, full_contract_txt/)")
    b.add_argument("--out", default=str(MODEL_FILE))
    b.add_argument(
        "--exclude",
        metavar="FILE",
        help="contract stems (one a line, # comments) left out of every artefact with their "
        "sibling filings, e.g. agents/contract_review/eval/heldout.txt",
    )
    b.add_argument(
        "--cache",
        help="pickle of the embedded contracts (re-fit without re-embedding; it holds CUAD "
        "contract text: keep it outside the repository)",
    )
    args = parser.parse_args(argv)
    try:
        if args.dir:
            check_cuad_dir(args.dir)  # the shipped sample's layout (contracts/) is for tests
        elif not Path(args.git).is_dir():
            raise UsageError(f"{args.git}: not a git directory")
        exclude = read_stem_list(args.exclude) if args.exclude else []
        build(
            args.git or args.dir,
            args.out,
            cache=args.cache or None,
            exclude=exclude,
            exclude_origin=args.exclude or "--exclude",
        )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {args.git}: git archive failed (exit {exc.returncode})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
