"""The offline encoder reads WordLlama's files itself (start-up) and must embed exactly as
WordLlama does: the shipped router and every cached model were trained on its vectors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coordinator.routing.encoder import Encoder
from coordinator.routing.routes import DEFAULT_ROUTES_FILE, load_routes


def _wordllama():
    import wordllama

    return wordllama.WordLlama.load(
        dim=256, cache_dir=Path(wordllama.__file__).parent, disable_download=True
    )


def _texts() -> list[str]:
    routes = load_routes(DEFAULT_ROUTES_FILE)
    texts = [u for r in routes.routes for u in r.utterances]
    return [*texts, "x", "refnud my ordr pls!!", "¿dónde está mi factura?", "請退款", "a " * 400]


def test_vectors_are_bit_identical_to_wordllamas_one_by_one_and_in_batches():
    ours, theirs = Encoder(), _wordllama()
    texts = _texts()
    assert np.array_equal(ours.embed(texts), theirs.embed(texts, norm=True))
    for text in texts[::25]:
        assert np.array_equal(ours.embed(text), theirs.embed([text], norm=True)[0])


def test_empty_input_and_a_text_of_no_tokens_do_not_crash():
    enc = Encoder()
    assert enc.embed([]).shape == (0, 256)
    assert enc.embed("").shape == (256,)


def test_loading_the_encoder_imports_neither_wordllama_nor_an_http_client():
    code = (
        "import sys; from coordinator.routing.encoder import Encoder; Encoder().embed('refund');"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'wordllama', 'requests'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_missing_weights_file_is_a_config_error(monkeypatch, tmp_path):
    from coordinator.errors import ConfigError
    from coordinator.routing import encoder

    monkeypatch.setattr(encoder, "_wordllama_dir", lambda: tmp_path)
    with pytest.raises(ConfigError, match="weights or tokenizer missing"):
        Encoder()
