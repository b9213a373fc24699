"""What the grader reads from a submissions folder, and how.

Only regular files and folders inside the submissions folder are considered: no symbolic
link is followed (at the top, inside a student's folder, or as a path component), and a
FIFO, socket or device is never opened for reading. Every submission file is read
through :func:`read_submission` (``O_NOFOLLOW | O_NONBLOCK``, one folder at a time,
``fstat`` says a regular file of at most ``max_bytes``): listing, fingerprints, grading
and the reconciled notebook all see the same bytes. An entry that cannot be read is
named in the report, costs its student the submission, and the batch goes on.

A student id is the entry's name (a file's name without its extension): it must match
:data:`STUDENT_ID`. An entry whose name does not is not graded at all (:class:`Rejected`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..defaults import MAX_BYTES

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
SKIPPED = (".ipynb_checkpoints", "__MACOSX")


class Unreadable(Exception):
    """A submission file that is not read; the message says why (student-facing words)."""


@dataclass(frozen=True)
class Submission:
    """One student's entry: the notebook chosen (``rel``, inside ``root``), or None, and notes."""

    student: str
    path: Path | None  # root / rel, for the report; never opened by that name
    notes: tuple[str, ...] = ()
    root: Path | None = None
    rel: str | None = None
    max_bytes: int = MAX_BYTES

    def read(self) -> bytes:
        if self.root is None or self.rel is None:
            raise Unreadable("no notebook")
        return read_submission(self.root, self.rel, self.max_bytes)


@dataclass(frozen=True)
class Rejected:
    """An entry of the submissions folder that was not graded: its name as found, and why."""

    name: str
    reason: str


def kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def _check(st: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise Unreadable(f"is {kind(st.st_mode)}, not a regular file: not read")
    if st.st_size > max_bytes:
        raise Unreadable(f"is larger than {max_bytes} bytes (the --max-bytes limit): not read")


def read_submission(root: Path, rel: str | Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of ``root/rel``, opened one component at a time without following any
    symbolic link; raises :class:`Unreadable` for anything but a regular file of at most
    ``max_bytes`` bytes."""
    parts = Path(rel).parts
    if not parts or any(p in ("", ".", "..") or "/" in p for p in parts):
        raise Unreadable("is not a path inside the submissions folder")
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise Unreadable(f"could not be read ({os.strerror(err.errno or 0)})") from None
    try:
        for name in parts[:-1]:
            fd = os.open(name, flags | os.O_DIRECTORY, dir_fd=dirfd)
            os.close(dirfd)
            dirfd = fd
        _check(os.stat(parts[-1], dir_fd=dirfd, follow_symlinks=False), max_bytes)
        fd = os.open(parts[-1], flags | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dirfd)
        try:
            _check(os.fstat(fd), max_bytes)
            chunks, size = [], 0
            while size <= max_bytes:
                chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Unreadable("has a symbolic link in its path: not followed") from None
        raise Unreadable(f"could not be read ({os.strerror(err.errno or 0)})") from None
    finally:
        os.close(dirfd)
    if size > max_bytes:
        raise Unreadable(f"is larger than {max_bytes} bytes (the --max-bytes limit): not read")
    return b"".join(chunks)


@dataclass
class _Entry:
    candidates: list[tuple[str, os.stat_result]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _walk(root: Path, rel: str, entry: _Entry) -> None:
    """The notebooks in the student's folder ``rel``, never through a symbolic link."""
    try:
        with os.scandir(root / rel) as it:
            items = sorted(it, key=lambda e: e.name)
    except OSError as err:
        entry.notes.append(f"{rel}/ could not be read ({os.strerror(err.errno or 0)})")
        return
    for item in items:
        if item.name.startswith(".") or item.name in SKIPPED:
            continue
        path = f"{rel}/{item.name}"
        st = item.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            entry.notes.append(f"{path} is a symbolic link: not followed")
        elif stat.S_ISDIR(st.st_mode):
            _walk(root, path, entry)
        elif item.name.endswith(".ipynb"):
            if stat.S_ISREG(st.st_mode):
                entry.candidates.append((path, st))
            else:
                entry.notes.append(f"{path} is {kind(st.st_mode)}, not a regular file: not read")


def find_submissions(
    folder: Path, notebook_name: str, max_bytes: int = MAX_BYTES
) -> tuple[list[Submission], list[Rejected]]:
    """One :class:`Submission` per student in ``folder``, and the entries not graded at all.

    When a student handed in twice (``alice.ipynb`` and ``alice/``, or two notebooks in a
    folder), the most recently modified readable notebook is graded and the others are
    named in the notes."""
    entries: dict[str, _Entry] = {}
    rejected = []
    with os.scandir(folder) as it:
        items = sorted(it, key=lambda e: e.name)
    for item in items:
        if item.name.startswith("."):
            continue
        st = item.stat(follow_symlinks=False)
        student = item.name if stat.S_ISDIR(st.st_mode) else Path(item.name).stem
        if not STUDENT_ID.fullmatch(student):
            rejected.append(
                Rejected(
                    item.name,
                    "not a valid student id (letters, digits and . _ @ + -, "
                    "starting with a letter or digit): not graded",
                )
            )
            continue
        entry = entries.setdefault(student, _Entry())
        if stat.S_ISDIR(st.st_mode):
            _walk(folder, item.name, entry)
        elif stat.S_ISREG(st.st_mode):
            entry.candidates.append((item.name, st))
        elif stat.S_ISLNK(st.st_mode):
            entry.notes.append(f"{item.name} is a symbolic link: not followed")
        else:
            entry.notes.append(f"{item.name} is {kind(st.st_mode)}, not a regular file: not read")
    return [
        _choose(folder, student, entry, notebook_name, max_bytes) for student, entry in sorted(entries.items())
    ], rejected


def _choose(folder: Path, student: str, entry: _Entry, notebook_name: str, max_bytes: int) -> Submission:
    ranked = sorted(
        entry.candidates,
        key=lambda c: (c[0].endswith(".ipynb"), c[1].st_mtime, Path(c[0]).name == notebook_name, c[0]),
        reverse=True,
    )
    notes = list(entry.notes)
    for i, (rel, _) in enumerate(ranked):
        try:
            read_submission(folder, rel, max_bytes)
        except Unreadable as err:
            notes.append(f"{rel} {err}")
            continue
        notes += [f"duplicate submission: graded {rel}, ignored {other}" for other, _ in ranked[i + 1 :]]
        return Submission(student, folder / rel, tuple(notes), folder, rel, max_bytes)
    return Submission(student, None, tuple(notes))
