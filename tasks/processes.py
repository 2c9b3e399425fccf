"""Child processes that do not outlive the command: the kernel kills them when their parent dies (Linux).

``init_worker`` is the initializer of the forked worker pools (ingest's batches, curate's language detection):
a worker dies with the process that forked it, even when that one is killed with SIGKILL, and leaves Ctrl-C to
it (the parent stops the pool and reports). ``die_with_parent`` alone is also a ``preexec_fn`` for subprocesses.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when the thread that started it ends; elsewhere a no-op.

    Call it in the child right after fork (an initializer, a ``preexec_fn``). A parent already gone by then
    (``parent``: its pid, taken before the fork) is caught too: the child exits at once instead of running on.
    """
    parent = parent or os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def init_worker() -> None:
    """A forked pool worker: dies with its parent, and ignores Ctrl-C (the parent handles it for the pool)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
