"""`contains(haystack, needle)`: `needle in haystack` for large bytes, through the C library's memmem.

The receiver tests every request's bytes for the priority attribute's key before anything else
(`TraceIdSampler.may_override`). CPython's search scans ~5 bytes a nanosecond; glibc's vectorised
memmem ~14: 11 µs instead of 29 for a 150 KB request. Where the C library has no memmem, `in`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _memmem() -> Callable[[bytes, bytes], bool] | None:
    try:
        # PyDLL: the call keeps the GIL, as `in` does (a short call; releasing it would invite a switch)
        memmem = ctypes.PyDLL(None).memmem
    except (AttributeError, OSError):
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]

    def contains(haystack: bytes, needle: bytes) -> bool:
        # c_char_p hands over the bytes' own buffer (no copy); memmem reads only within the lengths
        return memmem(haystack, len(haystack), needle, len(needle)) is not None

    return contains


def _contains_in(haystack: bytes, needle: bytes) -> bool:
    return needle in haystack


contains: Callable[[bytes, bytes], bool] = _memmem() or _contains_in

__all__ = ["contains"]
