"""The one seam: the engine runs whatever application COORDINATOR_APP names."""

from __future__ import annotations

import pytest
from google.adk.agents import LlmAgent
from pydantic import BaseModel

from coordinator.app_spec import AppSpec, ReviewFlags, ReviewKindSpec, load_app
from coordinator.errors import UsageError
from coordinator.models.offline import OfflineLlm, last_user_text, text_response
from coordinator.settings import reset_settings

BUILT: list[str] = []


class EchoReport(BaseModel):
    words: int


def _echo_root(settings) -> LlmAgent:
    BUILT.append("root")
    model = OfflineLlm(
        model="offline/echo", policy=lambda req: text_response("echo: " + last_user_text(req))
    )
    return LlmAgent(name="echo_app", model=model, instruction="Repeat the request.")


def _count_words(**_options) -> LlmAgent:
    def policy(req):
        return text_response(str(len(last_user_text(req).split())))

    async def report(callback_context, llm_response):
        text = llm_response.content.parts[0].text
        callback_context.state["words:report"] = {"words": int(text)}

    return LlmAgent(
        name="count_words",
        model=OfflineLlm(model="offline/count", policy=policy),
        after_model_callback=report,
    )


def _words_options(flags: ReviewFlags) -> dict:
    if flags.voters != 3:
        raise UsageError("--voters means nothing to a word count")
    return {}


def build_app(settings=None) -> AppSpec:
    """A third-party application: no support agents, one review kind of its own."""
    return AppSpec(
        build_root_agent=_echo_root,
        review_kinds={
            "words": ReviewKindSpec(
                name="words",
                build_agent=_count_words,
                report_key="words:report",
                report_type=EchoReport,
                options=_words_options,
            )
        },
        demo_users=("zoe",),
    )


@pytest.fixture
def other_app(monkeypatch):
    monkeypatch.setenv("COORDINATOR_APP", f"{__name__}:build_app")
    reset_settings()
    yield
    reset_settings()


def test_the_default_app_is_the_support_coordinator_with_two_reviews():
    spec = load_app()
    assert set(spec.review_kinds) == {"contract", "security"}
    assert "alice" in spec.demo_users
    with pytest.raises(UsageError, match="--voters must be between 1 and 6"):
        spec.review_kinds["security"].options(ReviewFlags(voters=7))


@pytest.mark.anyio
async def test_coordinator_runs_the_app_the_setting_names(other_app):
    from coordinator.api import Coordinator

    BUILT.clear()
    reply = await Coordinator(warm_up=False).ask_async("hello there", user_id="zoe")
    assert BUILT == ["root"]
    assert reply.text == "echo: hello there" and reply.route == "echo_app"


@pytest.mark.anyio
async def test_review_runner_offers_the_app_s_kinds_only(other_app):
    from coordinator.parallel.review import run_review

    run = await run_review("words", "one two three four")
    assert run.report == EchoReport(words=4)
    with pytest.raises(UsageError, match="unknown review kind 'contract'; use one of words"):
        await run_review("contract", "THIS AGREEMENT ...")


def test_the_sample_contracts_path_names_the_contract_reviews_own_folder():
    """agents.app names the CUAD folder without importing the review; the two must agree."""
    from agents.app import CUAD_CONTRACTS, build_app
    from agents.contract_review.cuad import CUAD_DIR

    assert CUAD_CONTRACTS == CUAD_DIR / "contracts"
    assert len(build_app().sample_documents) >= 10
