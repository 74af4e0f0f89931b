"""Outlier exposure: a corpus of generic requests that belong to *no* route.

Why: a classifier trained only on in-scope examples has never seen "tell me a joke"; it
spreads its probability over the routes it knows and one of them wins. Giving it a large,
varied "none of these" class (Hendrycks et al., *Deep Anomaly Detection with Outlier
Exposure*, 2019) teaches it what ordinary out-of-scope text looks like, so off-topic
requests lose probability to that class and fall under the calibrated threshold.

The corpus is plain text, one request per line, or any public question/instruction file
in a common shape::

    texts = load_outliers(["questions.jsonl"])      # {"question": ...} / {"instruction": ...}
    router = ClassifierRouter(routes, outliers=sample_outliers(texts, 2000, seed=0))

Formats: `.txt` (one per line, `#` comments), `.jsonl` (field `question`, `instruction`,
`text` or `prompt`), `.csv` (column `text`, `question` or `instruction`), `.json` in the
SQuAD layout (`data[].paragraphs[].qas[].question`, e.g. XQuAD's translations); any of
them gzipped (`.gz`). Duplicates and
blank lines are dropped; files are read bounded (a hostile path fails in one line).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from coordinator.errors import UsageError
from coordinator.inputs.input_files import read_bounded

__all__ = [
    "MAX_OUTLIER_BYTES",
    "balanced_outliers",
    "load_outliers",
    "sample_outliers",
    "synthetic_noise",
]

MAX_OUTLIER_BYTES = 64_000_000
_FIELDS = ("question", "instruction", "text", "prompt", "utterance")
_MAX_CHARS = 300  # a request, not a document: longer rows are instructions with context


def _rows_txt(data: str) -> Iterable[str]:
    for line in data.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def _rows_jsonl(data: str, path: Path) -> Iterable[str]:
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UsageError(f"{path}:{n}: not a JSON object per line") from None
        field = next((f for f in _FIELDS if isinstance(row, dict) and f in row), None)
        if field is None:
            raise UsageError(f"{path}:{n}: no {'/'.join(_FIELDS)} field")
        if isinstance(row.get("context"), str) and row["context"].strip():
            continue  # "summarise this text": the request is about a document, not a user ask
        yield str(row[field])


def _rows_squad(data: str, path: Path) -> Iterable[str]:
    try:
        doc = json.loads(data)
        for article in doc["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    yield str(qa["question"])
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{path}: not a SQuAD-layout JSON file (data/paragraphs/qas)") from None


def _rows_csv(data: str, path: Path) -> Iterable[str]:
    reader = csv.DictReader(io.StringIO(data))
    field = next((f for f in _FIELDS if f in (reader.fieldnames or [])), None)
    if field is None:
        raise UsageError(f"{path}: expected a {'/'.join(_FIELDS)} column")
    for row in reader:
        yield row[field] or ""


def load_outliers(
    paths: Sequence[str | Path], *, per_file: int | None = None, seed: int = 0
) -> list[str]:
    """Every distinct request in `paths` (order kept), one clear `UsageError` if unreadable.

    `per_file` keeps a seeded sample of at most that many from each file, so one big file
    (one language) does not crowd out the others.
    """
    out: dict[str, None] = {}
    for p in paths:
        mine: dict[str, None] = {}
        path = Path(p)
        raw = read_bounded(path, MAX_OUTLIER_BYTES)
        suffixes = [x.lower() for x in path.suffixes]
        if suffixes[-1:] == [".gz"]:  # e.g. SQuAD-it ships .json.gz
            try:
                raw = gzip.decompress(raw)[: MAX_OUTLIER_BYTES + 1]
            except (OSError, EOFError):
                raise UsageError(f"{path}: not a gzip file") from None
            suffixes = suffixes[:-1]
        data = raw.decode("utf-8", errors="replace")
        suffix = suffixes[-1] if suffixes else ""
        if suffix == ".jsonl":
            rows = _rows_jsonl(data, path)
        elif suffix == ".json":
            rows = _rows_squad(data, path)
        elif suffix == ".csv":
            rows = _rows_csv(data, path)
        else:
            rows = _rows_txt(data)
        for text in rows:
            text = " ".join(text.split())
            if 3 <= len(text) <= _MAX_CHARS and text not in out:
                mine.setdefault(text, None)
        kept = list(mine) if per_file is None else sample_outliers(list(mine), per_file, seed=seed)
        out.update(dict.fromkeys(kept))
    if not out:
        raise UsageError(f"no outlier requests in {', '.join(map(str, paths))}")
    return list(out)


def sample_outliers(texts: Sequence[str], n: int, *, seed: int = 0) -> list[str]:
    """A seeded sample of at most `n` texts (training cost grows with the corpus)."""
    if len(texts) <= n:
        return list(texts)
    return random.Random(seed).sample(list(texts), n)


def balanced_outliers(paths: Sequence[str | Path], n: int, *, seed: int = 0) -> list[str]:
    """A seeded sample of `n` requests with an equal share from each file (one language
    per file in the shipped corpus, so no language crowds out the others)."""
    per_file = -(-n // max(len(paths), 1))
    return sample_outliers(load_outliers(paths, per_file=per_file, seed=seed), n, seed=seed)


_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "azertyuiop", "qwertzuiop", "1234567890")


def synthetic_noise(n: int, *, seed: int = 0) -> list[str]:
    """`n` seeded strings of no language: a letter repeated, keyboard rows, random letters
    and digits. No question corpus has them, yet pasted junk ("xxxx...", "asdfasdf") must
    not look like a route's vocabulary to the char n-grams (exposure trains on both)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: list[str] = []
    while len(out) < n:
        kind = len(out) % 4
        if kind == 0:  # one letter repeated, sometimes in several "words"
            c = rng.choice(letters)
            out.append(" ".join(c * rng.randint(3, 40) for _ in range(rng.randint(1, 3))))
        elif kind == 1:  # a keyboard row mashed
            row = rng.choice(_KEYBOARD)
            i = rng.randrange(len(row) - 3)
            out.append(row[i : i + rng.randint(3, len(row) - i)] * rng.randint(1, 4))
        elif kind == 2:  # random letters in random-length words
            words = ["".join(rng.choices(letters, k=rng.randint(2, 12))) for _ in range(4)]
            out.append(" ".join(words[: rng.randint(1, 4)]))
        else:  # digits and symbols
            out.append("".join(rng.choices("0123456789#$%&*+-=?!.,", k=rng.randint(3, 30))))
    return list(dict.fromkeys(out))
