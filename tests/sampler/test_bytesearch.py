"""bytesearch.contains: the same answers as `in`, through memmem where the C library has it."""

from __future__ import annotations

import random

import pytest

from processor.sampler import bytesearch


@pytest.mark.parametrize(
    "contains", [bytesearch.contains, bytesearch._contains_in], ids=["chosen", "fallback"]
)
def test_answers_as_in_does(contains: object) -> None:
    rng = random.Random(7)
    assert callable(contains)
    for size in [0, 1, 2, 17, 300, 4096, 150_000]:
        haystack = rng.randbytes(size)
        for needle in [b"", b"sampling.priority", rng.randbytes(1), rng.randbytes(2)]:
            assert contains(haystack, needle) == (needle in haystack)
        if size >= 40:
            at = rng.randrange(size - 20)
            assert contains(haystack, haystack[at : at + 20])
            assert contains(haystack + b"sampling.priority", b"sampling.priority")  # at the very end
            assert contains(b"sampling.priority" + haystack, b"sampling.priority")  # at the very start
    assert not contains(b"sampling.priorit", b"sampling.priority")  # the needle longer than what is left


def test_memmem_is_used_on_this_platform() -> None:
    # Linux and macOS C libraries have memmem; if this fails the receiver still works, only slower
    assert bytesearch.contains is not bytesearch._contains_in
