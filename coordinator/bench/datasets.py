"""Intent datasets for `coordinator bench routing`, split the same way for every system.

Public sets are read from a directory given on the command line, never shipped in the
repository (see docs/benchmarks.md for where to get them):

* `bitext`: the Bitext sample in agents/data/bitext (CDLA-Sharing-1.0); categories as
  routes, 30% of each held out for test;
* `banking77`: `DIR/train.csv` + `DIR/test.csv` (`text,category`), PolyAI
  task-specific-datasets, banking_data/ (CC-BY-4.0); official train/test split;
* `hwu64`: `DIR/trainset/*.csv` (`;`-separated, scenario;intent;...;answer_from_anno) +
  `DIR/testset/annotated/*/*.json`, xliuhw/NLU-Evaluation-Data, CrossValidation/
  autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation/KFold_1;
* any `PATH.csv` with a text column and a label column (`label`/`route`/`intent`/
  `category`); rows labelled `oos`/`out_of_scope`/empty are out of scope.

None of them except a CSV with such rows has out-of-scope requests, so `oos` labels
(default: `DEFAULT_OOS`) are held out entirely (never trained on; their test rows must go
to the fallback). For HWU64
whole *scenarios* are held out (e.g. every `alarm_*` intent), so the held-out requests are
not near-duplicates of a trained sibling intent. With `oos_from` no label is held out:
the out-of-scope rows are another dataset's test utterances (`foreign_oos`).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable
from pathlib import Path

from coordinator.errors import UsageError
from coordinator.routing.routes import load_routes
from coordinator.settings import get_settings

__all__ = [
    "DEFAULT_OOS",
    "FALLBACK",
    "few_shot",
    "foreign_oos",
    "load_dataset",
    "route_utterances",
    "validation",
]

FALLBACK = "out_of_scope"
BITEXT = Path(__file__).resolve().parents[2] / "agents" / "data" / "bitext" / "customer_support.csv"
# Held out as out of scope by default: 3 of Bitext's 11 categories, a quarter of BANKING77's
# 77 intents (the usual 75% known-intent setting), 3 of HWU64's 18 scenarios.
DEFAULT_OOS = {"bitext": 3, "banking77": 19, "hwu64": 3, "csv": 0}
_OOS_LABELS = {"", "oos", "out_of_scope", "out-of-scope", FALLBACK}

Rows = list[tuple[str, str]]


def _group(rows: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text, label in rows:
        text = text.strip()
        if text:
            out.setdefault(label, []).append(text)
    return {k: list(dict.fromkeys(v)) for k, v in sorted(out.items())}


def _split_by_label(by_label: dict[str, list[str]], rng: random.Random) -> tuple[Rows, Rows]:
    train, test = [], []
    for label, texts in by_label.items():
        texts = texts[:]
        rng.shuffle(texts)
        n_test = round(len(texts) * 0.3)
        test.extend((t, label) for t in texts[:n_test])
        train.extend((t, label) for t in texts[n_test:])
    return train, test


def _read_bitext(path: Path, level: str) -> dict[str, list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return _group((r["text"], r[level].lower()) for r in csv.DictReader(f))


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise UsageError(f"{path}: {what} not found (see docs/benchmarks.md for the data)")
    return path


def _read_banking77(d: Path) -> tuple[Rows, Rows]:
    def read(name: str) -> Rows:
        with _need(d / name, "BANKING77 file").open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not {"text", "category"} <= set(reader.fieldnames or []):
                raise UsageError(f"{d / name}: expected columns text,category")
            return [(r["text"].strip(), r["category"]) for r in reader if r["text"].strip()]

    return read("train.csv"), read("test.csv")


def _read_hwu64(d: Path) -> tuple[Rows, Rows]:
    train: Rows = []
    files = sorted(_need(d / "trainset", "HWU64 trainset/ folder").glob("*.csv"))
    if not files:
        raise UsageError(f"{d / 'trainset'}: no *.csv files")
    for path in files:
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f, delimiter=";"):
                text = (r.get("answer_from_anno") or "").strip()
                if text and r.get("scenario") and r.get("intent"):
                    train.append((text, f"{r['scenario']}_{r['intent']}"))
    test: Rows = []
    for path in sorted(_need(d / "testset" / "annotated", "HWU64 testset/").glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"{path}: invalid JSON ({exc})") from None
        test.extend(
            (row["text"].strip(), row["intent"])
            for row in data.get("test_data_annotation", [])
            if row.get("text", "").strip()
        )
    if not test:
        raise UsageError(f"{d / 'testset' / 'annotated'}: no test rows")
    return train, test


def _read_csv(path: Path) -> tuple[Rows, list[str]]:
    with _need(path, "CSV").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        label = next((c for c in ("label", "route", "intent", "category") if c in cols), None)
        if "text" not in cols or label is None:
            raise UsageError(f"{path}: expected a text column and a label/route/intent column")
        rows, oos = [], []
        for r in reader:
            text, lab = (r["text"] or "").strip(), (r[label] or "").strip()
            if not text:
                continue
            (oos.append(text) if lab.lower() in _OOS_LABELS else rows.append((text, lab)))
    return rows, oos


def _read(name: str, data_dir: Path | None, seed: int, level: str, flag: str = "--dataset"):
    """(kind, train, test, rows a CSV labels out of scope, source) of one dataset."""
    rng = random.Random(seed)
    kind = name if name in DEFAULT_OOS else "csv"
    extra_oos: list[str] = []
    if kind in ("banking77", "hwu64"):
        if data_dir is None:
            dir_flag = "--data-dir" if flag == "--dataset" else f"{flag}-dir"
            raise UsageError(f"{flag} {name} needs {dir_flag} DIR (see docs/benchmarks.md)")
        train, test = (_read_banking77 if kind == "banking77" else _read_hwu64)(data_dir)
        source = str(data_dir)
    elif kind == "bitext":
        path = data_dir if data_dir is not None and data_dir.is_file() else BITEXT
        train, test = _split_by_label(_read_bitext(_need(path, "Bitext CSV"), level), rng)
        source = str(path)
    else:
        rows, extra_oos = _read_csv(Path(name))
        train, test = _split_by_label(_group(rows), rng)
        source = name
    return kind, train, test, extra_oos, source, rng


def _key(text: str) -> str:
    """Duplicate test: same text up to case and runs of whitespace."""
    return " ".join(text.casefold().split())


def foreign_oos(
    name: str,
    *,
    data_dir: Path | None,
    seed: int,
    n: int,
    exclude: Iterable[str],
) -> dict:
    """`n` seeded test utterances of ANOTHER dataset, none equal to a text in `exclude`.

    Off-topic requests for the whole bot (a banking bot asked to set an alarm), unlike
    held-out sibling intents of the same set. Only the other set's *test* split is read,
    every label of it; texts of the in-scope set (train and test) and of the exposure
    corpus are dropped so that no out-of-scope test row was ever trained on.
    """
    _, _, test, extra, source, _ = _read(name, data_dir, seed, "category", flag="--oos-from")
    seen = {_key(t) for t in exclude}
    pool: dict[str, str] = {}
    dropped = 0
    for text in [t for t, _ in test] + extra:
        key = _key(text)
        if key in seen:
            dropped += 1
        elif key not in pool:
            pool[key] = text
    texts = sorted(pool.values())  # sorted: the sample depends on the seed, not file order
    sample = random.Random(seed).sample(texts, min(n, len(texts)))
    return {
        "dataset": name if name in DEFAULT_OOS else Path(name).name,
        "source": source,
        "test_rows": len(test) + len(extra),
        "duplicates_of_in_scope_removed": dropped,
        "pool": len(texts),
        "texts": sample,
    }


def load_dataset(
    name: str,
    *,
    data_dir: Path | None = None,
    oos: int | None = None,
    seed: int = 0,
    level: str = "category",
    oos_from: str | None = None,
    oos_from_dir: Path | None = None,
    oos_sample: int | None = None,
    not_oos: Iterable[str] = (),
) -> dict:
    """Train/test rows with held-out labels as out of scope (test label `FALLBACK`).

    With `oos_from`, every label stays in scope and the out-of-scope test rows are instead
    `oos_sample` (default: a third of the in-scope test rows, i.e. a quarter of the test
    set, the same cap as held-out labels) test utterances of that other dataset, minus
    any text of this dataset or of `not_oos` (the exposure corpus): see `foreign_oos`.
    """
    kind, train, test, extra_oos, source, rng = _read(name, data_dir, seed, level)
    n_oos = DEFAULT_OOS[kind] if oos is None else oos
    if oos_from is not None:
        n_oos, extra_oos = 0, []  # the other set supplies every out-of-scope row
    labels = sorted({lab for _, lab in train})
    if kind == "hwu64":  # hold out whole scenarios
        scenarios = sorted({lab.split("_", 1)[0] for lab in labels})
        held_groups = sorted(rng.sample(scenarios, min(n_oos, len(scenarios) - 1)))
        held = [lab for lab in labels if lab.split("_", 1)[0] in held_groups]
    else:
        held_groups = held = sorted(rng.sample(labels, min(n_oos, len(labels) - 2)))
    held_set = set(held)
    train = [(t, lab) for t, lab in train if lab not in held_set]
    in_test = [(t, lab) for t, lab in test if lab not in held_set]
    oos_pool = [t for t, lab in test if lab in held_set]
    rng.shuffle(oos_pool)
    foreign = None
    if oos_from is not None:
        foreign = foreign_oos(
            oos_from,
            data_dir=oos_from_dir,
            seed=seed,
            n=len(in_test) // 3 if oos_sample is None else oos_sample,
            exclude=[t for t, _ in train + in_test] + list(not_oos),
        )
        oos_pool = foreign.pop("texts")
        if not oos_pool:
            raise UsageError(f"--oos-from {oos_from}: no test rows left after removing duplicates")
    # Out-of-scope rows: at most a quarter of the test set (a big held-out label must not
    # swamp it); rows a CSV labelled out of scope are all kept.
    cap = len(oos_pool) if foreign is not None else len(in_test) // 3
    test = in_test + [(t, FALLBACK) for t in oos_pool[:cap] + extra_oos]
    if len({lab for _, lab in train}) < 2:
        raise UsageError(f"{source}: fewer than two labels left to train on")
    return {
        "dataset": name if kind != "csv" else Path(name).name,
        "source": source,
        "train": train,
        "test": test,
        "held_out": held_groups,
        "held_out_labels": held,
        "oos_from": foreign,
    }


def few_shot(train: Rows, per_route: int, seed: int) -> tuple[dict[str, list[str]], Rows]:
    """`per_route` examples per label + up to 10 more per label as a validation slice."""
    rng = random.Random(seed)
    few: dict[str, list[str]] = {}
    val: Rows = []
    for label, texts in _group(train).items():
        texts = texts[:]
        rng.shuffle(texts)
        few[label] = texts[:per_route]
        val.extend((t, label) for t in texts[per_route : per_route + 10])
    return few, val


def validation(train: Rows, seed: int) -> tuple[Rows, Rows]:
    """(train, val): 10% of each label (at least 1) kept aside for threshold setting."""
    rng = random.Random(seed)
    fit, val = [], []
    for label, texts in _group(train).items():
        texts = texts[:]
        rng.shuffle(texts)
        n_val = max(1, len(texts) // 10)
        val.extend((t, label) for t in texts[:n_val])
        fit.extend((t, label) for t in texts[n_val:])
    return fit, val


def route_utterances(seed: int, n: int) -> list[str]:
    """`n` requests drawn (seeded) from the configured routes' utterances (load benches)."""
    routes = load_routes(get_settings().routes_file)
    pool = sorted(
        u for r in routes.routes for u in r.utterances if len(u) < 300
    )  # sorted: stable whatever the file order
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(n)]
