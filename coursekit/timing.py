"""The compute device and timers that measure what they claim to measure."""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch


def pick_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``: the one choice a page makes."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work; a no-op on the CPU.

    CUDA calls return before the kernel has run, so a timer read without this
    measures the launch, not the work.
    """
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@contextmanager
def timed(device: str | torch.device = "cpu"):
    """Context manager yielding a dict whose ``"seconds"`` is set on exit.

    >>> with timed("cpu") as t:
    ...     _ = sum(range(1000))
    >>> t["seconds"] >= 0
    True
    """
    result = {"seconds": float("nan")}
    synchronize(device)
    start = time.perf_counter()
    try:
        yield result
    finally:
        synchronize(device)
        result["seconds"] = time.perf_counter() - start
