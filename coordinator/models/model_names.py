"""Which backend a configured model name means (no imports: settings use it too).

A LiteLLM name carries its provider as a prefix, ``provider/model`` (``openai/gpt-4o-mini``,
``anthropic/claude-...``, ``ollama_chat/llama3``); a bare name (``gemini-2.5-flash``) or a
Gemini resource path (``models/...``, ``projects/...``) is a Gemini model.
"""

from __future__ import annotations

__all__ = ["is_litellm_name"]

_GEMINI_PATHS = ("models/", "tunedModels/", "projects/", "publishers/")


def is_litellm_name(name: str) -> bool:
    head, sep, tail = name.partition("/")
    return bool(sep and head and tail) and not name.startswith(_GEMINI_PATHS)
