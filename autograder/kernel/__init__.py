"""The kernel side: what runs inside the sandbox, where the student's code runs.

- :mod:`autograder.kernel.zygote`  the process bubblewrap starts once per batch; it forks,
  for each submission, an init process and a kernel in namespaces of their own;
- :mod:`autograder.kernel.server`  the kernel: runs the setup and solution cells (never a
  test) and answers the trusted side's requests with data;
- ``blocked_chapters``             bound over ``coursekit/chapters`` in the sandbox.

Student code can reach everything in this folder, :mod:`autograder.channel` and
:mod:`autograder.defaults` (and, being read-only in its view, the rest of the package's
files, which it never runs). Nothing here imports the trusted side.
"""
