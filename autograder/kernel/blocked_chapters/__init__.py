"""Stands in for ``coursekit.chapters`` in the grader's kernels (see autograder.trusted.sandbox)."""

from autograder.kernel.server import CHAPTERS_MESSAGE

raise ImportError(CHAPTERS_MESSAGE)
