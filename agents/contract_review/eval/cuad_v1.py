"""Reading a CUAD v1 copy: label rows joined to contract texts by file stem.

Every build and score reads CUAD through here, so they agree on which contracts exist and what
each is called. A contract is named by the stem of its text file (``full_contract_txt/X.txt``
-> ``X``). `master_clauses.csv` spells 11 of the 510 names differently from the text files
(``&`` and ``'`` written ``_``, a trailing space or ``-``, a decomposed accent); `stem_key`
folds those, so all 510 rows find their text.
"""

from __future__ import annotations

import csv
import io
import subprocess
import tarfile
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from coordinator import UsageError

__all__ = [
    "CuadSource",
    "check_cuad_dir",
    "read_cuad",
    "read_stem_list",
    "resolve_stems",
    "stem_key",
]


def stem_key(name: str) -> str:
    """The spelling-insensitive key of a contract name (CSV ``Filename`` stem or text stem)."""
    key = unicodedata.normalize("NFC", name).replace("&", "_").replace("'", "_")
    return key.strip().rstrip("-").strip()


@dataclass(frozen=True)
class CuadSource:
    """The contracts of a CUAD copy that have both a label row and a text, by text stem."""

    rows: Mapping[str, dict[str, str]]
    texts: Mapping[str, str]
    unmatched: tuple[str, ...] = ()
    """CSV rows with no text (named by their ``Filename`` stem)."""

    @property
    def stems(self) -> list[str]:
        return sorted(self.rows)


def check_cuad_dir(path: str | Path, texts: str = "full_contract_txt") -> Path:
    """``path`` if it holds ``master_clauses.csv`` and the ``texts`` folder, else `UsageError`
    (one line for the eval commands, instead of a traceback half-way through a build)."""
    path = Path(path)
    for need in ("master_clauses.csv", texts):
        if not (path / need).exists():
            raise UsageError(f"{path}: not a CUAD directory (no {need})")
    return path


def _from_git(source: Path) -> tuple[list[dict[str, str]], dict[str, str]]:
    blob = subprocess.run(
        [
            "git",
            f"--git-dir={source}",
            "archive",
            "HEAD",
            "master_clauses.csv",
            "full_contract_txt",
        ],
        check=True,
        capture_output=True,
    ).stdout
    rows: list[dict[str, str]] = []
    texts: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        for m in tar.getmembers():
            fh = tar.extractfile(m) if m.isfile() else None
            if fh is None:
                continue
            data = fh.read().decode("utf-8", errors="replace")
            if m.name == "master_clauses.csv":
                rows = list(csv.DictReader(io.StringIO(data)))
            elif m.name.endswith(".txt"):
                texts[Path(m.name).stem] = data
    return rows, texts


def read_cuad(source: str | Path) -> CuadSource:
    """A CUAD v1 directory (``master_clauses.csv`` + ``full_contract_txt/``; the shipped
    sample's ``contracts/`` layout also works) or a bare git repository holding them."""
    source = Path(source)
    if (source / "master_clauses.csv").exists():
        with (source / "master_clauses.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        text_dir = source / "full_contract_txt"
        if not text_dir.is_dir():  # the layout of data/cuad (the shipped sample)
            text_dir = source / "contracts"
        texts = {
            p.stem: p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(text_dir.glob("*.txt"))
        }
    else:
        rows, texts = _from_git(source)
    by_key = {stem_key(s): s for s in texts}
    matched: dict[str, dict[str, str]] = {}
    unmatched = []
    for row in rows:
        name = Path(row["Filename"]).stem
        stem = by_key.get(stem_key(name))
        if stem is None:
            unmatched.append(name)
        else:
            matched[stem] = row
    return CuadSource(
        rows=matched, texts={s: texts[s] for s in sorted(matched)}, unmatched=tuple(unmatched)
    )


def read_stem_list(path: str | Path) -> list[str]:
    """Contract stems from a list file: one a line; lines starting with ``#`` and blank lines
    are ignored (not inline comments: CUAD names hold ``#``, as in "AMENDMENT #2")."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such exclude file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the exclude file ({exc})") from None
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def resolve_stems(names: Iterable[str], known: Iterable[str], origin: str) -> list[str]:
    """``names`` as the stems of ``known`` (spelling folded by `stem_key`); an unknown name is
    a `UsageError` naming ``origin`` (the list file) and the first few unknown names."""
    by_key = {stem_key(s): s for s in known}
    out, unknown = [], []
    for name in names:
        stem = by_key.get(stem_key(name))
        (unknown if stem is None else out).append(name if stem is None else stem)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise UsageError(f"{origin}: {len(unknown)} stem(s) not in this CUAD copy: {shown}")
    return sorted(set(out))
