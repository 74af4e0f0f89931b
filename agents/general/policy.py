"""Offline behaviour of the catch-all agent: answer from the knowledge base when an article
is relevant, otherwise say honestly what this offline assistant can help with (listing the
specialists from the routes file). It never fails to answer."""

from __future__ import annotations

import re

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from agents._specialist import answer_from_articles, bullets
from coordinator import (
    Policy,
    RouteSet,
    function_call,
    function_responses,
    last_user_text,
    text_response,
)

__all__ = ["MIN_SCORE", "make_policy"]

MIN_SCORE = 0.5  # stricter than technical support: the request was not routed as a KB topic


def _capabilities(routes: RouteSet) -> str:
    return bullets(" ".join(r.description.split()) for r in routes.scored)


_GREETING = re.compile(
    r"^\W*(hi|hello|hey|hiya|good (morning|afternoon|evening)|greetings)\b", re.I
)
_THANKS = re.compile(r"\b(thanks|thank you|that'?s all|bye|goodbye|cheers)\b", re.I)


def _small_talk(text: str) -> str | None:
    """A greeting or a goodbye gets a friendly reply, not a knowledge-base miss."""
    if len(text) > 80:
        return None
    if _THANKS.search(text):
        return "You're welcome! If anything else comes up, I can help with:"
    if _GREETING.search(text):
        return "Hello! I'm the support assistant. I can help with:"
    return None


def make_policy(routes: RouteSet) -> Policy:
    """The policy, closed over the routes it advertises."""
    capabilities = _capabilities(routes)

    def policy(req: LlmRequest) -> LlmResponse:
        text = last_user_text(req)
        small_talk = _small_talk(text)
        if small_talk is not None:
            return text_response(small_talk + "\n" + capabilities)
        found = function_responses(req).get("search_knowledge_base")
        if found is None and text:
            return function_call("search_knowledge_base", {"query": text, "max_results": 3})
        answer = None
        if found and found.get("status") == "ok":
            answer = answer_from_articles(found.get("articles") or [], min_score=MIN_SCORE)
        if answer is not None:
            return text_response(answer)
        return text_response(
            "I'm the offline support assistant, and I don't have an answer for that. "
            "I can help with:\n" + capabilities + "\nTell me what you need in those terms."
        )

    return policy
