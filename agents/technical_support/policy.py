"""Offline behaviour of the technical support specialist: search the knowledge base with
the customer's words, then answer with the steps of the best article, citing its title."""

from __future__ import annotations

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from agents._specialist import KB_MIN_SCORE as MIN_SCORE
from agents._specialist import RELATED_SCORE, answer_from_articles
from coordinator import (
    function_call,
    function_responses,
    last_user_text,
    text_response,
)

__all__ = ["MIN_SCORE", "RELATED_SCORE", "answer_from_articles", "policy"]

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
