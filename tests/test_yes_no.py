"""The yes recogniser (coordinator/routing/yes_no.py) on its phrasing tables and the issue's cases.

Targets: no reply that must refuse ever reads as a yes (0 false accepts, in every
language), and at most 5% of plain yeses are refused, on the held-out table, which was
committed before the rules and is only scored here (tests/data/confirmations/README.md).
"""

from __future__ import annotations

import json
import re

import pytest

from coordinator.bench.confirmations import (
    ACTION_WORDS,
    DEFAULT_TABLES,
    PROPOSED_ORDER,
    load_table,
    score,
)
from coordinator.cli import main
from coordinator.routing.yes_no import (
    MAX_PHRASE,
    is_affirmative,
    is_refusal,
    is_yes_or_no,
    leads_with_yes,
    normalise,
    read_answer,
)
from coordinator.routing.yes_no_words import (
    CANCEL_VERBS,
    CUES,
    HOMOGRAPHS,
    LANGUAGES,
    SAFE_WITH_CUES,
    UNIVERSAL,
    WORDS,
)
from tools.confirmation import is_unclear_answer

DEV, HELDOUT = DEFAULT_TABLES


def _simple(text: str) -> str:
    text = " ".join(text.casefold().replace("!", "").split())
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


# --- the tables ----------------------------------------------------------------------------


def test_the_held_out_table_is_separate_from_the_dev_table_and_covers_every_language_and_kind():
    held, dev = load_table(HELDOUT), load_table(DEV)
    assert not {_simple(r.text) for r in held} & {_simple(r.text) for r in dev}
    for rows in (held, dev):
        assert {r.language for r in rows} == set(LANGUAGES)
        for lang in LANGUAGES:
            kinds = {r.kind for r in rows if r.language == lang}
            assert {"plain-yes", "hedge", "condition", "question", "retraction",
                    "negation", "sarcasm"} <= kinds, lang
            assert sum(r.expected for r in rows if r.language == lang) >= 25


def test_held_out_table_no_false_accept_and_at_most_5_percent_false_refusals():
    result = score(load_table(HELDOUT), ACTION_WORDS)
    for lang, counts in result["languages"].items():
        assert counts["false_accept"] == 0, (lang, result["errors"])
    assert result["languages"]["all"]["false_refuse_rate"] <= 0.05, result["errors"]


def test_dev_table_no_false_accept_and_at_most_2_percent_false_refusals():
    result = score(load_table(DEV), ACTION_WORDS)
    assert result["languages"]["all"]["false_accept"] == 0, result["errors"]
    assert result["languages"]["all"]["false_refuse_rate"] <= 0.02, result["errors"]


def test_every_plain_yes_of_the_held_out_table_answers_the_pending_question():
    for row in load_table(HELDOUT):
        if row.expected:
            assert is_yes_or_no(row.text), row.text


# --- the issue's cases, by name -------------------------------------------------------------

ISSUE_YES = [
    "yes!!!", "YES", "yes please go ahead with the refund", "yes order 1006", "vale, hazlo",
    "d'accord, allez-y", "passt", "klar, mach", "pode ser", "va bene, procedi",
    "sounds good", "that works", "perfect, do it",
]
ISSUE_NOT_YES = [
    "yes if it's under $10", "yes?", "just kidding, don't", "sí, pero espera", "oui mais non",
    "ja, aber nicht jetzt", "sim, se for possível", "sì, ma aspetta", "ok... actually no",
    "yes no", "not yes",
    # A thumbs-up is as often "seen" as "agreed", and clients send one with a tap: money
    # moves on words. The agent shows the proposal again and asks for a yes.
    "👍",
    # Decided: not a yes. "whatever you think" hands the decision back to us; consent to a
    # side effect must be the customer's own, and refusing costs one more question.
    "sure, whatever you think",
]


@pytest.mark.parametrize("text", ISSUE_YES)
def test_the_issues_ordinary_affirmatives_are_a_yes(text):
    assert is_affirmative(text, target=PROPOSED_ORDER)
    assert is_yes_or_no(text) and not is_refusal(text)


@pytest.mark.parametrize("text", ISSUE_NOT_YES)
def test_the_issues_hedges_are_not_a_yes_but_still_answer_the_question(text):
    verdict = read_answer(text)
    assert not verdict.yes and verdict.kind != "plain-yes"
    assert verdict.answer, text  # kept with the agent that asked, which asks again


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("yes if it's under $10", "condition"), ("sim, se for possível", "condition"),
        ("yes?", "question"), ("just kidding, don't", "retraction"),
        ("sí, pero espera", "retraction"), ("sì, ma aspetta", "retraction"),
        ("oui mais non", "negation"), ("ja, aber nicht jetzt", "negation"),
        ("not yes", "negation"), ("yeah right", "sarcasm"), ("yes 🙄", "sarcasm"),
        ("ja ja", "sarcasm"), ("sure, whatever you think", "hedge"), ("yes...", "hedge"),
        ("👍", "other"),
    ],
)
def test_a_refused_reply_says_why(text, kind):
    assert read_answer(text).kind == kind


def test_a_yes_naming_another_order_is_not_a_yes_to_this_proposal():
    assert is_affirmative("yes, order 1006", target="1006")
    assert not is_affirmative("yes, order 1001", target="1006")
    assert not is_affirmative("sí, los pedidos 1006 y 1001", target="1006")


# --- refusals, unclear answers, the cascade's and escalation's questions --------------------


