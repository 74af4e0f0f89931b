"""The offline sentence encoder: WordLlama static embeddings, loaded from the wheel.

WordLlama ships its 256-d weights and tokenizer inside the package, so loading never
touches the network (a missing file is an error, never a download). One instance per
process; ~20 ms to load, ~0.03 ms a query.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from coordinator.errors import ConfigError
from coordinator.settings import get_settings

__all__ = ["Encoder", "GeminiEncoder", "get_encoder", "routing_encoder"]

_lock = threading.Lock()


class Encoder:
    """L2-normalised embeddings, so a dot product is the cosine similarity.

    WordLlama's own loader converts its whole 128k x 256 token table to float32 (90 ms of
    CPU and 128 MB in every process) and imports an HTTP client for downloads; a request
    needs a few dozen rows. So the weights and tokenizer are read from the installed
    wordllama package with safetensors and tokenizers (its own dependencies), and the
    pooling is WordLlama's, on rows cast after the gather: the vectors are bit-identical to
    `WordLlama.load(...).embed(texts, norm=True)` (tests/test_encoder.py).
    """

    name = "wordllama-l2_supercat-256"

    def __init__(self, dim: int = 256) -> None:
        # deferred: the Rust tokenizer and safetensors only when an encoder is built
        from safetensors import safe_open
        from tokenizers import Tokenizer

        root = _wordllama_dir()
        weights = root / "weights" / f"l2_supercat_{dim}.safetensors"
        tokenizer = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
        if not weights.is_file() or not tokenizer.is_file():
            raise ConfigError(f"wordllama {dim}-d weights or tokenizer missing", path=str(root))
        with safe_open(str(weights), framework="np", device="cpu") as f:
            self._table = f.get_tensor("embedding.weight")  # float16: cast rows, not the table
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_padding()
        self._tokenizer.no_truncation()
        self.dim = dim

    def embed(self, texts: str | list[str]) -> np.ndarray:
        """Embed one text (shape `(dim,)`) or many (shape `(n, dim)`), unit length."""
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for start in range(0, len(batch), _BATCH):
            chunk = batch[start : start + _BATCH]
            enc = self._tokenizer.encode_batch(chunk, add_special_tokens=False)
            ids = np.array([e.ids for e in enc], dtype=np.int32)
            mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
            np.clip(ids, 0, self._table.shape[0] - 1, out=ids)
            x = self._table[ids].astype(np.float32)
            count = np.maximum(mask.sum(axis=1, keepdims=True), 1.0).astype(np.float32)
            pooled = np.sum(x * mask[..., np.newaxis], axis=1, dtype=np.float32) / count
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            out[start : start + len(chunk)] = pooled
        return out[0] if single else out


_BATCH = 64  # WordLlama's batch size (padding is per batch; pooling ignores it)


def _wordllama_dir() -> Path:
    """The installed wordllama package's folder, found without importing it (its import
    reconfigures logging and pulls in an HTTP client)."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the wordllama package is not installed (pip install wordllama)")
    return Path(next(iter(spec.submodule_search_locations)))


class GeminiEncoder:
    """Gemini embeddings (`COORDINATOR_ENCODER=gemini`), same interface as `Encoder`.

    Opt-in: routing then costs a network round trip per request (the WordLlama default
    is ~0.1 ms and offline). Vectors are L2-normalised like the default's.
    """

    def __init__(self, model: str, settings=None) -> None:
        from google import genai
        from google.genai import types

        s = settings or get_settings()
        options = types.HttpOptions(base_url=s.gemini_base_url) if s.gemini_base_url else None
        self._client = genai.Client(api_key=s.google_api_key, http_options=options)
        self.name = f"gemini/{model}"
        self.model = model
        self.dim = 0

    def embed(self, texts: str | list[str]) -> np.ndarray:
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs: list[list[float]] = []
        for start in range(0, len(batch), 100):  # the API's batch limit
            result = self._client.models.embed_content(
                model=self.model, contents=batch[start : start + 100]
            )
            vecs.extend(e.values or [] for e in result.embeddings or [])
        arr = np.asarray(vecs, dtype=np.float32)
        arr /= np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
        self.dim = arr.shape[1]
        return arr[0] if single else arr


@lru_cache(maxsize=1)
def _load() -> Encoder:
    return Encoder()


@lru_cache(maxsize=4)
def _load_gemini(model: str) -> GeminiEncoder:
    return GeminiEncoder(model)


def get_encoder() -> Encoder:
    """The process-wide WordLlama encoder (thread-safe lazy load). Models trained on its
    vectors (clause judges, presence model, knowledge-base index) always use this one."""
    with _lock:
        return _load()


def routing_encoder() -> Encoder | GeminiEncoder:
    """The encoder routers use: WordLlama, or Gemini embeddings when
    `COORDINATOR_ENCODER=gemini` and Gemini credentials are configured."""
    s = get_settings()
    if s.encoder == "gemini" and s.use_gemini:
        with _lock:
            return _load_gemini(s.embedding_model)
    return get_encoder()
