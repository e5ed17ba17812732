"""Golden JSONL files -> eval cases; every problem names FILE:LINE and what is wrong.

One case per line (blank lines are skipped):

    {"input": "How do I reset my password?",        # required, a non-empty string
     "expected": "Settings > Security",             # optional: the `contains` check needs it
     "id": "pw-reset-1",                            # optional, unique; default FILE:LINE
     "context": ["Passwords are reset under ..."],  # optional list of strings
     "metadata": {"locale": "de-DE", "tenant": "acme", "ticket": "SUP-412"},
     "scorers": {"relevance": 0.7, "contains": null}}

`metadata` keys that are slice labels (`model`, `prompt_version`, `tenant`, `locale`, `service`, or
any label under `slices.labels` in the config) become the case's labels and slice the report; other
keys are kept for the JSON report only. `scorers` adjusts the run's scorers for this one case, with
JSON merge-patch (RFC 7386) meaning: a number sets that scorer's threshold (adding the scorer when
the run does not have it), `true` adds it with the run's threshold, `null` removes it for this case,
and an object `{"threshold": 0.8, "params": {...}}` builds it with its own parameters (a per-case
regex pattern or JSON schema). Unknown top-level keys (`output`, `provenance`, notes...) are ignored,
so a harvested candidate file loads as soon as someone fills in `expected`.
"""

from __future__ import annotations

import glob
import json
import math
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processor.errors import EvalstreamError
from processor.model import DEFAULT_SLICE_LABELS, EvalCase
from processor.sanitize import json_value


class InputError(EvalstreamError):
    """Bad input or usage (exit 2): `problems` lists each, leading with FILE:LINE where there is one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


#: A per-case scorer adjustment: None removes the scorer; otherwise threshold and params to build with.
@dataclass(frozen=True)
class ScorerOverride:
    name: str
    remove: bool = False
    threshold: float | None = None
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class GoldenCase:
    """One golden line: the EvalCase (output still empty) plus what only the offline runner needs."""

    case: EvalCase
    metadata: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[ScorerOverride, ...] = ()

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def source(self) -> str:
        return self.case.source


def expand_paths(patterns: Iterable[str]) -> list[pathlib.Path]:
    """Files named by paths or globs (`**` recurses), in order, each once; no match is an error."""
    files: list[pathlib.Path] = []
    problems: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(pathlib.Path(p) for p in glob.glob(pattern, recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                problems.append(f"{pattern}: no file matches this pattern")
        else:
            path = pathlib.Path(pattern)
            matches = [path]
            if not path.is_file():
                problems.append(f"{pattern}: no such file")
                matches = []
        files.extend(m for m in matches if m not in files)
    if problems:
        raise InputError(problems)
    return files


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (use null or a string)")


def parse_line(line: str) -> Any:
    """One JSONL line; raises ValueError (JSONDecodeError, NaN, too many digits) or RecursionError.

    Strict JSON: Python's json module would take `NaN` and `Infinity`, which no JSON parser reading
    our report could. Lone surrogates spelt as escapes are replaced (`processor.sanitize`).
    """
    return json_value(json.loads(line, parse_constant=_reject_constant), line)


def read_jsonl(path: pathlib.Path, problems: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; every problem names FILE:LINE.

    Lines end at `\n` only (a `\r` before it is dropped): U+2028 and the other characters
    `str.splitlines` breaks on are valid inside a JSON string.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        return []
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{path}:{number}"
        try:
            line = raw.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                f"{where}: not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line"
            )
            continue
        if number == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not line.strip():
            continue
        try:
            value = parse_line(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            problems.append(f"{where}: invalid JSON: nested too deeply")
            continue
        except ValueError as exc:  # NaN / Infinity, an integer over Python's digit limit
            problems.append(f"{where}: invalid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a JSON object, got {type(value).__name__}")
            continue
        rows.append((number, value))
    return rows


def load(patterns: Iterable[str], *, slice_labels: Iterable[str] = DEFAULT_SLICE_LABELS) -> list[GoldenCase]:
    """Every case of every file, in file then line order; raise InputError listing every problem.

    An empty set (no file, or files with no case) is an error: a gate with nothing to check never passes.
    """
    files = expand_paths(patterns)
    labels = tuple(slice_labels)
    problems: list[str] = []
    cases: list[GoldenCase] = []
    first_line: dict[str, str] = {}
    for path in files:
        for number, row in read_jsonl(path, problems):
            where = f"{path}:{number}"
            golden = parse_case(row, where, labels, problems)
            if golden is None:
                continue
            if golden.id in first_line:
                problems.append(f"{where}: duplicate id {golden.id!r} (first at {first_line[golden.id]})")
                continue
            first_line[golden.id] = where
            cases.append(golden)
    if problems:
        raise InputError(problems)
    if not cases:
        raise InputError([f"{', '.join(map(str, files)) or 'golden set'}: no cases: the golden set is empty"])
    return cases


def parse_case(
    row: Mapping[str, Any], where: str, slice_labels: Sequence[str], problems: list[str]
) -> GoldenCase | None:
    """One line's object -> GoldenCase, or None after recording what is wrong."""
    before = len(problems)
    text = row.get("input")
    if "input" not in row:
        problems.append(f"{where}: missing `input`")
    elif not isinstance(text, str):
        problems.append(f"{where}: `input` must be a string, got {_json_type(text)}")
    elif not text.strip():
        problems.append(f"{where}: `input` is empty")

    expected = row.get("expected")
    if expected is not None and not isinstance(expected, str):
        problems.append(f"{where}: `expected` must be a string, got {_json_type(expected)}")

    case_id = row.get("id")
    if case_id is None:
        case_id = where
    elif isinstance(case_id, bool) or not isinstance(case_id, (str, int)) or not str(case_id).strip():
        problems.append(f"{where}: `id` must be a non-empty string, got {case_id!r}")

    context = row.get("context", [])
    if context is None:
        context = []
    if isinstance(context, str):
        context = [context]
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        problems.append(f"{where}: `context` must be a list of strings")
        context = []

    metadata = row.get("metadata") or {}
    labels: dict[str, str] = {}
    if not isinstance(metadata, dict):
        problems.append(f"{where}: `metadata` must be an object, got {_json_type(metadata)}")
        metadata = {}
    for name in slice_labels:
        value = metadata.get(name)
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            problems.append(
                f"{where}: metadata.{name} is a slice label and must be a string, got {_json_type(value)}"
            )
        elif str(value):
            labels[name] = value if isinstance(value, str) else json.dumps(value)

    overrides = parse_overrides(row.get("scorers"), where, problems)

    if len(problems) > before:
        return None
    case = EvalCase(
        input=str(text),
        output="",
        expected=expected,
        context=tuple(context),
        labels=labels,
        id=str(case_id),
        source=where,
    )
    return GoldenCase(case, dict(metadata), overrides)


