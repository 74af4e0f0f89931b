"""Labelled CSV tables of the benchmarks (confirmations, messy traffic), read one way.

Every row is validated by a pydantic model; a bad file or row is one `UsageError` naming
the file and line, never a traceback, so `coordinator bench ... --table FILE` exits 2.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from coordinator.errors import UsageError

__all__ = ["read_table"]

M = TypeVar("M", bound=BaseModel)


def read_table(
    path: Path,
    model: type[M],
    columns: Iterable[str],
    check: Callable[[M], str | None] | None = None,
) -> list[M]:
    """The rows of `path` as `model`s; `columns` must be present; `check(row)` may name
    what else is wrong with a valid row (the message follows `path:line:`)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = set(columns) - set(reader.fieldnames or ())
            if missing:
                raise UsageError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            rows = []
            for row in reader:
                try:
                    parsed = model(**{k: v or "" for k, v in row.items() if k})
                except ValidationError as exc:
                    why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                    raise UsageError(f"{path}:{reader.line_num}: {why}") from None
                problem = check(parsed) if check else None
                if problem:
                    raise UsageError(f"{path}:{reader.line_num}: {problem}")
                rows.append(parsed)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: not a UTF-8 CSV table ({exc})") from None
    if not rows:
        raise UsageError(f"{path}: no rows")
    return rows
