"""Where a submission's kernel runs.

With Linux namespaces (root, or a container that allows them) each kernel runs in
its own mount and PID namespaces with every file system read-only except its
scratch folder, and without capabilities: it cannot delete or rewrite the
gradebook, the submissions, other students' results or the course files, and it
cannot see or signal any other process. Otherwise it runs as a plain process
(still in a scratch working directory, with the memory limit). :func:`mode` says
which, and the grades report states it.

A kernel also gets a memory limit (``RLIMIT_DATA``, inherited from the grading
process): a memory bomb raises MemoryError in the student's code instead of
taking the machine down.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WRAPPER = Path(__file__).resolve().parent / "sandbox_kernel.sh"
KERNEL_NAME = "autograde-python3"
UNSHARE = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private"]
DEFAULT_MEMORY_LIMIT = 4 << 30


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Can this machine start a kernel in the sandbox? (probed once: a write outside must fail)."""
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        return False
    with tempfile.TemporaryDirectory(prefix="autograde-probe-") as work:
        outside = Path(tempfile.gettempdir()) / f"autograde-probe-{os.getpid()}"
        code = f"open({str(outside)!r}, 'w')"
        try:
            done = subprocess.run([*UNSHARE, "sh", str(WRAPPER), work, sys.executable, "-c", code],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        escaped = outside.exists()
        outside.unlink(missing_ok=True)
        return "Read-only file system" in done.stderr and not escaped


def mode() -> str:
    return "namespaces (read-only file systems, own PID space)" if namespaces_available() else "process"


def limit_memory(limit_bytes: int = DEFAULT_MEMORY_LIMIT) -> None:
    """Cap this process's (and its future children's) data segment at ``limit_bytes``."""
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def prepare_kernel(workdir: Path, sandboxed: bool, threads: int | None = None) -> str:
    """Write a kernelspec for grading into ``workdir`` and point Jupyter at it; returns its name.

    The kernel's HOME, temporary files and caches all live in ``workdir``. ``threads``
    caps the BLAS/OpenMP threads of the kernel, so that parallel graders share the cores
    instead of fighting over them.
    """
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if sandboxed:
        argv = [*UNSHARE, "sh", str(WRAPPER), str(workdir), *argv]
    spec_dir = workdir / ".jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": argv, "display_name": "Python 3 (grading)", "language": "python",
            # the kernel is not our direct child in the sandbox: interrupt it by message
            "interrupt_mode": "message",
            "env": {"HOME": str(workdir), "TMPDIR": str(workdir), "MPLCONFIGDIR": str(workdir / ".mpl"),
                    "IPYTHONDIR": str(workdir / ".ipython"), "MPLBACKEND": "Agg"}}
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            spec["env"][var] = str(threads)
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    os.environ["JUPYTER_PATH"] = str(workdir / ".jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(workdir / ".runtime")
    return KERNEL_NAME
