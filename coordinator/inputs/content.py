"""The user's words out of an ADK `Content`, in one place.

Every stage that reads a request (guard, cascade, offline policies, review agents) must see
the same text, so a message's parts are joined and stripped the same way everywhere.
"""

from __future__ import annotations

from google.genai import types

__all__ = ["user_text"]


def user_text(content: types.Content | None, *, raw: bool = False) -> str:
    """The text parts of `content`, one per line, stripped ("" for None or no text).

    `raw`: the parts exactly as sent, joined with nothing: a document's offsets and
    leading whitespace are data (the review agents split and quote it)."""
    if content is None:
        return ""
    texts = [p.text for p in content.parts or [] if p.text]
    return "".join(texts) if raw else "\n".join(texts).strip()
