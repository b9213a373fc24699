"""Stands in for ``coursekit.chapters`` in the grader's kernels (see autograder.sandbox)."""
from autograder.kernel import CHAPTERS_MESSAGE

raise ImportError(CHAPTERS_MESSAGE)
