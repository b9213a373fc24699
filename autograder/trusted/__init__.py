"""The trusted side: the grading process of one submission, which student code never runs in.

- :mod:`autograder.trusted.grade`     one submission, from its notebook to its result;
- :mod:`autograder.trusted.assemble`  the cells to run (tests from the source, code from the
  submission) and the submission restored onto the release;
- :mod:`autograder.trusted.review`    review flags: known-cheat patterns read off the code;
- :mod:`autograder.trusted.runner`    the student's cells to the kernel, the tests here, with
  time limits; :mod:`autograder.trusted.remote` the test namespace and the proxies of the
  student's objects;
- :mod:`autograder.trusted.sandbox`   the walls: bubblewrap and the zygote (started by the
  batch), a kernel's handle; :mod:`autograder.trusted.limits` each kernel's cgroup or watchdog.

It talks to the kernel only through :mod:`autograder.channel`, and imports nothing from
:mod:`autograder.kernel` (it names ``autograder.kernel.zygote`` only as the module that
bubblewrap runs).
"""
