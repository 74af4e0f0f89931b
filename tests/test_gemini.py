"""The Gemini path, end to end over HTTP against a local generateContent stub."""

from __future__ import annotations

import pytest

from coordinator.settings import get_settings, reset_settings
from tests.gemini_stub import GeminiStub, call_content, last_user_text, text_content


@pytest.fixture
def gemini_env(monkeypatch):
    def configure(base_url: str) -> None:
        monkeypatch.setenv("COORDINATOR_MODE", "auto")
        monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-real")
        monkeypatch.setenv("COORDINATOR_GEMINI_BASE_URL", base_url)
        monkeypatch.setenv("COORDINATOR_MODEL_ROUTER", "gemini-router-test")
        monkeypatch.setenv("COORDINATOR_MODEL_FAST", "gemini-fast-test")
        monkeypatch.setenv("COORDINATOR_MODEL_STRONG", "gemini-strong-test")
        reset_settings()

    return configure


def test_key_present_selects_gemini(monkeypatch):
    monkeypatch.setenv("COORDINATOR_MODE", "auto")
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    reset_settings()
    assert get_settings().use_gemini
    monkeypatch.delenv("GOOGLE_API_KEY")
    reset_settings()
    assert not get_settings().use_gemini


@pytest.mark.anyio
async def test_gemini_model_round_trip_with_function_call(gemini_env):
    from google.adk.models.llm_request import LlmRequest
    from google.genai import types

    from coordinator.models.roles import gemini_model

    def reply(body, model):
        assert last_user_text(body) == "route me"
        return call_content("transfer_to_agent", {"agent_name": "billing"})

    with GeminiStub(reply) as stub:
        gemini_env(stub.base_url)
        llm = gemini_model("gemini-router-test")
        req = LlmRequest(
            model="gemini-router-test",
            contents=[types.Content(role="user", parts=[types.Part(text="route me")])],
        )
        responses = [r async for r in llm.generate_content_async(req)]
    call = responses[-1].content.parts[0].function_call
    assert (call.name, call.args) == ("transfer_to_agent", {"agent_name": "billing"})
    assert responses[-1].usage_metadata.total_token_count == 18
    assert stub.models_called() == ["gemini-router-test"]


@pytest.mark.anyio
async def test_coordinator_on_gemini_llm_routes_unsure_and_specialist_answers(gemini_env):
    """Unsure text -> the root *model* (Gemini) returns transfer_to_agent -> specialist."""
    from coordinator.api import Coordinator

    def reply(body, model):
        if model == "gemini-router-test":
            return call_content("transfer_to_agent", {"agent_name": "billing"})
        return text_content(f"{model} answering: {last_user_text(body)}")

    with GeminiStub(reply) as stub:
        gemini_env(stub.base_url)
        coordinator = Coordinator()
        r = await coordinator.ask_async("something vague about my stuff", user_id="alice")
        assert r.route == "billing"
        assert r.method == "llm"
        assert r.text == "gemini-fast-test answering: something vague about my stuff"
        assert not r.offline
        assert stub.models_called()[0] == "gemini-router-test"

        # Confident text: the cascade transfers itself, the router model is never called.
        before = len(stub.requests)
        r2 = await coordinator.ask_async("I was charged twice this month", user_id="alice")
        assert r2.route == "billing" and r2.method in ("embedding", "classifier")
        assert "gemini-router-test" not in stub.models_called()[before:]
        assert r2.usage.llm_calls >= 1 and r2.usage.tokens >= 18


@pytest.mark.anyio
async def test_gemini_llm_naming_unknown_agent_falls_back(gemini_env):
    from coordinator.api import Coordinator

    def reply(body, model):
        if model == "gemini-router-test":
            return call_content("transfer_to_agent", {"agent_name": "horoscopes"})
        return text_content("general here")

    with GeminiStub(reply) as stub:
        gemini_env(stub.base_url)
        r = await Coordinator().ask_async("what is the capital of France", user_id="alice")
    assert r.route == "general"
    assert r.text == "general here"


COMPLEX_TECH = (
    "After upgrading to version 4.2 the desktop client crashes on startup with a segfault in "
    "libssl; I already reinstalled, cleared the cache and disabled the proxy. Is this related "
    "to the TLS 1.3 change, and how do I collect a stack trace? Also, why does sync fail with "
    "error 500 afterwards?"
)


@pytest.mark.anyio
async def test_complexity_tier_picks_the_model_per_request(gemini_env):
    """technical_support has tier `auto`: easy requests use the fast model, hard ones strong."""
    from coordinator.api import Coordinator

    def reply(body, model):
        return text_content(f"answered by {model}")

    with GeminiStub(reply) as stub:
        gemini_env(stub.base_url)
        c = Coordinator()
        easy = await c.ask_async("the app crashes every time I log in", user_id="alice")
        hard = await c.ask_async(COMPLEX_TECH, user_id="alice")
    assert (easy.route, hard.route) == ("technical_support", "technical_support")
    assert easy.text == "answered by gemini-fast-test"
    assert hard.text == "answered by gemini-strong-test"


def test_gemini_embeddings_route_when_configured(gemini_env, monkeypatch):
    """COORDINATOR_ENCODER=gemini: routing embeds through the embedContent API."""
    from coordinator.routing import encoder as enc
    from coordinator.routing.router import EmbeddingRouter
    from coordinator.routing.routes import load_routes

    with GeminiStub(lambda body, model: text_content("unused")) as stub:
        gemini_env(stub.base_url)
        monkeypatch.setenv("COORDINATOR_ENCODER", "gemini")
        monkeypatch.setenv("COORDINATOR_EMBEDDING_MODEL", "embed-test")
        reset_settings()
        enc._load_gemini.cache_clear()
        assert isinstance(enc.routing_encoder(), enc.GeminiEncoder)
        router = EmbeddingRouter(load_routes())
        decision = router.route("my invoice amount looks wrong this month")
        verbs = {(m, v) for m, v, _ in stub.requests}
    assert ("embed-test", "batchEmbedContents") in verbs
    assert decision.route == "billing"
    assert router.encoder.dim == 64  # the stub's vectors, not WordLlama's 256
    enc._load_gemini.cache_clear()
