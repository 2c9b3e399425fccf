"""Leftovers of killed runs: temporary files and notes whose owning process is gone, swept by the next writing run.

Every writer in storage/ writes under a temporary name that carries its process id and renames it into place
(``.X.<pid>.tmp``, ``.X.<pid>.partial``, ``X.partial-<pid>``, ``X.partial-<pid>.npy``, ``.download.<pid>.*``),
and the warehouse's notes do too (``warehouse.duckdb.waiting.<pid>.<thread>``, ``warehouse.writer.<pid>``, and
``warehouse.writer``, whose text names the pid and host). A SIGKILL leaves them behind. :func:`sweep` removes
those whose process is dead on this host and never touches one of a live process (another run's parse worker,
a reader waiting for the lock). A ``.X.<pid>.old`` folder (a replaced word space) is put back as ``X`` when a
killed run had moved ``X`` away and not yet renamed the new one in; else it is removed.

Pids are only meaningful on this host: a home shared between machines (not supported by DuckDB either) could
hold another machine's live files.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from storage.home import Home

# name patterns -> the group holding the pid
_TEMPORARY = (
    re.compile(r"^\..+\.(?P<pid>\d+)\.(?:tmp|partial)$"),
    re.compile(r"^.+\.partial-(?P<pid>\d+)(?:\.npy)?$"),
    re.compile(r"^\.download\.(?P<pid>\d+)\..*$"),
)
_RETIRED = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.old$")
_WAITING = re.compile(r"^.+\.duckdb\.waiting\.(?P<pid>\d+)\.\d+$")
_WRITER_PART = re.compile(r"^.+\.writer\.(?P<pid>\d+)$")
_WRITER_NOTE = re.compile(r"run (?P<run>.+), pid (?P<pid>\d+) on (?P<host>.+)")
# Folders never entered: the warehouse's own files sit at the root, Prefect keeps its results here.
_SKIP_FOLDERS = frozenset({"prefect-results"})


@dataclass
class Swept:
    """What a sweep removed (or put back) and what it left because its process is alive."""

    removed: list[Path] = field(default_factory=list)
    restored: list[Path] = field(default_factory=list)
    kept_alive: list[Path] = field(default_factory=list)


def process_alive(pid: int) -> bool:
    """True while a process with this id exists on this host (also one of another user); False for 0."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(name: str) -> int | None:
    """The pid a temporary file or note name carries, or None for a name that is no leftover of ours."""
    for pattern in (*_TEMPORARY, _RETIRED, _WAITING, _WRITER_PART):
        match = pattern.match(name)
        if match:
            return int(match["pid"])
    return None


def sweep(home: Home) -> Swept:
    """Remove the temporary files and notes of dead processes under ``home`` (see the module docstring)."""
    swept = Swept()
    if not home.root.is_dir():
        return swept
    mine = os.getpid()
    _sweep_writer_note(home.warehouse.with_suffix(".writer"), swept)
    for folder, subfolders, files in os.walk(home.root):
        here = Path(folder)
        if here == home.root:
            subfolders[:] = [name for name in subfolders if name not in _SKIP_FOLDERS]
        for name in [*subfolders, *files]:
            pid = owner_pid(name)
            if pid is None or pid == mine:
                continue
            path = here / name
            if process_alive(pid):
                swept.kept_alive.append(path)
            else:
                _remove(path, name, swept)
        subfolders[:] = [name for name in subfolders if (here / name).is_dir() and not (here / name).is_symlink()]
    return swept


def _remove(path: Path, name: str, swept: Swept) -> None:
    retired = _RETIRED.match(name)
    if retired:
        original = path.with_name(retired["name"])
        if not original.exists():  # killed between moving the old folder away and renaming the new one in
            os.replace(path, original)
            swept.restored.append(original)
            return
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:  # its owner's last rename or another sweep got there first
        return
    swept.removed.append(path)


def _sweep_writer_note(note: Path, swept: Swept) -> None:
    """``warehouse.writer`` names the writing run; remove it when that process died on this host."""
    try:
        match = _WRITER_NOTE.fullmatch(note.read_text())
    except OSError:
        return
    if match is None or match["host"] != socket.gethostname() or int(match["pid"]) == os.getpid():
        return
    if process_alive(int(match["pid"])):
        swept.kept_alive.append(note)
        return
    note.unlink(missing_ok=True)
    swept.removed.append(note)
