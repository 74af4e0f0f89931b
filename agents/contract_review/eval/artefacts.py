"""Writing the shipped artefacts byte-reproducibly: the same build inputs, the same bytes.

`np.savez_compressed` and `gzip.open` stamp the current time into the file, and a solver's
last bits vary with thread scheduling; here weights are rounded, entries sorted and stamps
fixed, so a rebuild can be checked against the shipped file by its hash.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["WEIGHT_DECIMALS", "save_json_gz", "save_npz"]

WEIGHT_DECIMALS = 5
"""Weights are rounded before saving: last-bit solver noise never changes the file."""


def save_npz(out: Path, **arrays: np.ndarray) -> None:
    """Like `np.savez_compressed`, but byte-reproducible: float weights rounded to
    `WEIGHT_DECIMALS` and stored as float32, entries in name order with a fixed timestamp."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            a = np.asarray(arrays[name])
            if a.dtype.kind == "f":
                a = np.round(a.astype(np.float64), WEIGHT_DECIMALS).astype(np.float32)
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    tmp.replace(out)


def save_json_gz(out: Path, data: Any) -> None:
    """JSON, gzip-compressed with no timestamp or file name in the header."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
    with tmp.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(raw)
    tmp.replace(out)
