"""nbgrader configuration of the course.

nbgrader reads ``nbgrader_config.py`` from its working directory, so the course's
commands run nbgrader from this folder (``python -m autograder ...`` does it for
you). The course root is the folder above this one.
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader's config loader

COURSE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.root = COURSE_ROOT
# Instructor notebooks (solutions, visible and hidden tests) ...
c.CourseDirectory.source_directory = "solutions"
# ... and the student versions generated from them, committed to the repository.
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(COURSE_ROOT, "grading", "gradebook.db")

# Student versions: stubs and no stored outputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearOutput.enabled = True
