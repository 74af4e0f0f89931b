"""The CUAD held-out split and sibling filings: the committed list follows its rule, near-copies
and parts of one exhibit are siblings, list files fail in one clear line."""

from __future__ import annotations

import re

import pytest

from agents.contract_review.cuad import CUAD_DIR
from agents.contract_review.eval.cuad_v1 import read_cuad, read_stem_list, resolve_stems, stem_key
from agents.contract_review.eval.heldout import (
    HELDOUT_FILE,
    HELDOUT_FRACTION,
    choose_heldout,
    cue_writing_half,
    hash_fraction,
    shipped_stems,
)
from agents.contract_review.eval.siblings import filing_key, sibling_map, with_siblings
from coordinator.errors import UsageError


def test_committed_list_follows_its_rule():
    """Every listed stem passes the rule's checks that need no CUAD copy: hash below the
    fraction, outside the half cue authors read, not shipped; sorted, no repeats, counted."""
    stems = read_stem_list(HELDOUT_FILE)
    assert 80 <= len(stems) <= 110
    assert stems == sorted(set(stems))
    shipped = {s.strip() for s in shipped_stems()}
    for stem in stems:
        assert hash_fraction(stem) < HELDOUT_FRACTION, stem
        assert not cue_writing_half(stem), stem
        assert stem not in shipped
    header = HELDOUT_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert re.search(rf'"heldout-v1": {len(stems)} of 510 contracts', header)


def test_choose_heldout_is_the_hash_rule_over_unread_contracts():
    stems = [
        f"Contract{i:03d}_20200101_8-K_EX-10.{i}_1_EX-10.{i}_Supply Agreement" for i in range(400)
    ]
    unread = [s for s in stems if not cue_writing_half(s)]
    chosen = choose_heldout(stems, {}, shipped=set())
    assert chosen == sorted(s for s in unread if hash_fraction(s) < HELDOUT_FRACTION)
    assert 0.3 < len(chosen) / len(unread) < 0.6
    # a contract whose sibling was read (or shipped) is never held out
    victim = chosen[0]
    read = next(s for s in stems if cue_writing_half(s))
    assert victim not in choose_heldout(stems, {victim: {read}}, shipped=set())
    assert victim not in choose_heldout(stems, {}, shipped={victim})


def test_filing_key_folds_both_edgar_styles():
    a = filing_key("ArmstrongFlooringInc_20190107_8-K_EX-10.2_11471795_EX-10.2_IP Agreement")
    b = filing_key("ARMSTRONGFLOORING,INC_01_07_2019-EX-10.2-INTELLECTUAL PROPERTY AGREEMENT")
    assert a == b == ("armstrongflooring", "20190107", "EX10.2")
    parts = {
        filing_key(f"AzulSa_20170303_F-1A_EX-10.3_9943903_EX-10.3_Maintenance Agreement{i}")
        for i in (1, 2)
    }
    assert len(parts) == 1
    assert filing_key("Sonos, Inc. - Manufacturing Agreement") is None
    other_exhibit = filing_key("ArmstrongFlooringInc_20190107_8-K_EX-10.3_11471796_EX-10.3_Lease")
    assert other_exhibit != a


def _words(seed: int, n: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return [f"w{rng.randrange(5000)}" for _ in range(n)]


def test_near_copies_and_parts_of_one_exhibit_are_siblings_unrelated_texts_are_not():
    base, other = _words(1, 3000), _words(3, 3000)
    texts = {
        "A": " ".join(base),
        "A refiled": " ".join(["EXHIBIT", "10.2", *base[:1500], *_words(2, 1500)]),  # 50%
        "B": " ".join(other),
        "B form": " ".join(other[:150] + _words(4, 2850)),  # 5% shared: boilerplate, not a copy
        "B form 2": " ".join(other[:400] + _words(5, 2600)),  # 13% shared: over the bar
        "Cx_20200101_8-K_EX-10.1_1_EX-10.1_Agreement1": " ".join(_words(6, 800)),
        "Cx_20200101_8-K_EX-10.1_1_EX-10.1_Agreement2": " ".join(_words(7, 800)),
    }
    sib = sibling_map(texts)
    assert sib["A"] == {"A refiled"} and sib["A refiled"] == {"A"}
    assert sib["B"] == {"B form 2"} and sib["B form"] == set()
    p1, p2 = (s for s in texts if s.startswith("Cx_"))
    assert sib[p1] == {p2}  # same exhibit, no shared text
    assert with_siblings(["A", "B form"], sib) == {"A", "A refiled", "B form"}
    assert all(a in sib[b] for a, bs in sib.items() for b in bs)  # symmetric


def test_the_shipped_sample_reads_and_its_spellings_fold():
    src = read_cuad(CUAD_DIR)
    assert len(src.stems) == 10 and not src.unmatched
    assert stem_key("MACY'S,INC_05_11_2020-EX-99.4-JOINT FILING AGREEMENT") == stem_key(
        "MACY_S,INC_05_11_2020-EX-99.4-JOINT FILING AGREEMENT"
    )
    assert stem_key("NETGEAR,INC_04_21_2003-EX-10.16-AMENDMENT-") == stem_key(
        "NETGEAR,INC_04_21_2003-EX-10.16-AMENDMENT"
    )
    assert stem_key("LECLANCHE\u0301 S.A.") == stem_key("LECLANCH\u00c9 S.A.")


def test_stem_lists_fail_in_one_clear_line(tmp_path):
    with pytest.raises(UsageError, match="no such exclude file"):
        read_stem_list(tmp_path / "missing.txt")
    f = tmp_path / "list.txt"
    f.write_text("# comment\n\nAAA_1 #2 part\n  BBB  \n", encoding="utf-8")
    assert read_stem_list(f) == ["AAA_1 #2 part", "BBB"]  # '#' inside a name is kept
    assert resolve_stems(["BBB"], ["AAA_1 #2 part", "BBB "], str(f)) == ["BBB "]
    with pytest.raises(UsageError, match=r"list.txt: 2 stem\(s\) not in this CUAD copy: 'X', 'Y'"):
        resolve_stems(["X", "BBB", "Y"], ["BBB"], str(f))
