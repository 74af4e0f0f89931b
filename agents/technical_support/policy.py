"""Offline behaviour of the technical support specialist: search the knowledge base with
the customer's words, then answer with the steps of the best article, citing its title."""

from __future__ import annotations

from typing import Any

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from agents._specialist import bullets
from coordinator.models.offline import (
    function_call,
    function_responses,
    last_user_text,
    text_response,
)

__all__ = ["MIN_SCORE", "RELATED_SCORE", "answer_from_articles", "policy"]

MIN_SCORE = 0.35  # below this the best article is not about the customer's problem
RELATED_SCORE = 0.5  # a second article this good is worth pointing to


def answer_from_articles(
    articles: list[dict[str, Any]], min_score: float = MIN_SCORE
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


def policy(req: LlmRequest) -> LlmResponse:
    """Search first; answer from the articles found, or ask for details when none fits."""
    results = function_responses(req)
    text = last_user_text(req)
    found = results.get("search_knowledge_base")
    if found is None:
        if not text:
            return text_response("Please describe the problem you are seeing.")
        return function_call("search_knowledge_base", {"query": text, "max_results": 3})
    if found.get("status") != "ok":
        return text_response(f"I couldn't search the help articles: {found.get('message')}")
    answer = answer_from_articles(found.get("articles") or [])
    if answer is None:
        return text_response(
            "I couldn't find a help article that matches this problem. Please send the exact "
            "error message, your device and operating system, and the app version "
            "(Settings > About), and I'll look further."
        )
    return text_response(
        answer + "\n\nIf the problem persists, tell me what you see after these steps."
    )
