"""Character n-gram tf-idf features that survive misspelling and cross languages.

Why: a word-level encoder sees "subscrption" or "contraseña" as unknown pieces, while most
of their character 2-5-grams ("subs", "scr", "ption", "contr") still match the training
examples. scikit-learn's `TfidfVectorizer` learns the vocabulary and idf at training time
(with the analyzer below); the fitted state is a string array + two float arrays, so a
saved router needs no pickle and routing a request needs no scikit-learn import::

    feats = CharFeatures.fit(["refund my order", "the app crashes"])
    idx, val = feats.transform_one("refund my ordr")   # sparse, unit length
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ["NGRAMS", "CharFeatures", "analyze"]

NGRAMS = (2, 5)
_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")


def _normalise(text: str) -> str:
    """Lower case, accents stripped ("stürzt" == "sturzt"), punctuation as spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()


def analyze(text: str, ngrams: tuple[int, int] = NGRAMS) -> list[str]:
    """Character n-grams inside word boundaries (scikit-learn's `char_wb` scheme)."""
    lo, hi = ngrams
    out: list[str] = []
    for word in _normalise(text).split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            if n > len(w):
                break
            out.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return out


class CharFeatures:
    """A fitted char n-gram tf-idf map (sublinear tf, smoothed idf, L2-normalised rows)."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray) -> None:
        self.vocabulary = np.asarray(vocabulary, dtype=str)
        self.idf = np.asarray(idf, dtype=np.float32)
        self._index = {g: i for i, g in enumerate(self.vocabulary.tolist())}

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(cls, texts: Sequence[str], *, max_features: int = 40_000) -> CharFeatures:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(
            analyzer=analyze, sublinear_tf=True, max_features=max_features, dtype=np.float32
        ).fit(texts)
        names = vec.get_feature_names_out()
        return cls(names, vec.idf_)

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, unit-length weights) of one text; empty when nothing matches."""
        counts = Counter(analyze(text))
        idx, val = [], []
        for gram, n in counts.items():
            j = self._index.get(gram)
            if j is not None:
                idx.append(j)
                val.append((1.0 + math.log(n)) * float(self.idf[j]))
        v = np.asarray(val, dtype=np.float32)
        norm = float(np.linalg.norm(v))
        if norm > 0:
            v /= norm
        return np.asarray(idx, dtype=np.int64), v

    def transform(self, texts: Sequence[str]):
        """CSR matrix (n, dim) of many texts."""
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for t in texts:
            i, v = self.transform_one(t)
            order = np.argsort(i)
            indices.append(i[order])
            data.append(v[order])
            indptr.append(indptr[-1] + len(i))
        return csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0, np.float32),
                np.concatenate(indices) if indices else np.zeros(0, np.int64),
                np.asarray(indptr),
            ),
            shape=(len(texts), self.dim),
            dtype=np.float32,
        )
