"""Any model through LiteLLM: provider-prefixed names select ADK's `LiteLlm`, end to end over
HTTP against a local OpenAI-compatible stub (tool calls, transfer_to_agent, SSE streaming)."""

from __future__ import annotations

import json

import pytest

from coordinator.models.offline import OfflineLlm
from coordinator.models.roles import is_litellm_name, is_offline, resolve_model
from coordinator.settings import Settings, get_settings, reset_settings
from tests.openai_stub import OpenAIStub, last_user_text, text_message, tool_message


@pytest.fixture
def litellm_env(monkeypatch):
    def configure(base_url: str, **models: str) -> None:
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        monkeypatch.setenv("COORDINATOR_MODE", "auto")
        monkeypatch.setenv("COORDINATOR_LITELLM_API_BASE", base_url)
        monkeypatch.setenv("COORDINATOR_LITELLM_API_KEY", "sk-test-not-real")
        monkeypatch.setenv("COORDINATOR_MODEL_ROUTER", models.get("router", "openai/router-test"))
        monkeypatch.setenv("COORDINATOR_MODEL_FAST", models.get("fast", "openai/fast-test"))
        monkeypatch.setenv("COORDINATOR_MODEL_STRONG", models.get("strong", "openai/strong-test"))
        reset_settings()

    yield configure
    reset_settings()


@pytest.mark.parametrize(
    ("name", "litellm"),
    [
        ("openai/gpt-4o-mini", True),
        ("anthropic/claude-3-5-haiku-latest", True),
        ("ollama_chat/llama3.1", True),
        ("gemini/gemini-2.5-flash", True),
        ("gemini-2.5-flash", False),
        ("models/gemini-2.5-flash", False),
        ("projects/p/locations/l/publishers/google/models/gemini", False),
        ("/leading-slash", False),
    ],
)
def test_provider_prefix_means_litellm(name, litellm):
    assert is_litellm_name(name) is litellm


def test_offline_mode_wins_over_a_litellm_name(monkeypatch):
    from google.adk.models.lite_llm import LiteLlm

    policy = OfflineLlm(model="offline/x", policy=lambda req: None).policy
    s = Settings(COORDINATOR_MODE="offline", COORDINATOR_MODEL_FAST="openai/gpt-4o-mini")
    assert is_offline(resolve_model("cheap", name="x", policy=policy, settings=s))
    assert not s.use_remote_models
    s = Settings(COORDINATOR_MODE="auto", COORDINATOR_MODEL_FAST="openai/gpt-4o-mini")
    model = resolve_model("cheap", name="x", policy=policy, settings=s)
    assert isinstance(model, LiteLlm) and model.model == "openai/gpt-4o-mini"
    assert s.use_remote_models and not s.use_gemini
    # a role still named for Gemini, with no credentials, stays offline
    assert is_offline(resolve_model("strong", name="x", policy=policy, settings=s))


def test_litellm_does_not_fetch_its_cost_map(litellm_env, monkeypatch):
    import os

    from coordinator.models.roles import litellm_model

    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)
    litellm_model("openai/gpt-4o-mini", get_settings())
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


@pytest.mark.anyio
async def test_litellm_round_trip_tool_call_and_stream(litellm_env):
    from google.adk.models.llm_request import LlmRequest
    from google.genai import types

    from coordinator.models.roles import litellm_model

    def reply(body):
        if last_user_text(body) == "route me":
            return tool_message("transfer_to_agent", {"agent_name": "billing"})
        return text_message("a streamed answer in several pieces")

    with OpenAIStub(reply) as stub:
        litellm_env(stub.base_url)
        llm = litellm_model("openai/fast-test")

        def request(text: str) -> LlmRequest:
            return LlmRequest(
                model="openai/fast-test",
                contents=[types.Content(role="user", parts=[types.Part(text=text)])],
            )

        responses = [r async for r in llm.generate_content_async(request("route me"))]
        streamed = [r async for r in llm.generate_content_async(request("stream it"), stream=True)]
    call = responses[-1].content.parts[0].function_call
    assert (call.name, call.args) == ("transfer_to_agent", {"agent_name": "billing"})
    assert responses[-1].usage_metadata.total_token_count == 18
    partials = [r for r in streamed if r.partial]
    assert len(partials) >= 2  # really streamed, chunk by chunk
    assert "".join(p.content.parts[0].text for p in partials) == (
        "a streamed answer in several pieces"
    )
    assert streamed[-1].content.parts[0].text == "a streamed answer in several pieces"
    assert [b["stream"] for b in stub.requests if "stream" in b] == [True]
    assert stub.models_called() == ["fast-test", "fast-test"]


def _coordinator_reply(body):
    """Router: transfer to billing. Billing: call get_account, then answer from its result."""
    if body["model"] == "router-test":
        return tool_message("transfer_to_agent", {"agent_name": "billing"})
    tool_results = [m for m in body["messages"] if m.get("role") == "tool"]
    if not tool_results:
        return tool_message("get_account", {}, call_id="call_acct")
    result = json.loads(tool_results[-1]["content"])
    return text_message(f"{body['model']} read the account tool: {sorted(result)[0]}")


@pytest.mark.anyio
async def test_coordinator_on_litellm_routes_calls_a_tool_and_answers(litellm_env):
    from coordinator.api import Coordinator

    with OpenAIStub(_coordinator_reply) as stub:
        litellm_env(stub.base_url)
        coordinator = Coordinator()
        assert not coordinator.offline
        r = await coordinator.ask_async("something vague about my stuff", user_id="alice")
    assert r.route == "billing" and r.method == "llm"
    assert r.text.startswith("fast-test read the account tool: ")
    assert not r.offline and r.usage.llm_calls >= 3
    assert stub.models_called()[0] == "router-test"
    assert stub.models_called()[1:] == ["fast-test", "fast-test"]
    # the tool really ran: its JSON came back to the model as the tool message
    tool_msgs = [m for m in stub.requests[-1]["messages"] if m.get("role") == "tool"]
    assert tool_msgs and tool_msgs[-1]["tool_call_id"] == "call_acct"


@pytest.mark.anyio
async def test_coordinator_streams_over_sse_with_litellm(litellm_env):
    from google.adk.agents.run_config import RunConfig, StreamingMode
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    from agents.coordinator.agent import build_root_agent

    with OpenAIStub(_coordinator_reply) as stub:
        litellm_env(stub.base_url)
        runner = InMemoryRunner(agent=build_root_agent(), app_name="litellm_sse")
        session = await runner.session_service.create_session(
            app_name="litellm_sse", user_id="alice"
        )
        events = [
            e
            async for e in runner.run_async(
                user_id="alice",
                session_id=session.id,
                new_message=types.Content(
                    role="user", parts=[types.Part(text="something vague about my stuff")]
                ),
                run_config=RunConfig(streaming_mode=StreamingMode.SSE),
            )
        ]
    assert all(b.get("stream") for b in stub.requests)
    partial_text = "".join(
        p.text for e in events if e.partial and e.content for p in e.content.parts or [] if p.text
    )
    final = [e for e in events if e.is_final_response() and not e.partial]
    answer = final[-1].content.parts[0].text
    assert final[-1].author == "billing" and answer.startswith("fast-test read the account tool")
    assert partial_text == answer  # the answer arrived in streamed pieces first
    calls = [
        p.function_call.name
        for e in events
        if not e.partial
        for p in (e.content.parts if e.content else [])
        if p.function_call
    ]
    assert "get_account" in calls
