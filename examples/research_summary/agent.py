"""Summarise a long document section by section, then vote on a claim about it.

Send the document with a last line `Claim: ...`. Two agents run in turn:

1. `sections` (`FanOutAgent`): the document is cut at its headings, one summariser
   `LlmAgent` runs per section at once (at most 4 at a time, one retry), and the merged
   summary lands in `state["summary"]`; a section that fails is reported missing, the rest
   still arrive.
2. `verdict` (`VotingAgent`): three judges with different checks read the claim against
   the document; "supported" needs all three (unanimity), any dissent or abstention gives
   "unsupported" (the cautious label), lazily: once one judge dissents the rest are not
   asked. The outcome (tally, votes, calls saved) lands in `state["verdict"]`.

Offline, the summariser is extractive and the judges are rules (word overlap, numbers,
negation); on Gemini give them `model="gemini-2.5-flash"` and prompts. No judge and no
summariser has a tool with side effects: both agents refuse one at construction.

    adk run examples/research_summary     python -m examples.research_summary [FILE]
"""

from __future__ import annotations

import itertools
import re

from google.adk.agents import LlmAgent, SequentialAgent

from coordinator import FanOutAgent, VotingAgent, last_user_text, offline_model, text_response

LABELS = ["unsupported", "supported"]  # most cautious first: the tie rule
_CLAIM = re.compile(r"^\s*claim\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NEGATION = frozenset({"not", "no", "never", "none", "without", "neither", "nor", "cannot"})
_STOP = frozenset({
    "the", "a", "an", "of", "in", "on", "to", "and", "or", "for", "with", "by", "is", "are",
    "was", "were", "be", "been", "that", "this", "than", "as", "at", "from", "it", "its",
    "their", "our", "we",
})


def split_claim(text: str) -> tuple[str, str]:
    """(document, claim): the claim is the message's `Claim:` line ("" if none)."""
    match = _CLAIM.search(text)
    if match is None:
        return text, ""
    return (text[: match.start()] + text[match.end():]).strip(), match.group(1)


def split_sections(text: str) -> list[str]:
    """The document cut at its markdown headings (the text before the first one too)."""
    document, _claim = split_claim(text)
    starts = [m.start() for m in _HEADING.finditer(document)] or [0]
    if starts[0] != 0:
        starts.insert(0, 0)
    bounds = [*starts, len(document)]
    return [document[a:b].strip() for a, b in itertools.pairwise(bounds) if document[a:b].strip()]


def summarise(req):
    """Extractive: the section's heading and its first two sentences."""
    lines = last_user_text(req).splitlines()
    title = lines[0].lstrip("#").strip() if lines and lines[0].startswith("#") else ""
    body = " ".join(" ".join(lines[1:] if title else lines).split())
    lead = " ".join(_SENTENCE.split(body)[:2])
    return text_response(f"{title}: {lead}" if title else lead)


def merge(summaries: list[str | None]) -> str:
    return "\n".join(f"- {s}" if s is not None else f"- (section {i} missing)"
                     for i, s in enumerate(summaries, 1))


def _content(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def _best_sentence(document: str, claim: str) -> tuple[str, float]:
    wanted = set(_content(claim)) - _NEGATION
    best, share = "", 0.0
    for sentence in _SENTENCE.split(" ".join(document.split())):
        got = len(wanted & set(_content(sentence))) / max(1, len(wanted))
        if got > share:
            best, share = sentence, got
    return best, share


def _judge(name: str, check) -> LlmAgent:
    def policy(req):
        document, claim = split_claim(last_user_text(req))
        if not claim:
            return text_response("There is no claim to judge (add a line `Claim: ...`).")
        label, why = check(document, claim)
        return text_response(f"{label}: {why}")

    return LlmAgent(name=name, model=offline_model(policy, name=name),
                    instruction="Answer 'supported' or 'unsupported', then why.")


def _by_overlap(document: str, claim: str) -> tuple[str, str]:
    sentence, share = _best_sentence(document, claim)
    label = "supported" if share >= 0.6 else "unsupported"
    return label, f"{share:.0%} of the claim's words are in one sentence: {sentence[:160]}"


def _by_numbers(document: str, claim: str) -> tuple[str, str]:
    numbers = _NUMBER.findall(claim)
    missing = [n for n in numbers if n not in _NUMBER.findall(document)]
    if missing:
        return "unsupported", f"the document never gives {', '.join(missing)}"
    sentence, share = _best_sentence(document, claim)
    label = "supported" if share >= 0.5 else "unsupported"
    return label, f"every number appears; closest sentence: {sentence[:160]}"


def _by_negation(document: str, claim: str) -> tuple[str, str]:
    sentence, share = _best_sentence(document, claim)
    negated = bool(_NEGATION & set(_WORD.findall(claim.lower())))
    denied = bool(_NEGATION & set(_WORD.findall(sentence.lower())))
    if share < 0.5:
        return "unsupported", "no sentence says this"
    if negated != denied:
        return "unsupported", f"the document says the opposite: {sentence[:160]}"
    return "supported", f"same polarity as: {sentence[:160]}"


sections = FanOutAgent(
    name="sections",
    worker=LlmAgent(name="summariser", model=offline_model(summarise, name="summariser"),
                    instruction="Summarise this section in two sentences."),
    split=split_sections,
    merge=merge,
    max_concurrency=4,
    retries=1,
    output_key="summary",
)
verdict = VotingAgent(
    name="verdict",
    sub_agents=[_judge("overlap_judge", _by_overlap), _judge("numbers_judge", _by_numbers),
                _judge("negation_judge", _by_negation)],
    labels=LABELS,
    strategy="unanimity",  # "supported" only if every check agrees
    lazy=True,  # stop at the first dissent: the outcome cannot change after it
    output_key="verdict",
)
root_agent = SequentialAgent(
    name="research_summary",
    description="Summarises a document by sections and votes on a claim about it.",
    sub_agents=[sections, verdict],
)
