"""The nbval sanitizer (tools/nbval_sanitize.cfg) masks what varies between machines, and only that."""

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

CFG = Path(__file__).resolve().parents[2] / "tools" / "nbval_sanitize.cfg"


def sanitize(text: str) -> str:
    """Apply every rule of the file, in order, parsed by nbval itself."""
    for regex, replace in get_sanitize_patterns(CFG.read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_results_after_the_marker_are_masked_to_the_end_of_their_line_only():
    out = "MLP test accuracy per seed (varies by machine): 93.2 / 92.7; 93.0 / 92.6\nin each of the 3 seeds: True\n"
    assert sanitize(out) == "MLP test accuracy per seed (varies by machine): MASKED\nin each of the 3 seeds: True\n"


def test_numbers_without_the_marker_are_compared():
    out = "parameters: {'MLP': 79510, 'conv net': 11274}\nmean gap over the seeds above 1 point: True\n"
    assert sanitize(out) == out
    # the marker must be spelled out: a bare 'varies' or '(measured)' masks nothing
    for line in ("accuracy varies: 93.2\n", "accuracy (measured): 93.2\n"):
        assert sanitize(line) == line


def test_timings_and_rates_are_masked():
    assert sanitize("16 trainings took 58 s\n") == "16 trainings took TIME\n"
    assert sanitize("plain  2,896 images/s\n") == "plain\tRATE images/s\n"
