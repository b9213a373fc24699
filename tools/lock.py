"""Re-pin requirements/constraints.txt from the current .venv (`make lock`).

Writes every installed distribution as NAME==VERSION, except the course package
itself (installed editable); local version labels are dropped (torch 2.13.0+cpu
is pinned as torch==2.13.0, which the machine's local CPU wheel satisfies).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = (
    "# Exact versions the repository's own setup installs (make setup).\n"
    "# Regenerate with: make lock  (see README). Package metadata in pyproject.toml stays loose.\n"
)


def main() -> int:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    ).stdout
    pins = sorted((line.split("+")[0] for line in frozen.splitlines() if "==" in line), key=str.lower)
    pins = [p for p in pins if not p.lower().startswith("coursekit==")]
    (ROOT / "requirements" / "constraints.txt").write_text(HEADER + "\n".join(pins) + "\n")
    print(f"pinned {len(pins)} packages in requirements/constraints.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
