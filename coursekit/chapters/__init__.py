"""Code that the chapter pages share and that solves homework parts.

The chapters build convolution (:mod:`.conv`), numerical gradients (:mod:`.gradcheck`),
the schematics of chapter 4 (:mod:`.schematics`), chapter 9's toolkit (:mod:`.transfer`)
and chapter 10's lines of digits and decoders (:mod:`.sliding`) once, here, for every
page that needs them. Several of these functions are what a homework asks students to
write, so this package is not in the view of the grader's kernels
(:mod:`autograder.trusted.sandbox` hides it, and the kernel refuses
to import it): a submission that imports it loses the parts that use it, with a message
that says why. Pages and the tests of this repository import it as usual.
"""
