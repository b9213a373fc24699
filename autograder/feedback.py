"""Per-student feedback as a standalone HTML page.

It shows each graded part, its points, pass/fail and the student-facing message,
and nothing else: no test source, no traceback (hidden tests stay hidden).
"""
from __future__ import annotations

from html import escape

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4em .6em; text-align: left; vertical-align: top; }
.passed { color: #176f2c; font-weight: bold; } .failed, .notrun { color: #a4161a; font-weight: bold; }
.notes { background: #fff4e5; padding: .6em 1em; border-left: 4px solid #f0a030; }
"""


def render(student: str, assignment: str, result: dict) -> str:
    """HTML feedback for one student's ``result`` (the dict of :mod:`autograder.grade`)."""
    rows = []
    for part in result["parts"]:
        css = {"passed": "passed", "failed": "failed"}.get(part["status"], "notrun")
        rows.append(
            f"<tr><td>{escape(part['grade_id'])}</td>"
            f"<td>{part['points']:g} / {part['max_points']:g}</td>"
            f"<td class='{css}'>{escape(part['status'])}</td>"
            f"<td>{escape(part['message'])}</td></tr>")
    notes = ""
    if result.get("notes"):
        items = "".join(f"<li>{escape(n)}</li>" for n in result["notes"])
        notes = f"<div class='notes'><p>Notes about this submission:</p><ul>{items}</ul></div>"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(assignment)}: feedback for {escape(student)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{escape(assignment)}: feedback for {escape(student)}</h1>"
        f"<p><strong>Score: {result['score']:g} / {result['max_score']:g}</strong></p>{notes}"
        "<table><thead><tr><th>Part</th><th>Points</th><th>Result</th><th>Message</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<p>Hidden tests check cases beyond the visible ones; their code is not shown. "
        "Fix the part a message names, rerun the visible tests, and ask your instructor if a "
        "message is unclear.</p></body></html>\n")