def parse_overrides(value: Any, where: str, problems: list[str]) -> tuple[ScorerOverride, ...]:
    """The `scorers` object: {name: threshold | true | null | {"threshold": t, "params": {...}}}."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        problems.append(
            f"{where}: `scorers` must be an object of scorer name to threshold, true, null or "
            f'{{"threshold", "params"}}, got {_json_type(value)}'
        )
        return ()
    overrides: list[ScorerOverride] = []
    for name, spec in value.items():
        key = f"{where}: scorers.{name}"
        if not name:
            problems.append(f"{where}: `scorers` has an empty scorer name")
        elif spec is None:
            overrides.append(ScorerOverride(name, remove=True))
        elif spec is True:
            overrides.append(ScorerOverride(name))
        elif isinstance(spec, (int, float)) and not isinstance(spec, bool):
            if _threshold_ok(spec, key, problems):
                overrides.append(ScorerOverride(name, threshold=float(spec)))
        elif isinstance(spec, dict):
            unknown = sorted(set(spec) - {"threshold", "params"})
            threshold = spec.get("threshold")
            params = spec.get("params")
            if unknown:
                problems.append(f"{key}: unknown key {unknown[0]!r}; valid keys: threshold, params")
            elif params is not None and not isinstance(params, dict):
                problems.append(f"{key}.params: must be an object, got {_json_type(params)}")
            elif threshold is None or _threshold_ok(threshold, f"{key}.threshold", problems):
                overrides.append(
                    ScorerOverride(
                        name, threshold=None if threshold is None else float(threshold), params=params
                    )
                )
        else:
            problems.append(
                f"{key}: must be a threshold between 0 and 1, true, null or an object, got {spec!r}"
            )
    return tuple(overrides)


def _threshold_ok(value: Any, key: str, problems: list[str]) -> bool:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or not 0 <= value <= 1
    ):
        problems.append(f"{key}: threshold must be between 0 and 1, got {value!r}")
        return False
    return True


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    for tp, name in names.items():
        if isinstance(value, tp):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__
