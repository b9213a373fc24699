"""Per-student feedback as a standalone HTML page.

It shows each graded part, its points, pass/fail and the student-facing message,
and nothing else: no test source, no traceback (hidden tests stay hidden). A written
answer (a manually graded part) shows as awaiting manual grading. Every piece of text is
HTML-escaped and has its control characters written as escapes (no ANSI codes, no
invisible bidi controls); a message's line breaks become ``<br>``.
"""

from __future__ import annotations

from html import escape

from ..model import PartResult, SubmissionResult

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4em .6em; text-align: left; vertical-align: top; }
.passed { color: #176f2c; font-weight: bold; } .failed, .notrun { color: #a4161a; font-weight: bold; }
.manual { color: #5a4a00; font-weight: bold; }
.notes { background: #fff4e5; padding: .6em 1em; border-left: 4px solid #f0a030; }
"""
MANUAL = "awaiting manual grading"


def text(value, breaks: bool = False) -> str:
    """``value`` as safe HTML text: escaped, control characters shown as escapes (line breaks
    kept as ``<br>`` where ``breaks``)."""
    from .outputs import clean

    safe = escape(clean(value, keep="\n" if breaks else ""))
    return safe.replace("\n", "<br>") if breaks else safe


def _row(part: PartResult) -> str:
    if part.manual:
        points, css, status = f"&ndash; / {part.max_points:g}", "manual", MANUAL
    else:
        points = f"{part.points:g} / {part.max_points:g}"
        css = {"passed": "passed", "failed": "failed"}.get(part.status, "notrun")
        status = text(part.status)
    return (
        f"<tr><td>{text(part.grade_id)}</td><td>{points}</td>"
        f"<td class='{css}'>{status}</td><td>{text(part.message, breaks=True)}</td></tr>"
    )


def render(student: str, assignment: str, result: SubmissionResult) -> str:
    """HTML feedback for one student's ``result``."""
    rows = "".join(_row(part) for part in result.parts)
    notes = ""
    if result.notes:
        items = "".join(f"<li>{text(n, breaks=True)}</li>" for n in result.notes)
        notes = f"<div class='notes'><p>Notes about this submission:</p><ul>{items}</ul></div>"
    manual = result.manual_max
    waiting = f" (and {manual:g} points of written answers, {MANUAL})" if manual else ""
    title = f"{text(assignment)}: feedback for {text(student)}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p><strong>Score: {result.score:g} / {result.max_score:g}</strong>{waiting}</p>{notes}"
        "<table><thead><tr><th>Part</th><th>Points</th><th>Result</th><th>Message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        "<p>Hidden tests check cases beyond the visible ones; their code is not shown. "
        "Fix the part a message names, rerun the visible tests, and ask your instructor if a "
        "message is unclear.</p></body></html>\n"
    )
