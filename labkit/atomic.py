"""Files that are never seen half-written, and secrets that are never seen by anyone else.

Every state file of a lab (election views, segment state, the witness, membership views) is read
by other processes while it is being replaced: each is written to a temporary file beside it and
renamed over the old one, which POSIX makes atomic. A secret is created with its final mode, so
it is private from its first byte (a chmod after writing leaves a window): pass `mode=0o600`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = False) -> None:
    """Replace `path` with `data` in one step. `durable` also fsyncs the file and its directory,
    so the new content survives a crash of the machine (the witness's promise), not just of the
    writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is masked by the umask; a reused name keeps its own
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    if durable:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_text(path: Path, text: str, *, mode: int = 0o644, durable: bool = False) -> None:
    write_bytes(path, text.encode(), mode=mode, durable=durable)


def write_json(path: Path, data: Any, *, mode: int = 0o644, durable: bool = False,
               indent: int | None = None) -> None:
    """One JSON document, replaced atomically (see `write_bytes`)."""
    write_text(path, json.dumps(data, indent=indent), mode=mode, durable=durable)
