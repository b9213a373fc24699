"""Shared code of the convolutional-networks course.

Every chapter notebook and homework imports from here instead of copying code
from another notebook:

- :mod:`coursekit.data`      real images offline (MNIST digits, a photograph) and
                              the full MNIST download with checksums;
- :mod:`coursekit.gradcheck` centred finite differences and ``rel_error``;
- :mod:`coursekit.plotting`  image grids, learning curves;
- :mod:`coursekit.timing`    the compute device and honest timers;
- :mod:`coursekit.checks`    the comparison helpers that homework tests use.
"""

__version__ = "0.1.0"
