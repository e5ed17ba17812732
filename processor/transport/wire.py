"""Protobuf's wire format, walked without decoding: the receiver counts entries and the codec salvages
spans with it. protobuf's Python API offers no public field walker, hence these few lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

Bytes = TypeVar("Bytes", bytes, memoryview)

LENGTH_DELIMITED = 2


def varint(data: bytes | memoryview, at: int) -> tuple[int, int]:
    """(the varint at `at`, the position after it); IndexError when truncated, ValueError when too long."""
    result = shift = 0
    while True:
        byte = data[at]  # IndexError: truncated
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def fields(data: Bytes) -> Iterator[tuple[int, int, Bytes, Bytes]]:
    """(field number, wire type, the field's whole bytes, its payload) per top-level field, in order.

    The payload is the length-delimited content (empty for other wire types); slices of a memoryview
    are views, not copies. Malformed framing raises ValueError or IndexError.
    """
    at = 0
    while at < len(data):
        start = at
        key, at = varint(data, at)
        wire_type, payload = key & 7, data[at:at]
        if wire_type == 0:
            _, at = varint(data, at)
        elif wire_type == 1:
            at += 8
        elif wire_type == LENGTH_DELIMITED:
            length, at = varint(data, at)
            payload = data[at : at + length]
            at += length
        elif wire_type == 5:
            at += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if at > len(data):
            raise ValueError("truncated field")
        yield key >> 3, wire_type, data[start:at], payload


def length_delimited(number: int, payload: bytes) -> bytes:
    """`payload` as length-delimited field `number`."""
    return _varint_bytes(number << 3 | LENGTH_DELIMITED) + _varint_bytes(len(payload)) + payload


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
