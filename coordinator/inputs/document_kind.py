"""Is a document legal prose or code? (`coordinator review --kind auto`)."""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["DocumentKind", "detect_kind"]

DocumentKind = Literal["contract", "security"]

_CODE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|function |const |let |var |#include|"
    r"public |package |SELECT |<\?php|#!/|[\w.]+\s*=\s*\S|[}{]\s*$)|\w\(.*\)\s*;?\s*$",
    re.M,
)
_LEGAL = re.compile(
    r"\b(?:agreement|shall|party|parties|hereto|hereby|hereinafter|whereas|licensor|"
    r"licensee|indemnif\w*|termination|governing law|warrant\w*)\b",
    re.I,
)


def detect_kind(text: str) -> DocumentKind:
    """Contract (legal prose) or security (code/config), from line shapes and legal words."""
    sample = text[:20_000]
    lines = max(1, sum(1 for line in sample.splitlines() if line.strip()))
    code = len(_CODE.findall(sample)) / lines
    legal = len(_LEGAL.findall(sample)) / max(1, len(sample.split())) * 100
    return "security" if code > 0.3 and legal < 2.0 else "contract"
