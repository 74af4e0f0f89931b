"""What counts as a request: checked before anything heavy is imported or stored.

Lives apart from `coordinator.api` so the CLI can refuse bad input without importing ADK
(`coordinator.api` re-exports `validate_request`).
"""

from __future__ import annotations

from typing import Any

from coordinator.errors import UsageError

__all__ = ["validate_request"]


def validate_request(text: Any, max_chars: int) -> str:
    """Reject what cannot be a request; `UsageError` says why in one line."""
    if not isinstance(text, str):
        raise UsageError(f"request must be text, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # e.g. undecodable argv bytes arrive as lone surrogates
        raise UsageError("request is not valid UTF-8 text") from None
    if "\x00" in text:
        text = text.replace("\x00", "")
    stripped = text.strip()
    if not stripped:
        raise UsageError("empty request: say what you need help with")
    if len(stripped) > max_chars:
        raise UsageError(
            f"request is {len(stripped):,} characters; the limit is {max_chars:,} "
            "(COORDINATOR_MAX_REQUEST_CHARS). For documents use `coordinator review FILE`."
        )
    return stripped
