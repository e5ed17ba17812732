"""The one PII redaction pass: e-mail addresses, phone numbers and card numbers become placeholders.

The `redaction` section configures the one pass used everywhere text leaves the process: once per
case in the worker before the judge request, the results topic and the score events; in golden-set
harvesting; and, with `in_receiver`, on the GenAI content of the OTLP data before Kafka.

    redaction:
      kinds: [email, card, phone]    # the default; [] turns redaction off for every sink
      patterns: ['EMP-\\d{6}']      # your own regular expressions, replaced by [REDACTED]
      in_receiver: false             # true: also redact the forwarded spans and log records

    >>> Redactor().redact("mail ana@example.com or call +49 30 1234567, card 4111 1111 1111 1111")
    'mail [EMAIL] or call [PHONE], card [CARD]'

Kinds run in a fixed order, e-mail, then card, then phone, so the digits inside an address or a card
number are never half-taken by a later pattern. A card number is 13 to 19 digits, optionally grouped
by single spaces or dashes, and must pass the Luhn check: an order number of the same length stays. A
phone number is 7 to 15 digits (E.164 allows 15) written with a leading `+`, parentheses or
separators; a bare run of digits counts only from 10 digits on, and ISO dates, times and IPv4
addresses are never taken for phone numbers. Redaction errs towards removing: a 10-digit id with no
separators is treated as a phone number.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from processor.model import EvalCase, Message, Score

#: Every kind, in the order they run.
KINDS: tuple[str, ...] = ("email", "card", "phone")

PLACEHOLDERS: dict[str, str] = {"email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]"}
PATTERN_PLACEHOLDER = "[REDACTED]"

#: Span and log attributes that carry prompt, answer or document text (every convention the
#: extractor reads); exact keys and key prefixes.
CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.retrieval.query.text",
        "input.value",
        "output.value",
    }
)
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts",
    "retrieval.documents.",
)


@dataclass(frozen=True)
class RedactionConfig:
    kinds: list[str] = field(default_factory=lambda: list(KINDS))  # [] switches redaction off
    patterns: list[str] = field(default_factory=list)  # extra regular expressions -> [REDACTED]
    in_receiver: bool = False  # also redact the GenAI content of the forwarded OTLP before Kafka

    @property
    def enabled(self) -> bool:
        return bool(self.kinds or self.patterns)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        for i, kind in enumerate(self.kinds):
            if kind not in KINDS:
                problems.append(f"{path}.kinds[{i}]: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        for i, pattern in enumerate(self.patterns):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                problems.append(f"{path}.patterns[{i}]: invalid regular expression {pattern!r}: {exc}")
                continue
            if compiled.match(""):
                problems.append(f"{path}.patterns[{i}]: {pattern!r} matches the empty string")
        if self.in_receiver and not self.enabled:
            problems.append(f"{path}.in_receiver: true, but kinds and patterns are empty")
        return problems

    def redactor(self) -> Redactor | None:
        """The configured Redactor, or None when redaction is off."""
        return Redactor(self.kinds, patterns=self.patterns) if self.enabled else None


_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{1,5}(?:[\s.-]?\d{1,5}){0,5}(?![\w])"
)
_NOT_PHONE = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}|\d{1,2}[.:]\d{2}(?:[.:]\d{2})?)$"
)


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check used by every card scheme."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def parse_kinds(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list such as `email,phone`; raise ValueError naming an unknown kind."""
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown redaction kind {unknown[0]!r}; valid kinds: {', '.join(KINDS)}")
    if not kinds:
        raise ValueError(f"no redaction kind given; valid kinds: {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in kinds)


class Redactor:
    """Replace the configured kinds of PII with placeholders; `counts` tallies what was replaced."""

    def __init__(self, kinds: Iterable[str] = KINDS, *, patterns: Sequence[str] = ()) -> None:
        wanted = tuple(kinds)
        unknown = [k for k in wanted if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown redaction kind {unknown[0]!r}; valid kinds: {', '.join(KINDS)}")
        self.kinds: tuple[str, ...] = tuple(k for k in KINDS if k in wanted)
        self.counts: dict[str, int] = dict.fromkeys(self.kinds, 0)
        steps: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
            "email": (_EMAIL, lambda _: True),
            "card": (_CARD, _is_card),
            "phone": (_PHONE, _is_phone),
        }
        self._steps = [(kind, *steps[kind]) for kind in self.kinds]
        if patterns:
            self.counts["pattern"] = 0
            mine = re.compile("|".join(f"(?:{p})" for p in patterns))
            self._steps.append(("pattern", mine, lambda _: True))

    def redact(self, text: str) -> str:
        """The text with every configured kind replaced by its placeholder."""
        for kind, pattern, accept in self._steps:

            def sub(match: re.Match[str], kind: str = kind, accept: Callable[[str], bool] = accept) -> str:
                if not accept(match.group(0)):
                    return match.group(0)
                self.counts[kind] += 1
                return PLACEHOLDERS.get(kind, PATTERN_PLACEHOLDER)

            text = pattern.sub(sub, text)
        return text

    def case(self, case: EvalCase) -> EvalCase:
        """The case with every free-text field redacted (ids, labels and model names stay)."""
        return dataclasses.replace(
            case,
            input=self.redact(case.input),
            output=self.redact(case.output),
            expected=None if case.expected is None else self.redact(case.expected),
            context=tuple(self.redact(doc) for doc in case.context),
            messages=tuple(Message(m.role, self.redact(m.content)) for m in case.messages),
            system_instructions=self.redact(case.system_instructions),
        )

    def score(self, score: Score) -> Score:
        """The score with its explanation redacted (a scorer may quote the text it judged)."""
        return (
            dataclasses.replace(score, explanation=self.redact(score.explanation))
            if score.explanation
            else score
        )


def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def _redact_any_value(value: AnyValue, redactor: Redactor) -> None:
    """Every string inside the value, in place (kvlists and arrays included)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        value.string_value = redactor.redact(value.string_value)
    elif kind == "array_value":
        for item in value.array_value.values:
            _redact_any_value(item, redactor)
    elif kind == "kvlist_value":
        for kv in value.kvlist_value.values:
            _redact_any_value(kv.value, redactor)


def _redact_attributes(attributes: Iterable[KeyValue], redactor: Redactor) -> None:
    for kv in attributes:
        if is_content_key(kv.key):
            _redact_any_value(kv.value, redactor)


def redact_traces(request: ExportTraceServiceRequest, redactor: Redactor) -> None:
    """Redact the content attributes of every span and span event, in place."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _redact_attributes(span.attributes, redactor)
                for event in span.events:
                    _redact_attributes(event.attributes, redactor)


def redact_logs(request: ExportLogsServiceRequest, redactor: Redactor) -> None:
    """Redact every log body (GenAI events carry the messages there) and content attributes, in place."""
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                _redact_any_value(record.body, redactor)
                _redact_attributes(record.attributes, redactor)


def _is_card(found: str) -> bool:
    digits = re.sub(r"\D", "", found)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_phone(found: str) -> bool:
    if _NOT_PHONE.match(found):
        return False
    digits = re.sub(r"\D", "", found)
    if not 7 <= len(digits) <= 15:
        return False
    written_as_phone = found.startswith("+") or "(" in found or bool(re.search(r"\d[\s.-]\d", found))
    return written_as_phone or len(digits) >= 10


def redact(text: str, kinds: Iterable[str] = KINDS) -> str:
    """One-shot form of `Redactor(kinds).redact(text)`."""
    return Redactor(kinds).redact(text)
