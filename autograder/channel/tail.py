"""A write-only text stream that keeps the last :data:`~autograder.defaults.OUTPUT_TAIL` characters."""

from __future__ import annotations

from ..defaults import OUTPUT_TAIL


class Tail:
    """Where a cell's prints go, on either side: only the tail is kept, so an output flood
    costs no memory."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.size = 0

    def write(self, text: object) -> int:
        text = str(text)
        self.chunks.append(text)
        self.size += len(text)
        if self.size > 2 * OUTPUT_TAIL:
            joined = "".join(self.chunks)[-OUTPUT_TAIL:]
            self.chunks, self.size = [joined], len(joined)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.chunks)[-OUTPUT_TAIL:]
