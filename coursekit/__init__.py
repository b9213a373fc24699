"""Shared code of the convolutional-networks course.

Every chapter notebook and homework imports from here instead of copying code
from another notebook:

- :mod:`coursekit.data`      real images offline (MNIST digits, a photograph) and
                              the full MNIST download with checksums;
- :mod:`coursekit.gradcheck` centred finite differences and ``rel_error``;
- :mod:`coursekit.plotting`  image grids, learning curves;
- :mod:`coursekit.timing`    the compute device and honest timers;
- :mod:`coursekit.checks`    the comparison helpers that homework tests use;
- :mod:`coursekit.rules`     a part's rules ("no conv2d"), read off the submitted code;
- :mod:`coursekit.harness`   the operations tests run in the student's kernel while grading,
                              and their contract with the grader;
- :mod:`coursekit.chapters`  what the chapter pages build that also solves homework parts
                              (convolution, schematics, transfer learning): hidden from grading kernels.
"""

__version__ = "0.1.0"
