"""Knowledge-base search over the support articles in `tools/data/kb/*.md`.

Each article is `# Title`, a `tags:` line, then `## ` sections (usually numbered steps).
Ranking mixes two signals so that neither fails alone: WordLlama embeddings (meaning:
"app closes when I sign in" finds "crashes when I log in") and keyword overlap with the
title, tags and text (exact terms such as "2FA" or "error 500" that static embeddings blur).
Each hit carries the best-matching section, so an agent can quote concrete steps. Example::

    hits = search_kb("the app crashes every time I log in")
    hits[0].title, hits[0].steps[:2]
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coordinator.routing.encoder import get_encoder

__all__ = [
    "KB_DIR",
    "Article",
    "KbHit",
    "KnowledgeBase",
    "get_kb",
    "search_kb",
    "search_knowledge_base",
]

KB_DIR = Path(__file__).resolve().parent / "data" / "kb"

# Weights of the score components (embedding of title+tags, best section, keyword overlap).
_W_TITLE, _W_SECTION, _W_KEYWORDS = 0.40, 0.25, 0.35
_STEPS_BONUS = 0.3  # prefer quoting a section with steps over a similar prose one

_STOPWORDS = """a an and are as at be been but by can could do does did for from get got has
    have how i i'm im if in into is it its it's me my myself no not of on or our please so some
    that the their them then there this to too up us was we what when where which who why will with
    would you your yours help want need any every time keeps keep just still"""
_STOP = frozenset(_STOPWORDS.split())


class Article(BaseModel):
    """One support article, parsed."""

    model_config = ConfigDict(frozen=True)

    slug: str = Field(description="File name without .md; stable id.")
    title: str
    tags: tuple[str, ...] = Field(default=())
    sections: tuple[tuple[str, str], ...] = Field(
        description="(heading, text) pairs; the intro has heading ''."
    )


class KbHit(BaseModel):
    """A ranked search result."""

    slug: str
    title: str
    score: float = Field(description="0..1, higher is better (semantic + keyword mix).")
    section: str = Field(description="Heading of the best-matching section ('' = intro).")
    text: str = Field(description="The best-matching section's text.")
    steps: list[str] = Field(default_factory=list, description="Numbered steps in that section.")


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("e-mail", "email"))
    return {_stem(w) for w in words if w not in _STOP and (len(w) > 1 or w.isdigit())}


def parse_article(path: Path) -> Article:
    title, tags, sections = path.stem, (), []
    heading, buf = "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") and not sections and not buf and heading == "":
            title = line[2:].strip()
        elif line.lower().startswith("tags:"):
            tags = tuple(t.strip() for t in line[5:].split(",") if t.strip())
        elif line.startswith("## "):
            if "\n".join(buf).strip():
                sections.append((heading, "\n".join(buf).strip()))
            heading, buf = line[3:].strip(), []
        else:
            buf.append(line)
    if "\n".join(buf).strip():
        sections.append((heading, "\n".join(buf).strip()))
    return Article(slug=path.stem, title=title, tags=tags, sections=tuple(sections))


def _steps(text: str) -> list[str]:
    """Numbered or bulleted items, continuation lines joined."""
    steps: list[str] = []
    for line in text.splitlines():
        m = re.match(r"\s*(?:\d+\.|-)\s+(.*)", line)
        if m:
            steps.append(m.group(1).strip())
        elif steps and line.startswith("   ") and line.strip():
            steps[-1] += " " + line.strip()
    return steps


@dataclass(frozen=True)
class _Index:
    articles: tuple[Article, ...]
    head_vecs: np.ndarray  # (n_articles, dim): title + tags
    sec_vecs: np.ndarray  # (n_sections, dim)
    sec_owner: np.ndarray  # (n_sections,) article index
    terms: tuple[frozenset[str], ...]  # per article
    has_steps: np.ndarray  # (n_sections,) 1.0 where the section has numbered steps


class KnowledgeBase:
    """The articles in one directory, embedded once (thread-safe lazy build)."""

    def __init__(self, directory: str | Path = KB_DIR) -> None:
        self.directory = Path(directory)
        self._index: _Index | None = None
        self._lock = threading.Lock()

    @property
    def articles(self) -> tuple[Article, ...]:
        return self._build().articles

    def _build(self) -> _Index:
        with self._lock:
            if self._index is None:
                paths = sorted(p for p in self.directory.glob("*.md") if p.stem != "README")
                articles = tuple(parse_article(p) for p in paths)
                enc = get_encoder()
                heads = [f"{a.title}. {', '.join(a.tags)}" for a in articles]
                secs, owner, has_steps = [], [], []
                for i, a in enumerate(articles):
                    for heading, text in a.sections:
                        secs.append(f"{a.title}. {heading}. {text}")
                        owner.append(i)
                        has_steps.append(1.0 if _steps(text) else 0.0)
                terms = tuple(
                    frozenset(
                        _terms(a.title + " " + " ".join(a.tags))
                        | _terms(" ".join(t for _, t in a.sections))
                    )
                    for a in articles
                )
                self._index = _Index(
                    articles,
                    enc.embed(heads),
                    enc.embed(secs),
                    np.array(owner),
                    terms,
                    np.array(has_steps, dtype=np.float32),
                )
            return self._index

    def search(self, query: str, k: int = 3) -> list[KbHit]:
        """The `k` best articles for `query`, best first (empty for an empty query)."""
        idx = self._build()
        query = query.strip()
        if not query or not idx.articles:
            return []
        q = get_encoder().embed(query)
        head = idx.head_vecs @ q
        sec = idx.sec_vecs @ q
        qterms = _terms(query)
        hits: list[KbHit] = []
        for i, art in enumerate(idx.articles):
            mine = np.flatnonzero(idx.sec_owner == i)
            # The section to quote: most similar, nudged towards ones with concrete steps.
            best = int(mine[np.argmax(sec[mine] + idx.has_steps[mine] * _STEPS_BONUS)])
            # Keyword overlap: the share of the query's content words the article contains.
            kw = len(qterms & idx.terms[i]) / len(qterms) if qterms else 0.0
            score = _W_TITLE * float(head[i]) + _W_SECTION * float(sec[best]) + _W_KEYWORDS * kw
            heading, text = art.sections[best - int(mine[0])]
            hits.append(
                KbHit(
                    slug=art.slug,
                    title=art.title,
                    score=round(max(0.0, score), 4),
                    section=heading,
                    text=text,
                    steps=_steps(text),
                )
            )
        hits.sort(key=lambda h: (-h.score, h.slug))
        return hits[: max(0, k)]


@lru_cache(maxsize=4)
def get_kb(directory: str | Path = KB_DIR) -> KnowledgeBase:
    """The process-wide knowledge base for `directory`."""
    return KnowledgeBase(directory)


def search_kb(query: str, k: int = 3) -> list[KbHit]:
    """Search the built-in knowledge base (plain-Python entry point)."""
    return get_kb().search(query, k)


def search_knowledge_base(query: str, max_results: int = 3) -> dict:
    """Search the support knowledge base for help articles.

    Args:
        query: the customer's problem in their own words, e.g. "app crashes when I log in".
        max_results: how many articles to return (1-5).

    Returns:
        {"status": "ok", "articles": [{title, score, section, steps, text}, ...]}.
    """
    if not query or not query.strip():
        return {"status": "error", "message": "query is empty: describe the problem to search for"}
    hits = search_kb(query, k=min(5, max(1, int(max_results))))
    return {"status": "ok", "query": query, "articles": [h.model_dump() for h in hits]}
