"""Routers: representative requests, out-of-scope rejection, calibration, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coordinator.errors import ConfigError, UsageError
from coordinator.routing.classifier import ClassifierRouter, read_manifest, threshold_for_retention
from coordinator.routing.router import Decision, EmbeddingRouter, LlmRouter, Router, build_router
from coordinator.routing.routes import RouteSet, load_routes
from tests.fakes import ScriptedLlm

REPRESENTATIVE = [
    ("I was charged twice for my subscription this month", "billing"),
    ("my payment keeps getting declined at checkout", "billing"),
    ("I want my money back for order 1001", "refund"),
    ("has my reimbursement been processed yet", "refund"),
    ("the app crashes every time I open it", "technical_support"),
    ("I forgot my password and cannot log in", "technical_support"),
]
OUT_OF_SCOPE = ["what's the weather in Paris tomorrow", "tell me a joke about cats"]
METHODS = {"embedding", "classifier", "llm", "fallback"}


@pytest.fixture(scope="module")
def routes() -> RouteSet:
    return load_routes()


@pytest.fixture(scope="module")
def classifier(routes) -> ClassifierRouter:
    router = build_router(routes, method="classifier")  # cached: `auto` below reuses it
    assert isinstance(router, ClassifierRouter)
    return router


@pytest.fixture(scope="module")
def embedding(routes) -> EmbeddingRouter:
    return EmbeddingRouter(routes)


@pytest.mark.parametrize("text,expected", REPRESENTATIVE)
@pytest.mark.parametrize("kind", ["embedding", "classifier"])
def test_representative_requests(request, kind, text, expected):
    router = request.getfixturevalue(kind)
    d = router.route(text)
    assert isinstance(router, Router)
    assert d.method == kind and d.method in METHODS
    assert (d.route, d.candidate, d.confident) == (expected, expected, True)
    assert set(d.scores) == {r.name for r in router.routes.scored}
    assert 0.0 <= d.confidence <= 1.0


@pytest.mark.parametrize("text", OUT_OF_SCOPE)
@pytest.mark.parametrize("kind", ["embedding", "classifier"])
def test_out_of_scope_goes_to_fallback(request, kind, text):
    d = request.getfixturevalue(kind).route(text)
    assert d.route == "general" and not d.confident
    assert d.candidate != "general"  # the best in-scope guess is still reported


def test_classifier_probabilities_are_a_distribution(classifier):
    s = classifier.scores("refund order 1002 please")
    assert sum(s.values()) == pytest.approx(1.0, abs=1e-4)
    assert max(s, key=s.get) == "refund"


def test_threshold_comes_from_data_and_moves_with_target_retention(routes, classifier):
    loose, strict = classifier.calibrate(0.80), classifier.calibrate(0.99)
    assert loose > strict  # keeping more in-scope traffic needs a lower bar
    assert classifier.threshold == pytest.approx(classifier.calibrate(0.95))
    kept = np.mean(classifier.cv_scores >= classifier.threshold)
    assert 0.95 <= kept < 1.0
    e80 = EmbeddingRouter(routes, target_retention=0.80).threshold
    e99 = EmbeddingRouter(routes, target_retention=0.99).threshold
    assert e80 > e99
    assert threshold_for_retention([0.1, 0.2, 0.3, 0.4], 0.75) == pytest.approx(0.2)
    with pytest.raises(UsageError):
        threshold_for_retention([0.5], 0.0)


def test_train_save_load_same_predictions(tmp_path, routes):
    extra = [("my parcel still has not arrived", "general"), ("please refund 5 dollars", "refund")]
    trained = ClassifierRouter(routes, examples=extra, target_retention=0.9)
    out = trained.save(tmp_path / "model")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["routes_fingerprint"] == routes.fingerprint()
    assert manifest["threshold"] == pytest.approx(trained.threshold, abs=1e-6)
    assert manifest["metrics"]["oos_examples"] == 1
    loaded = build_router(routes, method="auto", model_dir=out)
    assert isinstance(loaded, ClassifierRouter)
    for text, _ in REPRESENTATIVE + [(t, None) for t in OUT_OF_SCOPE]:
        a, b = trained.route(text), loaded.route(text)
        assert (a.route, a.confidence, a.scores) == (b.route, b.confidence, b.scores)
    assert read_manifest(out).target_retention == 0.9


def test_loading_a_model_for_other_routes_fails_clearly(tmp_path, routes, classifier):
    other = RouteSet.model_validate(
        {
            "routes": [
                {"name": "a", "description": "A", "utterances": ["x"]},
                {"name": "b", "description": "B", "utterances": ["y"]},
            ]
        }
    )
    classifier.save(tmp_path / "m")
    with pytest.raises(ConfigError, match=r"manifest\.json"):
        build_router(other, model_dir=tmp_path / "m")
    with pytest.raises(ConfigError, match="not a trained router dir"):
        build_router(routes, model_dir=tmp_path / "empty")


def test_auto_picks_classifier_with_enough_utterances_else_embedding(routes):
    assert build_router(routes, method="auto").method == "classifier"
    few = RouteSet.model_validate(
        {
            "routes": [
                {"name": "a", "description": "A", "utterances": ["pay my bill"]},
                {"name": "b", "description": "B", "utterances": ["reset password"]},
            ]
        }
    )
    assert build_router(few, method="auto").method == "embedding"
    with pytest.raises(UsageError, match="unknown router method"):
        build_router(routes, method="psychic")


def test_llm_router_is_unavailable_offline_with_a_clear_error(routes):
    with pytest.raises(UsageError, match="needs a real model"):
        build_router(routes, method="llm")


def test_llm_router_maps_answers_and_corrects_unknown_names(routes):
    llm = ScriptedLlm(script=["refund", "horoscopes"])
    router = LlmRouter(routes, llm=llm)
    d = router.route("money back please")
    assert (d.route, d.method, d.confident) == ("refund", "llm", True)
    d2 = router.route("what's my horoscope")
    assert (d2.route, d2.method, d2.confident) == ("general", "fallback", False)
    prompt = str(llm.requests[0].config.system_instruction)
    assert "technical_support" in prompt and "general" in prompt


def test_decision_is_frozen():
    d = Decision(route="x", confidence=1.0, method="embedding")
    with pytest.raises(ValueError):
        d.route = "y"


def test_llm_router_on_gemini_over_http(monkeypatch, routes):
    """method='llm' with a key: the Gemini model (local generateContent stub) names the route."""
    from coordinator.settings import reset_settings
    from tests.gemini_stub import GeminiStub, last_user_text, text_content

    asked = []

    def reply(body, model):
        asked.append((model, last_user_text(body)))
        return text_content("technical_support\n")

    with GeminiStub(reply) as stub:
        monkeypatch.setenv("COORDINATOR_MODE", "auto")
        monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-real")
        monkeypatch.setenv("COORDINATOR_GEMINI_BASE_URL", stub.base_url)
        monkeypatch.setenv("COORDINATOR_MODEL_ROUTER", "gemini-router-test")
        reset_settings()
        d = build_router(routes, method="llm").route("the screen goes black after login")
    assert (d.route, d.method, d.confident) == ("technical_support", "llm", True)
    assert asked == [("gemini-router-test", "the screen goes black after login")]


@pytest.mark.parametrize(
    "module",
    [
        "coordinator.routing.router",
        "coordinator.routing.classifier",
        "coordinator.evaluation.calibration",
        "coordinator.routing.decision_log",
        "coordinator.evaluation.routing_eval",
        "coordinator.routing.tiers",
        "coordinator.routing.language",
    ],
)
def test_public_names_exist(module):
    import importlib

    mod = importlib.import_module(module)
    assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__)
