"""Is some `labkit up` starting this lab right now? The notebooks' `Cluster.attach()` asks.

On Binder, `binder/start` runs `labkit up` in the background while JupyterLab opens, so the
learner's first cell can run half a minute before the lab answers; in a terminal, a learner may
open a lesson while `make lab` is still starting. Two marks say a start is under way: the pid
file `labkit up` keeps in the lab's run directory while it runs (`RunDir.starting`), and the pid
file `binder/start` writes beside its log (`up_pid()`; the lab's run directory may not exist
yet). A mark whose process is gone is stale: the start ended, for better or worse (and
Binder's mark also ends with the log's last line, so a reused pid cannot keep anyone waiting).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from labkit.layout import RunDir, up_log, up_pid

#: the last line `binder/start` writes to its log when the `labkit up` it ran has ended
EXITED = "labkit up exited with"


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def in_progress(rundir: RunDir) -> bool:
    """Whether a `labkit up` of this lab (or Binder's background one) is still running."""
    return _alive(rundir.starting) or (_alive(up_pid()) and EXITED not in log_tail(1))


@contextlib.contextmanager
def marked(rundir: RunDir) -> Iterator[None]:
    """Hold the run directory's start mark while a `labkit up` runs (removed however it ends)."""
    rundir.starting.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        rundir.starting.unlink(missing_ok=True)


def log_tail(lines: int = 15) -> str:
    """The end of Binder's start-up log, for the error of a start that failed ('' if none)."""
    try:
        text = up_log().read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def bar(done: int, total: int, width: int = 20) -> str:
    """`[██████░░░░]`: a progress bar in text, which terminals and notebooks both show."""
    filled = round(width * done / total) if total else 0
    return "[" + "█" * filled + "░" * (width - filled) + "]"
