"""The channel between the two sides: data only, both ways (never pickle, never code).

- :mod:`autograder.channel.wire`  frames on a Unix socket: a JSON header and raw bytes for
  arrays and tensors; a malformed frame raises :class:`~autograder.channel.wire.WireError`;
- :mod:`autograder.channel.rpc`   nested requests and replies over the wire, references to
  objects that stay on the other side;
- :mod:`autograder.channel.tail`  a text stream that keeps the last characters of an output.

Both the trusted grading process and the sandboxed kernel import these modules; they
import nothing else of the grader but :mod:`autograder.defaults`.
"""
