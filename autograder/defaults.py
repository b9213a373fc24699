"""Every limit and default of the grader, in one place.

Both sides of the trust boundary read these numbers: the kernel's modules
(:mod:`autograder.kernel`) import nothing else from outside :mod:`autograder.channel`.
"""

from __future__ import annotations

CELL_TIMEOUT = 120.0  # seconds a cell may run (``--cell-timeout``)
MAX_BYTES = 20 << 20  # largest submission file read (``--max-bytes``)
MEMORY_LIMIT = 4 << 30  # memory of a kernel, all its processes together (bytes)
SCRATCH_BYTES = 512 << 20  # tmpfs for a kernel's scratch folder, /tmp and /dev/shm
MAX_PROCESSES = 256  # processes and threads a kernel may run at once
START_LIMIT = 60.0  # seconds for the zygote (or a kernel) to be up
INTERRUPT_GRACE = 10.0  # seconds an interrupted kernel has to answer again before it is killed
OUTPUT_TAIL = 20_000  # characters of a cell's output kept (the last ones)
MESSAGE_LIMIT = 600  # characters of a part's message shown to the student
#: the thread counts of the BLAS and OpenMP libraries (read when they load)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
