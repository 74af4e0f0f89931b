"""Read a user-named input file (or stdin) without trusting it.

Every CLI file input (`review FILE`, `routes --data CSV`, `ask -`, routes/rulebook YAML)
goes through `read_bounded`, so hostile inputs fail the same way, in one line:
/dev/zero and endless pipes stop at the byte limit (bounded by bytes actually read, never
by `st_size`, which is 0 for devices and pipes); FIFOs, sockets and devices are refused
before opening (opening a FIFO blocks until a writer appears); symlink loops, directories,
missing and unreadable files are named as such.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from coordinator.errors import UsageError

__all__ = ["DEFAULT_MAX_BYTES", "decode_text", "read_bounded"]

DEFAULT_MAX_BYTES = 1_000_000
_CHUNK = 1 << 16


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _describe(error: OSError, missing: str = "no such file") -> str:
    if error.errno == errno.ELOOP:
        return "symlink loop (too many levels of symbolic links)"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return missing
    if error.errno == errno.EACCES:
        return "permission denied"
    if error.errno == errno.EISDIR:
        return "is a directory, not a file"
    return f"cannot read: {error.strerror or error}"


def _read_limited(handle: BinaryIO, label: str, max_bytes: int, advice: str) -> bytes:
    """At most `max_bytes`; one more byte means the input is too big."""
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        chunk = handle.read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise UsageError(f"{label}: more than {_size(max_bytes)}{advice}")
    return b"".join(chunks)


def read_bounded(
    name: str | Path, max_bytes: int, *, advice: str = "", missing: str = "no such file"
) -> bytes:
    """The bytes of the regular file `name` ('-' for stdin), at most `max_bytes`.

    `advice` follows the size in the too-big error (e.g. " (--max-bytes); split it");
    `missing` is the wording for a path that does not exist.
    """
    if str(name) == "-":
        return _read_limited(sys.stdin.buffer, "standard input", max_bytes, advice)
    label = str(name)
    try:
        # stat follows symlinks: loops surface here as ELOOP, before any open()
        st = os.stat(name)
    except OSError as exc:
        raise UsageError(f"{label}: {_describe(exc, missing)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{label}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise UsageError(f"{label}: {kind}; give a regular file, or '-' to read stdin")
    if st.st_size > max_bytes:  # exact for regular files; the read below is bounded anyway
        raise UsageError(
            f"{label}: {_size(st.st_size)} is above the {_size(max_bytes)} limit{advice}"
        )
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since stat, open must not hang
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UsageError(f"{label}: {_describe(exc, missing)}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{label}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return _read_limited(handle, label, max_bytes, advice)
    except OSError as exc:
        raise UsageError(f"{label}: {_describe(exc)}") from None
    finally:
        os.close(fd)


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text (a BOM is dropped); binary or undecodable input is a `UsageError`."""
    if b"\x00" in data[:65536]:
        raise UsageError(f"{label}: binary file (NUL bytes); give a UTF-8 text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{label}: not UTF-8 text (bad byte at offset {exc.start})") from None
