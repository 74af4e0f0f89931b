"""Replies follow the user's language: offline notice in that language, Gemini told it."""

from __future__ import annotations

import pytest

from coordinator.routing.language import OFFLINE_NOTICES, answer_in_instruction, offline_notice
from coordinator.settings import reset_settings
from tests.gemini_stub import GeminiStub, last_user_text, text_content

REQUESTS = {
    "es": ("Me cobraron dos veces la suscripción este mes", "billing"),
    "de": ("Ich möchte mein Geld für die Bestellung 1002 zurück", "refund"),
    "fr": ("L'application plante à chaque fois que je me connecte", "technical_support"),
    "pt": ("Fui cobrado duas vezes pela assinatura este mês", "billing"),
    "it": ("Il prodotto è arrivato rotto e voglio un rimborso", "refund"),
}


def test_notice_and_instruction_only_for_other_languages():
    assert offline_notice("en") is None and offline_notice(None) is None
    assert answer_in_instruction("en") is None
    assert offline_notice("es") == "(Respondo en inglés en modo sin conexión.)"
    assert "Spanish" in answer_in_instruction("es")
    assert set(REQUESTS) <= set(OFFLINE_NOTICES)


@pytest.mark.anyio
@pytest.mark.parametrize("lang", sorted(REQUESTS))
async def test_offline_reply_says_in_the_users_language_that_it_answers_in_english(lang):
    from coordinator.api import Coordinator

    text, route = REQUESTS[lang]
    answer = await Coordinator().ask_async(text, user_id=f"lang-{lang}")
    assert answer.route == route
    assert answer.text.startswith(OFFLINE_NOTICES[lang] + " ")
    assert len(answer.text) > len(OFFLINE_NOTICES[lang]) + 20  # and then it answers


@pytest.mark.anyio
async def test_english_offline_reply_has_no_notice():
    from coordinator.api import Coordinator

    answer = await Coordinator().ask_async("I want my money back for order 1001", user_id="en")
    assert answer.route == "refund"
    assert not answer.text.startswith("(")


def _system_instruction(body) -> str:
    parts = (body.get("systemInstruction") or {}).get("parts", [])
    return "\n".join(p.get("text", "") for p in parts)


@pytest.mark.anyio
async def test_gemini_specialist_is_told_the_detected_language(monkeypatch):
    from coordinator.api import Coordinator

    seen: dict[str, str] = {}

    def reply(body, model):
        seen[last_user_text(body)] = _system_instruction(body)
        return text_content("ok")

    with GeminiStub(reply) as stub:
        monkeypatch.setenv("COORDINATOR_MODE", "auto")
        monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-real")
        monkeypatch.setenv("COORDINATOR_GEMINI_BASE_URL", stub.base_url)
        reset_settings()
        c = Coordinator()
        spanish = await c.ask_async(REQUESTS["es"][0], user_id="es")
        english = await c.ask_async("I was charged twice for my subscription", user_id="en")
    assert (spanish.route, english.route) == ("billing", "billing")
    assert spanish.text == "ok"  # the model's answer, no offline notice
    es_instruction = seen[REQUESTS["es"][0]]
    assert "Answer in Spanish" in es_instruction and "detected language: es" in es_instruction
    assert "Answer in" not in seen["I was charged twice for my subscription"]
