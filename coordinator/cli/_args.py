"""argparse types that refuse what a number flag cannot mean: NaN, infinities, negatives.

argparse reports a `type` that raises `ArgumentTypeError` as one line naming the flag
("argument --threshold: must be a finite number, got 'nan'") and exits 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "finite_float",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "unit_float",
]


def _number(value: str, cast: Callable[[str], float | int], what: str) -> float | int:
    try:
        number = cast(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {value!r}")
    return number


def finite_float(value: str) -> float:
    return float(_number(value, float, "a number"))


def _bounded(
    value: str, cast: Callable[[str], float | int], what: str, ok: Callable[[float], bool]
) -> float | int:
    """`value` as a number that passes `ok`, else one line: "must be <what>, got ..."."""
    number = cast(_number(value, cast, what))
    if not ok(number):
        raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}")
    return number


def positive_float(value: str) -> float:
    return float(_bounded(value, float, "a positive number", lambda n: n > 0))


def unit_float(value: str) -> float:
    """A number in [0, 1] (thresholds, shares)."""
    return float(_bounded(value, float, "a number between 0 and 1", lambda n: 0 <= n <= 1))


def positive_int(value: str) -> int:
    return int(_bounded(value, int, "a positive whole number", lambda n: n >= 1))


def non_negative_int(value: str) -> int:
    return int(_bounded(value, int, "a whole number >= 0", lambda n: n >= 0))


def non_negative_float(value: str) -> float:
    return float(_bounded(value, float, "a number >= 0", lambda n: n >= 0))


def add_outlier_args(p: argparse.ArgumentParser, what: str) -> None:
    """`--outliers FILE` (repeatable) and `--outlier-sample N`, for `routes train` and
    `bench routing` alike."""
    p.add_argument(
        "--outliers",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=f"generic-request corpus (.txt/.jsonl/.csv/SQuAD .json, .gz too): {what}; "
        "repeatable (docs/benchmarks.md)",
    )
    p.add_argument(
        "--outlier-sample",
        type=positive_int,
        default=3000,
        help="outlier requests drawn (seeded, an equal share per file; default 3000)",
    )
