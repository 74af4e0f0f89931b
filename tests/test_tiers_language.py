"""Complexity tiers and language-aware dispatch."""

from __future__ import annotations

import pytest

from coordinator.routing.language import detect_language, language_variant, prefer_language
from coordinator.routing.router import Decision
from coordinator.routing.routes import Route, RouteSet
from coordinator.routing.tiers import TierConfig, choose_tier, complexity
from coordinator.settings import get_settings

EASY = "why was I charged twice"
HARD = (
    "Our SSO integration fails after the deployment: the OAuth token endpoint returns a 500 "
    "and the webhook times out, which breaks the database migration. Traceback: "
    "`KeyError: 'tenant'` at auth.resolve(). Is this a regression in the API version, and "
    "should we roll back? What configuration changed, and how do we fix the certificate?"
)


def _route(name: str, tier: str = "auto", languages: tuple[str, ...] = ()) -> Route:
    return Route(name=name, description=name, utterances=("x",), tier=tier, languages=languages)


def test_complexity_grows_with_hard_features():
    easy, hard = complexity(EASY), complexity(HARD)
    assert easy.score < 0.2 < 0.5 < hard.score
    assert hard.features["code"] == 1.0 and hard.features["questions"] == 2
    assert hard.features["technical"] >= 4
    assert complexity(EASY + "? and why? and how?").score > easy.score


def test_choose_tier_by_score_and_configurable_threshold():
    assert choose_tier(EASY) == "cheap"
    assert choose_tier(HARD) == "strong"
    medium = "the app crashes with an error when I export a csv, and the api times out"
    assert choose_tier(medium) == "cheap"
    assert choose_tier(medium, config=TierConfig(strong_at=0.2)) == "strong"


@pytest.mark.parametrize(
    "tier,text,expected",
    [
        ("cheap", HARD, "cheap"),
        ("strong", EASY, "strong"),
        ("auto", HARD, "strong"),
        ("auto", EASY, "cheap"),
    ],
)
def test_route_tier_is_honoured(tier, text, expected):
    assert choose_tier(text, _route("r", tier=tier)) == expected


@pytest.mark.parametrize(
    "text,lang",
    [
        ("quiero un reembolso de mi pedido por favor", "es"),
        ("I want a refund for my order please", "en"),
        ("Je voudrais un remboursement pour ma commande", "fr"),
        ("mi factura tiene un cargo doble este mes", "es"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["hola", "ok", "refund 1001", "", "?? !!"])
def test_short_or_unclear_text_has_no_language(text):
    assert detect_language(text) is None


def test_detection_is_deterministic():
    text = "this is a sentence, or perhaps un poco de texto en otro idioma"
    assert len({detect_language(text) for _ in range(5)}) == 1


ROUTES = RouteSet(
    fallback="general",
    routes=(
        _route("billing", languages=("en",)),
        _route("billing_es", languages=("es",)),
        _route("refund"),
        Route(name="general", description="catch-all"),
    ),
)


def _decision(route: str) -> Decision:
    return Decision(route=route, confidence=0.9, method="classifier", candidate=route)


def test_prefer_language_switches_to_matching_variant():
    d = prefer_language(_decision("billing"), ROUTES, "es")
    assert (d.route, d.method, d.confidence) == ("billing_es", "classifier", 0.9)


def test_prefer_language_keeps_decision_when_nothing_better():
    assert prefer_language(_decision("billing"), ROUTES, "en").route == "billing"
    assert prefer_language(_decision("refund"), ROUTES, "es").route == "refund"  # speaks any
    assert prefer_language(_decision("billing"), ROUTES, None).route == "billing"
    assert prefer_language(_decision("billing"), ROUTES, "de").route == "billing"


def test_wrong_language_variant_goes_back_to_base():
    assert language_variant(ROUTES, "billing_es", "en") == "billing"
    assert prefer_language(_decision("billing_es"), ROUTES, "en").route == "billing"


def test_lazy_ngram_table_gives_langdetects_own_probabilities(monkeypatch):
    """The per-n-gram table (start-up cut) must not change a single probability, whether
    it reads the index file in the data dir or the parsed profiles: compare both with
    langdetect's eagerly built factory on every multilingual test request."""
    import csv
    from pathlib import Path

    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    from coordinator.routing import language

    eager = DetectorFactory()
    eager.load_profile(PROFILES_DIRECTORY)
    eager.seed = 0
    texts = [HARD, EASY, "this is a sentence, or perhaps un poco de texto en otro idioma"]
    for path in sorted((Path(__file__).parent / "data" / "multilingual").glob("*.csv")):
        with path.open(encoding="utf-8") as f:
            texts += [row["text"] for row in csv.DictReader(f)]
    assert len(texts) > 50
    monkeypatch.setattr(language, "_factory", None)
    indexed = language._detector_factory()
    assert list((get_settings().data_dir / "router-cache").glob("langdetect-*.sqlite3"))
    monkeypatch.setattr(language, "_factory", None)
    reopened = language._detector_factory()  # from the file written above
    parsed = language._detector_factory(indexed=False)
    for lazy in (indexed, reopened, parsed):
        assert lazy.langlist == eager.langlist
        for text in texts:
            got, want = lazy.create(), eager.create()
            got.append(text)
            want.append(text)
            assert [(g.lang, g.prob) for g in got.get_probabilities()] == [
                (w.lang, w.prob) for w in want.get_probabilities()
            ], text


def test_a_data_dir_that_cannot_hold_the_index_falls_back_to_the_profiles(
    tmp_path, monkeypatch, caplog
):
    from coordinator.routing import language
    from coordinator.settings import reset_settings

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("COORDINATOR_DATA_DIR", str(blocked))
    reset_settings()
    monkeypatch.setattr(language, "_factory", None)
    assert detect_language("quiero un reembolso de mi pedido por favor") == "es"
    assert "langdetect index unavailable" in caplog.text
    assert blocked.read_text() == "not a directory"
