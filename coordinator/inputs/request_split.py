"""A user message as (request line, document): the document is data, never instructions.

The cascade and the review agents both need to know where a pasted document starts, and
must agree, so the rule lives here once.
"""

from __future__ import annotations

import re

__all__ = ["split_request"]

_REQUEST_VERBS = re.compile(
    r"^\s*(?:please\s+)?(?:review|check|analy[sz]e|audit|scan|look at|find|go through|"
    r"can you|could you|is|are|does|do|what|which|tell me|flag|summari[sz]e|judge)\b",
    re.I,
)


def split_request(message: str) -> tuple[str | None, str]:
    """(request line, document) of a user message.

    A short first line that reads like a request ("review this contract:", "is this
    vulnerable?") followed by more text is the request; the rest is the document. Anything
    else is all document. The document is data either way: it is never interpreted.
    """
    head, sep, rest = message.partition("\n")
    if sep and rest.strip() and len(head) <= 200:
        stripped = head.strip()
        looks_like_request = stripped.endswith(("?", ":")) or _REQUEST_VERBS.match(stripped)
        if looks_like_request and not re.search(r"[;{}=]|\bdef\b|\bimport\b", stripped):
            return stripped, rest
    return None, message