@pytest.mark.parametrize(
    "text",
    ["no", "wait", "espera", "sí, pero espera", "attendez", "non merci", "warte", "nein danke",
     "noch nicht", "não", "espera aí", "aspetta", "no grazie", "just kidding, don't",
     "ok... actually no", "ja, aber nicht jetzt", "Please don't refund order 1006"],
)
def test_refusals_in_six_languages(text):
    assert is_refusal(text) and not is_affirmative(text)


@pytest.mark.parametrize(
    "text",
    ["no problem, go ahead", "pas de souci, allez-y", "kein Problem, mach", "yes please",
     "Quiero un reembolso para el pedido 1006", "yes if it's under $10"],
)
def test_not_refusals(text):
    assert not is_refusal(text)


def test_unclear_answers_are_neither_yes_nor_refusal():
    for text in ("yes if it's under $10", "yes?", "sim, se for possível", "👍", "maybe"):
        assert is_unclear_answer(text), text
    for text in ("yes", "no", "wait", "my internet is down", "how do I reset my password?"):
        assert not is_unclear_answer(text), text


@pytest.mark.parametrize(
    "text", ["my internet is not working", "how do I reset my password?", "hello there",
             "I want a refund for order 1001", "no, I need help with my password"],
)
def test_a_new_request_is_not_an_answer_to_the_pending_question(text):
    assert not is_yes_or_no(text)


def test_leads_with_yes_accepts_a_handover_but_not_a_refusal_or_question():
    for text in ("yes please", "sí", "va bene", "ok", "yes but quickly", "ja, gerne"):
        assert leads_with_yes(text), text
    for text in ("no", "maybe", "yes?", "hmm yes", "not now", "yeah right", "nein"):
        assert not leads_with_yes(text), text


# --- the action's own verb (billing's cancellation) ----------------------------------------


@pytest.mark.parametrize(
    "text", ["yes, cancel it", "yes cancel my subscription", "sí, cancélala",
             "oui, annulez-le", "ja, kündigen", "sim, pode cancelar", "sì, disdici"],
)
def test_cancel_restated_confirms_a_cancellation(text):
    assert is_affirmative(text, allow=CANCEL_VERBS)
    assert not is_affirmative(text)  # for a refund, "cancel" retracts


@pytest.mark.parametrize(
    "text", ["cancel", "cancel it", "cancela", "don't cancel", "cancel? no",
             "yes cancel - no wait", "no, cancel the cancellation"],
)
def test_cancel_alone_or_refused_is_not_a_yes(text):
    assert not is_affirmative(text, allow=CANCEL_VERBS)


# --- normalisation and the word lists ------------------------------------------------------


def test_width_accents_and_invisible_characters_do_not_change_the_reading():
    for text in ("ｙｅｓ", "yes\u200b", "YES!", "yes\u00a0please", "SÍ", "si", "d’accord",
                 "natuerlich", "bestaetigt"):
        assert is_affirmative(text), text
    for text in ("уes", "yes\nno", "yes_no", 'he said "yes"', "yes " * 20, "y" * 80):
        assert not is_affirmative(text), text


def _phrases(entries) -> set[str]:
    return {normalise(e) for e in entries}


def test_no_cue_word_is_a_yes_word_and_multiword_yeses_with_cues_are_reviewed():
    cues = _phrases(e for entries in CUES.values() for e in entries)
    cue = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(cues, key=len)[::-1])) + r")\b")
    safe = _phrases(SAFE_WITH_CUES)
    for lang in LANGUAGES:
        for cls in ("core", "polite", "courtesy", "restate"):
            for entry in (*WORDS[lang][cls], *UNIVERSAL[cls]):
                phrase = normalise(entry)
                assert phrase, (lang, entry)
                if " " not in phrase:
                    assert phrase not in cues or phrase in HOMOGRAPHS, (lang, entry)
                elif cue.search(phrase):
                    assert phrase in safe, (lang, entry)


def test_no_entry_is_longer_than_the_parser_reads():
    entries = [e for d in (*WORDS.values(), UNIVERSAL) for v in d.values() for e in v]
    entries += [e for v in CUES.values() for e in v] + list(SAFE_WITH_CUES)
    assert max(len(normalise(e).split()) for e in entries) <= MAX_PHRASE


def test_every_language_has_each_class_of_words():
    for lang in LANGUAGES:
        assert all(WORDS[lang][cls] for cls in ("core", "polite", "courtesy", "restate")), lang


# --- the benchmark command -----------------------------------------------------------------


def test_bench_confirmations_prints_both_tables(capsys):
    assert main(["bench", "confirmations", "--no-cascade", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"dev", "heldout"}
    held = result["heldout"]["languages"]["all"]
    assert held["false_accept"] == 0 and held["n"] == len(load_table(HELDOUT))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,language\nyes,en\n", "missing column(s) expected, kind"),
        ("text,language,kind,expected\nyes,xx,plain-yes,accept\n", ":2: language must be"),
        ("text,language,kind,expected\nyes,en,plain-yes,maybe\n", "expected must be"),
        ("text,language,kind,expected\n", "no rows"),
    ],
)
def test_bench_confirmations_bad_table_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    table = tmp_path / "t.csv"
    table.write_text(content, encoding="utf-8")
    assert main(["bench", "confirmations", "--no-cascade", "--table", str(table)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bench_confirmations_missing_table_is_exit_2(tmp_path, capsys):
    code = main(["bench", "confirmations", "--no-cascade", "--table", str(tmp_path / "x.csv")])
    assert code == 2 and "x.csv" in capsys.readouterr().err
