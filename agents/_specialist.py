"""What the four support specialists share: how they are assembled, and small helpers for
their offline policies.

A specialist is an `LlmAgent` whose description comes from the routes file (the same text
the router and the root LLM see), whose model comes from `resolve_model` (Gemini with the
prompt, or the offline policy), and which never transfers on its own: the root coordinator
re-routes every user turn, so `disallow_transfer_to_parent/peers` are set.

Replies follow the user's language: a real model is told the detected language in its
system instruction; an offline policy (English only) gets a one-sentence notice in the
user's language before its answer.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models.llm_response import LlmResponse
from google.genai import types

from coordinator import (
    LAST_DECISION_KEY,
    Policy,
    RouteSet,
    Settings,
    answer_in_instruction,
    detect_language,
    get_settings,
    is_offline,
    is_relayed,
    load_routes,
    model_response,
    offline_notice,
    resolve_model,
)

__all__ = [
    "KB_MIN_SCORE",
    "RELATED_SCORE",
    "answer_from_articles",
    "build_specialist",
    "bullets",
    "find",
    "honest_model_failure",
    "previous_result",
    "routes_for",
]

log = logging.getLogger(__name__)


def routes_for(settings: Settings) -> RouteSet:
    return load_routes(settings.routes_file)


def build_specialist(
    name: str,
    *,
    prompt: str,
    policy: Policy,
    tools: Iterable[Callable[..., Any]],
    settings: Settings | None = None,
    routes: RouteSet | None = None,
) -> LlmAgent:
    """An `LlmAgent` named `name`, wired the way every support specialist is."""
    s = settings or get_settings()
    routes = routes or routes_for(s)
    try:
        description = routes.description(name)
    except KeyError:  # a custom routes file without this route: the agent still works
        description = f"The {name.replace('_', ' ')} specialist."
    route = routes.get(name)
    role = "strong" if route is not None and route.tier == "strong" else "cheap"
    model = resolve_model(role, name=name, policy=policy, settings=s)
    offline = is_offline(model)
    tiered = route is not None and route.tier == "auto" and not offline
    before = [_tier_model(s)] if tiered else []
    if not offline:
        before.append(_answer_in_user_language)
    return LlmAgent(
        name=name,
        description=description,
        instruction=prompt,
        model=model,
        tools=list(tools),
        before_model_callback=before or None,
        after_model_callback=_offline_language_notice if offline else None,
        on_model_error_callback=honest_model_failure(name),
        disallow_transfer_to_parent=True,
        disallow_transfer_to_peers=True,
    )


def _tier_model(s: Settings):
    """Per request, use the strong model when the router judged the request complex.

    Offline there is one local policy per agent, so the tier is only recorded.
    """

    def choose(callback_context, llm_request):
        decision = callback_context.state.get(LAST_DECISION_KEY) or {}
        tier = decision.get("tier")
        if tier in ("cheap", "strong"):
            llm_request.model = s.model_strong if tier == "strong" else s.model_fast
        return None

    return choose


@functools.lru_cache(maxsize=512)
def _language_of(text: str) -> str | None:
    return detect_language(text)


def _user_language(callback_context) -> str | None:
    content = callback_context.user_content
    text = " ".join(p.text for p in (content.parts or []) if p.text) if content else ""
    return _language_of(text[:2000]) if text.strip() else None


def _answer_in_user_language(callback_context, llm_request):
    """Tell the model which language the user wrote in (system instruction)."""
    line = answer_in_instruction(_user_language(callback_context))
    if line:
        llm_request.append_instructions([line])
    return None


def _offline_language_notice(callback_context, llm_response: LlmResponse):
    """Offline answers are English: say so first, in the user's language."""
    parts = llm_response.content.parts if llm_response.content else None
    if not parts or any(p.function_call for p in parts) or not parts[0].text:
        return None
    notice = offline_notice(_user_language(callback_context))
    if notice and not parts[0].text.startswith(notice):
        parts[0].text = f"{notice} {parts[0].text}"
    return None


def honest_model_failure(name: str):
    """When the model fails after its retries, answer honestly instead of crashing.

    The user's message is already in the session, so they can simply ask again; the
    error class (e.g. 503, timeout) is named, the traceback is not shown.
    """

    def on_error(callback_context, llm_request, error: Exception):
        log.warning("%s: model call failed: %s: %s", name, type(error).__name__, error)
        code = getattr(error, "code", None)
        what = f"{type(error).__name__}{f' {code}' if code else ''}"
        return model_response(
            types.Part(
                text=f"Sorry, the {name.replace('_', ' ')} assistant's model is "
                f"unavailable right now ({what}). Your message is saved; please try "
                "again in a moment."
            ),
            model_error=what,
        )

    return on_error


def find(pattern: str, text: str) -> bool:
    """Case-insensitive regex search (offline intent detection)."""
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def bullets(lines: Iterable[str], numbered: bool = False) -> str:
    return "\n".join(
        f"{i}. {line}" if numbered else f"- {line}" for i, line in enumerate(lines, start=1)
    )


def previous_result(req: Any, tool: str) -> dict[str, Any] | None:
    """The latest result of `tool` in the turn before the latest user message (what the
    customer is answering when they say "yes" or "no")."""
    seen_user = 0
    for content in reversed(req.contents):
        is_user_text = (
            content.role == "user"
            and any(p.text for p in content.parts or [])
            and not is_relayed(content)
        )
        if is_user_text:
            seen_user += 1
            if seen_user == 2:
                break
            continue
        if seen_user != 1:
            continue
        for part in reversed(content.parts or []):
            fr = part.function_response
            if fr is not None and fr.name == tool:
                return dict(fr.response or {})
    return None


# Knowledge-base answers, shared by technical support, billing and general (peers never
# import each other).
KB_MIN_SCORE = 0.35  # below this the best article is not about the customer's problem
RELATED_SCORE = 0.5  # a second article this good is worth pointing to


def answer_from_articles(
    articles: list[dict[str, Any]], min_score: float = KB_MIN_SCORE
) -> str | None:
    """The steps of the best article (None when nothing scores `min_score`)."""
    if not articles or articles[0]["score"] < min_score:
        return None
    best = articles[0]
    heading = f" ({best['section']})" if best["section"] not in ("", "Steps") else ""
    body = bullets(best["steps"], numbered=True) if best["steps"] else best["text"]
    text = f'From our help article "{best["title"]}"{heading}:\n{body}'
    related = [a["title"] for a in articles[1:] if a["score"] >= RELATED_SCORE]
    if related:
        text += "\n\nRelated: " + "; ".join(f'"{t}"' for t in related) + "."
    return text
