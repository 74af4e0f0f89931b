"""The three offline judges, built once per process (and in the background).

Building them embeds every labelled CUAD clause and ~2,000 unlabelled sentences (~2 s), so
it happens once per (rulebook, held-out set), on a daemon thread started when a review
starts: splitting and the clause checks run meanwhile, and the vote stage waits for it.
Exemplars come from the CUAD contracts bundled in data/cuad (CC BY 4.0; `judges_from`); pass
`exclude` (file stems) to keep a contract out of them when measuring on it.

Built judges are also cached on disk (``<data_dir>/cache/contract_judges-<key>.pkl``), so a
new process (the CLI) loads them in ~0.1 s. The key hashes everything they are built from, all
of it runtime input (rulebook, CUAD labels, the judge and loader code, the learned judge's
weights, the held-out set); the
encoder and the rulebook are not pickled but re-attached on load. The file is our own cache
in our own data dir.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from coordinator import Encoder, get_encoder, get_settings

from . import clauses, cuad
from .clauses import (
    CLASSIFIER_FILE,
    ClauseJudge,
    RuleJudge,
    collapse_ws,
    default_judges,
    sentence_spans,
)
from .cuad import CUAD_DIR, CuadContract, load_cuad
from .rulebook import Rulebook, load_rulebook

__all__ = ["JudgePanel", "default_rulebook", "judges_from", "panel_for"]


def _background(contracts: Sequence[CuadContract], limit: int = 3000) -> list[str]:
    """Sentences of the training contracts that overlap no labelled clause of any category."""
    out: list[str] = []
    for c in contracts:
        keys = [collapse_ws(x)[:60].lower() for xs in c.clauses.values() for x in xs if len(x) > 20]
        for s, e in sentence_spans(c.text):
            sent = collapse_ws(c.text[s:e])
            low = sent.lower()
            if len(sent) < 40 or any(k in low or low in k for k in keys):
                continue
            out.append(sent)
    step = max(1, len(out) // limit)
    return out[::step][:limit]


def judges_from(train: Sequence[CuadContract], rulebook: Rulebook) -> list[ClauseJudge]:
    """The judges, with exemplars and background from ``train`` only."""
    exemplars: dict[str, list[str]] = {}
    for c in train:
        for cat, xs in c.clauses.items():
            exemplars.setdefault(cat, []).extend(x for x in xs if len(x) > 20)
    return default_judges(rulebook, exemplars=exemplars, background=_background(train))


@lru_cache(maxsize=1)
def default_rulebook() -> Rulebook:
    """The bundled rulebook, loaded once (its compiled cues are cached on the instance)."""
    return load_rulebook()


class JudgePanel:
    """Lazily built judges for one rulebook; `start()` builds them on a background thread."""

    def __init__(self, rulebook: Rulebook, exclude: Iterable[str] = ()) -> None:
        self.rulebook = rulebook
        self.exclude = frozenset(exclude)
        self.rule_judge = RuleJudge(rulebook)
        self._judges: list[ClauseJudge] | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def cache_path(self) -> Path:
        """Where the built judges are cached (the name changes with every input)."""
        # terms are already expanded into the rules: the key follows what the rules match
        h = hashlib.sha256(self.rulebook.model_dump_json(exclude={"terms"}).encode())
        for module in (clauses, cuad):
            h.update(Path(module.__file__).read_bytes())
        h.update(Path(__file__).read_bytes())  # judges_from and its background sampling
        for data in (CUAD_DIR / "master_clauses.csv", CLASSIFIER_FILE):
            h.update(f"{data.stat().st_size}:{data.stat().st_mtime_ns}".encode())
        h.update(",".join(sorted(self.exclude)).encode())
        return get_settings().data_dir / "cache" / f"contract_judges-{h.hexdigest()[:16]}.pkl"

    def _build(self) -> None:
        try:
            path = self.cache_path()
            self._judges = _load(path, self.rulebook)
            if self._judges is None:
                contracts = [
                    c for c in load_cuad(rulebook=self.rulebook) if c.stem not in self.exclude
                ]
                self._judges = judges_from(contracts, self.rulebook)
                _save(path, self._judges, self.rulebook)
        except BaseException as exc:  # surfaced by get(): the vote stage reports it
            self._error = exc

    def start(self) -> None:
        """Begin building in the background (idempotent)."""
        with self._lock:
            if self._thread is None and self._judges is None:
                self._thread = threading.Thread(
                    target=self._build, name="contract-review-judges", daemon=True
                )
                self._thread.start()

    def get(self) -> list[ClauseJudge]:
        """The judges (rules, similarity, keywords); blocks until they are built."""
        self.start()
        assert self._thread is not None or self._judges is not None
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._judges is not None
        return self._judges


_PANELS: dict[tuple[int, frozenset[str]], JudgePanel] = {}
_PANELS_LOCK = threading.Lock()


def panel_for(rulebook: Rulebook, exclude: Iterable[str] = ()) -> JudgePanel:
    """The process-wide panel for this rulebook instance (and held-out set)."""
    key = (id(rulebook), frozenset(exclude))
    with _PANELS_LOCK:
        panel = _PANELS.get(key)
        if panel is None or panel.rulebook is not rulebook:
            panel = _PANELS[key] = JudgePanel(rulebook, exclude)
        return panel


class _Pickler(pickle.Pickler):
    """Pickles judges without the encoder model and the rulebook (re-attached on load)."""

    def __init__(self, file: Any, rulebook: Rulebook) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.rulebook = rulebook

    def persistent_id(self, obj: Any) -> str | None:
        if isinstance(obj, Encoder):
            return "encoder"
        if obj is self.rulebook:
            return "rulebook"
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, rulebook: Rulebook) -> None:
        super().__init__(file)
        self.rulebook = rulebook

    def persistent_load(self, pid: Any) -> Any:
        if pid == "encoder":
            return get_encoder()
        if pid == "rulebook":
            return self.rulebook
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def _save(path: Path, judges: list[ClauseJudge], rulebook: Rulebook) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        _Pickler(buf, rulebook).dump(judges)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass  # a cache that cannot be written only costs time


def _load(path: Path, rulebook: Rulebook) -> list[ClauseJudge] | None:
    try:
        with path.open("rb") as fh:
            judges = _Unpickler(fh, rulebook).load()
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        return None
    # `judges_from` builds the three voting judges first (rules, similarity, keywords),
    # then the learned one; a cache with fewer was written by other code.
    return judges if isinstance(judges, list) and len(judges) >= 3 else None
