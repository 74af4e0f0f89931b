"""Merging branch outputs: order, dedupe, contradictions, what is missing, tree reduce."""

from __future__ import annotations

import anyio
import pytest

from coordinator.errors import UsageError
from coordinator.models.offline import OfflineLlm, last_user_text, text_response
from coordinator.parallel.aggregate import (
    concatenate,
    from_fanout,
    from_state,
    structured_merge,
    synthesize,
    tree_reduce,
)
from coordinator.parallel.fanout import Branch, FailedBranch, fan_out


@pytest.mark.anyio
async def test_concatenation_keeps_branch_order_and_lists_missing():
    async def section(i: int):
        await anyio.sleep(0.001 * (5 - i))  # finish in reverse order
        return f"section {i}"

    async def broken():
        raise RuntimeError("no text")

    tasks = [Branch(id=f"s{i}", call=lambda i=i: section(i)) for i in range(4)]
    tasks.append(Branch(id="s4", call=broken))
    outputs, missing = from_fanout(await fan_out(tasks, retries=0))
    agg = concatenate(outputs, missing=missing, sep=" | ")
    assert agg.value == "section 0 | section 1 | section 2 | section 3"
    assert [m.branch_id for m in agg.missing] == ["s4"] and not agg.complete


def test_structured_merge_dicts_reports_contradictions():
    agg = structured_merge(
        [
            ("a", {"governing_law": "New York", "term": "2 years"}),
            ("b", {"governing_law": "Delaware", "cap": "fees paid"}),
            ("c", {"term": "2 years"}),
        ]
    )
    assert agg.value == {"governing_law": "New York", "term": "2 years", "cap": "fees paid"}
    (c,) = agg.contradictions
    assert c.key == "governing_law" and c.values == {"a": "New York", "b": "Delaware"}


def test_structured_merge_lists_dedupes_and_flags_conflicting_findings():
    f1 = {"clause": "7.2", "risk": "high"}
    f2 = {"clause": "9.1", "risk": "low"}
    f1_other = {"clause": "7.2", "risk": "low"}
    agg = structured_merge([("a", [f1, f2]), ("b", [f1]), ("c", [f1_other])], key="clause")
    assert agg.value == [f1, f2]
    (c,) = agg.contradictions
    assert c.key == "7.2" and c.values == {"a": f1, "c": f1_other}
    with pytest.raises(UsageError):
        structured_merge([("a", [1]), ("b", {"x": 1})])


def test_from_state_reads_fanout_agent_layout():
    state = {
        "r:s1": "one",
        "r:s3": "three",
        "r:_meta": {
            "order": ["s1", "s2", "s3"],
            "failed_branches": [{"branch_id": "s2", "reason": "TimeoutError"}],
        },
    }
    outputs, missing = from_state(state, "r")
    assert outputs == [("s1", "one"), ("s3", "three")]
    assert missing == [FailedBranch(branch_id="s2", reason="TimeoutError")]
    with pytest.raises(UsageError):
        from_state({}, "nothing")


@pytest.mark.anyio
async def test_synthesis_hook_callable_and_model():
    seen = {}

    async def merge(outputs, missing):
        seen["missing"] = [m.branch_id for m in missing]
        return " + ".join(v for _, v in outputs)

    missing = [FailedBranch(branch_id="s9", reason="x")]
    agg = await synthesize([("a", "A"), ("b", "B")], merge, missing=missing)
    assert agg.value == "A + B" and seen["missing"] == ["s9"]

    model = OfflineLlm(model="offline/merge", policy=lambda req: text_response(last_user_text(req)))
    agg = await synthesize([("a", "A")], model, missing=missing)
    assert "[a] A" in agg.value and "[s9] MISSING" in agg.value


@pytest.mark.anyio
@pytest.mark.parametrize("n,fan_in", [(1, 2), (7, 2), (100, 8), (1000, 16)])
async def test_tree_reduce_equals_flat_reduce(n, fan_in):
    items = [f"<{i}>" for i in range(n)]

    async def join(group):
        await anyio.sleep(0)
        return "".join(group)

    result = await tree_reduce(items, join, fan_in=fan_in)
    assert result.value == "".join(items)
    numbers = await tree_reduce(list(range(n)), sum, fan_in=fan_in)
    assert numbers.value == sum(range(n))
    if n > 1:
        assert fan_in ** (result.levels - 1) < n <= fan_in**result.levels
