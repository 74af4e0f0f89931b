"""agents.security_review.eval: the labelled set, the metrics and the independence check."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from agents.security_review.eval.voters import (
    binomial_prediction,
    error_correlation,
    evaluate,
    load_eval_set,
    main,
    naive_baseline,
    score,
)
from agents.security_review.rules import load_security_rules
from agents.security_review.voters import VoterVote
from coordinator.errors import ConfigError


@pytest.fixture(scope="module")
def items():
    return load_eval_set()


def test_eval_set_is_balanced_split_and_unseen_by_the_exemplars(items):
    counts = Counter((i.split, i.label) for i in items)
    assert counts[("dev", "vulnerable")] == counts[("dev", "safe")] >= 15
    assert counts[("heldout", "vulnerable")] == counts[("heldout", "safe")] >= 15
    assert len({i.lang for i in items}) >= 6  # not only Python
    rules = load_security_rules()
    exemplars = {" ".join(e.text.split()) for e in rules.examples if e.rule != "none"}
    lines = {" ".join(ln.split()) for i in items for ln in i.code.splitlines()}
    assert not exemplars & lines, "an eval line was copied into the rulebook"


def test_bad_eval_file_is_a_config_error(tmp_path):
    bad = tmp_path / "e.yaml"
    item = "{id: a, split: train, label: safe, lang: py, category: x, code: y}"
    bad.write_text(f"items:\n  - {item}\n")
    with pytest.raises(ConfigError, match="split"):
        load_eval_set(bad)


def test_eval_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "e.yaml"
    item = "{id: a, split: dev, label: safe, lang: py, category: x, code: y}"
    bad.write_text(f"items:\n  - {item}\n  - {item}\n")
    with pytest.raises(ConfigError, match=r"line 2: items: duplicate item ids"):
        load_eval_set(bad)
    bad.write_text(f"items:\n  - {item.replace('safe', 'maybe')}\n")
    with pytest.raises(ConfigError, match=r"line 2: items\[0\]\.label"):
        load_eval_set(bad)


def test_scores_and_baseline():
    s = score(["vulnerable", "safe", "vulnerable"], ["vulnerable", "vulnerable", "safe"], "abc")
    assert (s.accuracy, s.precision, s.recall, s.wrong) == (0.333, 0.5, 0.5, ["b", "c"])
    assert score(["safe"], ["safe"], ["a"]).precision is None
    assert naive_baseline("subprocess.run(['ls'])") == "vulnerable"  # the keyword is enough
    assert naive_baseline("x = a + b") == "safe"


def test_binomial_prediction():
    assert binomial_prediction([0.8, 0.8, 0.8], 0.5) == pytest.approx(0.896)  # 3p²-2p³
    assert binomial_prediction([1.0, 0.0], 0.5) == 0.5  # always a tie: right on vulnerable
    assert binomial_prediction([0.7], 0.5) == 0.7


def test_error_correlation():
    a = [True, False, True, False]
    assert error_correlation(a, a) == 1.0
    assert error_correlation(a, [not x for x in a]) == -1.0
    assert error_correlation(a, [False] * 4) is None  # a voter that never errs


def test_evaluate_with_scripted_voters(items):
    class Says:
        def __init__(self, label, name):
            self.label, self.name = label, name

        def __call__(self, code):
            return VoterVote(label=self.label, confidence=1.0)

    voters = [Says("vulnerable", "v"), Says("safe", "s"), Says("vulnerable", "v2")]
    report = evaluate(items, voters=voters)
    dev = report.splits["dev"]
    assert dev.voters["v"].accuracy == 0.5 and dev.voters["v"].recall == 1.0
    assert dev.ensembles["majority of 3"].accuracy == 0.5  # two say vulnerable, always
    assert dev.error_correlation["v~s"] == -1.0 and dev.error_correlation["v~v2"] == 1.0


def test_real_voters_beat_the_keyword_baseline_on_heldout(capsys):
    assert main(["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    held = report["splits"]["heldout"]
    assert held["n"] >= 30
    best3 = held["ensembles"]["majority of 3"]
    assert best3["accuracy"] > held["baseline"]["accuracy"]
    assert best3["precision"] >= 0.9  # the flagged ones are real
    assert set(report["voters"]) >= {"pattern", "taint", "similarity"}
