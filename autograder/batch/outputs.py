"""The batch's written outputs: ``grades.csv``, ``report.txt`` and ``feedback/``.

Nothing a student wrote can forge them: every CSV goes through Python's csv writer with
text cells kept from starting a formula (:func:`spreadsheet_safe`), every piece of text
that is not the grader's own has its control characters escaped (:func:`clean`: newlines,
carriage returns, ANSI escapes, tabs, Unicode line and paragraph separators, NEL, bidi
controls) and never starts a line of the report (it is indented under the grader's words).

Manually graded parts (written answers, ``PartResult.manual``) are shown as awaiting a
person: an empty cell in grades.csv, with their points in ``awaiting_manual``; once in the
report.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from ..model import SubmissionResult
from .feedback import render
from .ingest import Rejected

ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def clean(text, keep: str = "") -> str:
    """``text`` with every control or format character (categories Cc, Cf, Zl, Zp, Cs) written
    as an escape (``\\n``, ``\\x1b``, ``\\u2028`` ...), except those in ``keep``."""
    out = []
    for ch in str(text):
        if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            out.append(ch)
        elif ch in ESCAPES:
            out.append(ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def spreadsheet_safe(text) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (leading = + - @, tab or CR quoted off)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def cell(text) -> str:
    """A text cell of any CSV the grader writes."""
    return spreadsheet_safe(clean(text))


def manual_ids(results: dict[str, SubmissionResult]) -> dict[str, float]:
    """grade_id -> points of the parts that a person grades (written answers)."""
    found: dict[str, float] = {}
    for r in results.values():
        for p in r.parts:
            if p.manual:
                found.setdefault(p.grade_id, p.max_points)
    return found


def write_grades(path: Path, results: dict[str, SubmissionResult], part_ids: list[str]) -> None:
    """grades.csv: one row per student; a written answer's cell stays empty until a person grades it."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", *part_ids, "total", "max_total", "awaiting_manual", "status", "review"])
        for student in sorted(results):
            r = results[student]
            parts = {p.grade_id: p for p in r.parts}
            row = [
                "" if g in parts and parts[g].manual else f"{parts[g].points if g in parts else 0.0:g}"
                for g in part_ids
            ]
            writer.writerow(
                [
                    cell(student),
                    *row,
                    f"{r.score:g}",
                    f"{r.max_score:g}",
                    f"{r.manual_max:g}",
                    cell(r.status),
                    cell("; ".join(r.flags)),
                ]
            )


def write_report(
    path: Path, assignment: str, results: dict[str, SubmissionResult], rejected: list[Rejected], isolation: str
) -> None:
    """report.txt: how kernels were isolated, the parts awaiting a person, entries not graded,
    and every submission that needs attention, with its notes."""
    lines = [f"Isolation: {isolation}.", f"Assignment {clean(assignment)}: {len(results)} submission(s)."]
    manual = manual_ids(results)
    if manual:
        lines.append(
            "Awaiting manual grading (written answers; grade them in nbgrader's formgrader): "
            + ", ".join(f"{clean(g)} ({p:g} point{'' if p == 1 else 's'})" for g, p in manual.items())
            + "."
        )
    if rejected:
        lines.append("Not graded (the entry's name is not a valid student id, or it could not be read):")
        lines += [f'  - entry "{clean(r.name)}": {clean(r.reason)}' for r in rejected]
    flagged = {s: r for s, r in sorted(results.items()) if r.notes or r.flags or r.status != "graded"}
    if flagged:
        lines.append("Needs attention:")
        for student, r in flagged.items():
            lines.append(f"  {clean(student)} [{clean(r.status)}] {r.score:g}/{r.max_score:g}")
            lines += [f"    - {clean(n)}" for n in r.notes]
            lines += [f"    - MANUAL REVIEW: {clean(f)}" for f in r.flags]
    elif not rejected:
        lines.append("Every submission ran cleanly.")
    path.write_text("\n".join(lines) + "\n")


def write_feedback(folder: Path, assignment: str, results: dict[str, SubmissionResult]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for student, r in results.items():
        (folder / f"{student}.html").write_text(render(student, assignment, r))


def write_outputs(
    assignment: str,
    results: dict[str, SubmissionResult],
    out_dir: Path,
    part_ids: list[str],
    isolation: str,
    rejected: Sequence[Rejected] = (),
) -> None:
    """grades.csv, feedback/<student>.html and report.txt in ``out_dir``."""
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    write_grades(out_dir / "grades.csv", results, part_ids)
    write_feedback(out_dir / "feedback", assignment, results)
    write_report(out_dir / "report.txt", assignment, results, list(rejected), isolation)
