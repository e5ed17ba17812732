"""How many entries one request may hold before the receiver decodes it: memory bounded per request.

Decoding costs about 170 bytes of memory per span, however small the span is on the wire (an empty
one is 2 bytes), so a 64 MiB request of tiny spans would cost gigabytes before anything could look at
it. `check_entries` walks the request's wire format first, without decoding, counting its resource,
scope and item (span or log record) entries, and stops at the cap: the walk costs at most `max_entries`
steps and no copy, and a request over the cap is refused (`TooLarge`: RESOURCE_EXHAUSTED without
RetryInfo, as for a request over the size limit) before it can cost anything else.

Traces and logs share one layout (request.1 = resource_*, resource_*.2 = scope_*, scope_*.2 = items).

OTLP/JSON bodies cost far more per entry (a dict per object, then a message built in Python), so
`check_json_objects` bounds their objects and arrays, counted as bytes, before `json.loads`.
"""

from __future__ import annotations

from collections.abc import Iterator

from processor.errors import InvalidRequest, TooLarge
from processor.transport import wire

_MIN_ENTRY_BYTES = 2  # an empty entry: its tag and a zero length


def check_entries(body: bytes, max_entries: int, items: str) -> None:
    """Raise TooLarge when `body` holds more than `max_entries` entries (fields of the request, its
    resources and its scopes: resources, scopes, spans or log records, and their few other fields).

    A body too short to hold that many is not walked. Malformed framing raises InvalidRequest (the
    decode would refuse it too).
    """
    if len(body) <= max_entries * _MIN_ENTRY_BYTES:
        return
    budget = _Budget(max_entries)
    try:
        for resource in _submessages(memoryview(body), 1, budget):
            for scope in _submessages(resource, 2, budget):
                for _ in _submessages(scope, 2, budget):
                    pass
    except _OverBudget:
        raise TooLarge(
            f"the request holds more than {max_entries} {items}, scopes and resources "
            f"(receiver.max_entries_per_request): send smaller batches"
        ) from None
    except (IndexError, ValueError) as exc:
        raise InvalidRequest(f"not a valid export request ({len(body)} bytes): {exc}") from None


class _OverBudget(Exception):
    pass


class _Budget:
    def __init__(self, entries: int) -> None:
        self.left = entries

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _OverBudget


def _submessages(data: memoryview, number: int, budget: _Budget) -> Iterator[memoryview]:
    """The payloads of length-delimited field `number` (views, no copies); every field costs `budget`."""
    for field_number, wire_type, _, payload in wire.fields(data):
        budget.spend()
        if field_number == number and wire_type == wire.LENGTH_DELIMITED:
            yield payload


#: OTLP/JSON: objects and arrays a request may hold per `max_entries_per_request` entry. Decoding JSON
#: costs per object (a dict, then a protobuf message built field by field in Python), so the bound is
#: on objects, counted before parsing; a real span with ten attributes is ~25 of them.
JSON_OBJECTS_PER_ENTRY = 4


def check_json_objects(body: bytes, max_entries: int) -> None:
    """Raise TooLarge when an OTLP/JSON body holds more than `JSON_OBJECTS_PER_ENTRY` x `max_entries`
    objects and arrays, counted as `{` and `[` bytes (those inside strings too: an upper bound)."""
    limit = max_entries * JSON_OBJECTS_PER_ENTRY
    if len(body) <= limit:
        return
    objects = body.count(b"{") + body.count(b"[")
    if objects > limit:
        raise TooLarge(
            f"the JSON request holds {objects} objects and arrays, over {limit} "
            f"({JSON_OBJECTS_PER_ENTRY} x receiver.max_entries_per_request): send smaller batches or protobuf"
        )
