"""argparse types that refuse what a number flag cannot mean: NaN, infinities, negatives.

argparse reports a `type` that raises `ArgumentTypeError` as one line naming the flag
("argument --threshold: must be a finite number, got 'nan'") and exits 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

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


def positive_float(value: str) -> float:
    number = float(_number(value, float, "a positive number"))
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number


def unit_float(value: str) -> float:
    """A number in [0, 1] (thresholds, shares)."""
    number = float(_number(value, float, "a number between 0 and 1"))
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value!r}")
    return number


def positive_int(value: str) -> int:
    number = int(_number(value, int, "a positive whole number"))
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value!r}")
    return number


def non_negative_int(value: str) -> int:
    number = int(_number(value, int, "a whole number >= 0"))
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {value!r}")
    return number


def non_negative_float(value: str) -> float:
    number = float(_number(value, float, "a number >= 0"))
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {value!r}")
    return number
