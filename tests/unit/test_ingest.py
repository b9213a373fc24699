"""What the grader reads from a submissions folder: regular files and folders only, no symbolic
link followed anywhere, a size limit, plain student ids; an unreadable entry is reported and
the batch goes on (a FIFO once hung the whole batch)."""

import json
import os
import signal
import socket
from pathlib import Path

import nbformat
import pytest
from toy_assignment import make_toy, submission

from autograder.batch import grade_folder
from autograder.batch.ingest import Unreadable, find_submissions, read_submission


@pytest.fixture
def alarm():
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    signal.signal(signal.SIGALRM, lambda *a: pytest.fail("reading the submissions folder hung"))
    signal.alarm(20)
    yield
    signal.alarm(0)


def make_folder(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.ipynb").write_text('{"secret": true}')
    (outside / "dir" / "hw.ipynb").write_text('{"secret": true}')
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    (subs / "linked.ipynb").symlink_to(outside / "secret.ipynb")
    (subs / "linkdir").symlink_to(outside / "dir")
    (subs / "bob").mkdir()
    (subs / "bob" / "hw.ipynb").symlink_to(outside / "secret.ipynb")
    (subs / "carol").mkdir()
    (subs / "carol" / "hw.ipynb").write_text("{}")
    (subs / "carol" / "nested").symlink_to(outside / "dir")
    os.mkfifo(subs / "fifo.ipynb")
    os.mkfifo(subs / "dave")  # a folder's name, but a FIFO
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(subs / "sock.ipynb"))
    (subs / "big.ipynb").write_bytes(b" " * 5000)
    for bad in ("=HYPERLINK(1).ipynb", "evil\nname.ipynb", "\x1b[31mred.ipynb", "a,b.ipynb", "-rf.ipynb"):
        (subs / bad).write_text("{}")
    return subs


def test_only_regular_files_and_folders_are_read_and_nothing_else_is_forgotten(tmp_path, alarm):
    subs, rejected = find_submissions(make_folder(tmp_path), "hw.ipynb", max_bytes=1000)
    by_student = {s.student: s for s in subs}
    assert set(by_student) == {"alice", "linked", "linkdir", "bob", "carol", "fifo", "dave", "sock", "big"}
    assert by_student["alice"].read() == b"{}" and by_student["carol"].read() == b"{}"
    assert by_student["carol"].notes == ("carol/nested is a symbolic link: not followed",)
    for student, note in (
        ("linked", "linked.ipynb is a symbolic link: not followed"),
        ("linkdir", "linkdir is a symbolic link: not followed"),
        ("bob", "bob/hw.ipynb is a symbolic link: not followed"),
        ("fifo", "fifo.ipynb is a FIFO (named pipe), not a regular file: not read"),
        ("dave", "dave is a FIFO (named pipe), not a regular file: not read"),
        ("sock", "sock.ipynb is a socket, not a regular file: not read"),
        ("big", "big.ipynb is larger than 1000 bytes (the --max-bytes limit): not read"),
    ):
        sub = by_student[student]
        assert sub.path is None and sub.notes == (note,), (student, sub.notes)
    assert sorted(r.name for r in rejected) == sorted(
        ["=HYPERLINK(1).ipynb", "evil\nname.ipynb", "\x1b[31mred.ipynb", "a,b.ipynb", "-rf.ipynb"]
    )


def test_no_symbolic_link_is_followed_as_a_path_component(tmp_path, alarm):
    """A folder swapped for a link after the listing is not followed when the file is read."""
    make_folder(tmp_path)
    subs, _ = find_submissions(tmp_path / "subs", "hw.ipynb")
    carol = next(s for s in subs if s.student == "carol")
    os.rename(tmp_path / "subs" / "carol", tmp_path / "carol-moved")
    (tmp_path / "subs" / "carol").symlink_to(tmp_path / "outside" / "dir")
    with pytest.raises(Unreadable, match="symbolic link"):
        carol.read()
    with pytest.raises(Unreadable, match="FIFO"):
        read_submission(tmp_path / "subs", "fifo.ipynb")
    with pytest.raises(Unreadable, match="inside"):
        read_submission(tmp_path / "subs", "../outside/secret.ipynb")


def test_a_batch_with_unreadable_entries_finishes_and_reports_each(tmp_path, alarm):
    """A FIFO, a link to a classmate's notebook, an oversized file and an invalid id: the batch
    grades the others, names each in report.txt (escaped), and exits 1."""
    toy = make_toy(tmp_path)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    nbformat.write(submission(toy), subs / "honest.ipynb")
    (subs / "huge.ipynb").write_bytes(b"{" + b" " * 4000 + b"}")
    (subs / "bad\x1b[2Kid.ipynb").write_bytes((subs / "honest.ipynb").read_bytes())
    os.mkfifo(subs / "fifo.ipynb")
    (subs / "copycat.ipynb").symlink_to(subs / "honest.ipynb")
    code = grade_folder("toy", subs, out, workers=2, cell_timeout=10, progress=False, source=toy, max_bytes=3000)
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    assert code == 1
    assert set(results) == {"honest", "huge", "fifo", "copycat"} and results["honest"]["score"] == 5
    for student in ("huge", "fifo", "copycat"):
        assert results[student]["status"] == "ungradable" and results[student]["score"] == 0, student
    report = (out / "report.txt").read_text()
    assert 'entry "bad\\x1b[2Kid.ipynb"' in report and "\x1b" not in report
    assert "copycat.ipynb is a symbolic link" in report and "fifo.ipynb is a FIFO" in report
    assert "huge.ipynb is larger than 3000 bytes" in report
    assert not (out / "reconciled" / "copycat.ipynb").exists()
    assert not any("bad" in p.name for p in out.rglob("*"))
