"""Decode a YAML mapping into a frozen dataclass: the one decoder of the config and of scorer params.

Types and unknown keys are checked here for every class; a class's own `validate(path) -> list[str]`
adds the rules its types cannot express. Every problem is collected and leads with the dotted key.
A leaf module (it imports no part of evalstream), so any part may decode with it.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is None:
        return getattr(tp, "__name__", str(tp))
    return str(tp).replace("typing.", "")


def _decode_value(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    """Coerce a YAML value to the annotated type, or record a problem and return a sentinel."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _decode_value(non_none[0], value, path, problems)
        for candidate in non_none:
            trial: list[str] = []
            decoded = _decode_value(candidate, value, path, trial)
            if not trial:
                return decoded
        problems.append(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return _INVALID
    if dataclasses.is_dataclass(tp):
        return decode(tp, value, path, problems)  # type: ignore[arg-type]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        problems.append(f"{path}: expected true or false, got {value!r}")
        return _INVALID
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.append(f"{path}: expected an integer, got {value!r}")
        return _INVALID
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        problems.append(f"{path}: expected a number, got {value!r}")
        return _INVALID
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        problems.append(f"{path}: expected a string, got {value!r}")
        return _INVALID
    if origin in (tuple, list):
        if isinstance(value, str) and args and args[0] is str:
            value = [value]
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, got {value!r}")
            return _INVALID
        item_tp = args[0] if args else Any
        items = [_decode_value(item_tp, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping, got {value!r}")
            return _INVALID
        key_tp, val_tp = args if args else (Any, Any)
        return {
            _decode_value(key_tp, k, path, problems): _decode_value(val_tp, v, f"{path}.{k}", problems)
            for k, v in value.items()
        }
    problems.append(f"{path}: unsupported config type {tp!r}")  # a bug in a part's config class
    return _INVALID


_INVALID: Any = object()


def decode(cls: type[T], data: Any, path: str, problems: list[str]) -> T:
    """Build dataclass `cls` from a mapping: unknown keys and wrong types become problems.

    Where a field cannot be decoded its default stays, so later checks still run; `validate(path)`
    is called on the result when the class defines it.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problems.append(f"{path or 'config'}: expected a mapping, got {data!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            suggestion = difflib.get_close_matches(str(key), fields, n=1)
            hint = (
                f" (did you mean '{suggestion[0]}'?)" if suggestion else f"; valid keys: {', '.join(fields)}"
            )
            problems.append(f"{path or 'config'}: unknown key '{key}'{hint}")
            continue
        decoded = _decode_value(hints[key], value, key_path, problems)
        if decoded is not _INVALID:
            kwargs[key] = decoded
    try:
        instance = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"{path or 'config'}: {exc}")
        instance = cls()
    validate = getattr(instance, "validate", None)
    if callable(validate):
        problems.extend(validate(path))
    return instance


def required(path: str, value: str) -> list[str]:
    """`[]` for a non-blank string, else the problem: `path: is required` (or `must not be empty`)."""
    if not value:
        return [f"{path}: is required"]
    return [] if value.strip() else [f"{path}: must not be empty"]


def out_of_range(
    path: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> list[str]:
    """`[]` when `value` lies in the range, else the one problem `path: must be between ..., got value`.

    NaN is never in range. A bound that is None is open-ended.
    """
    below = low is not None and not (value > low if low_open else value >= low)
    above = high is not None and not value <= high
    if not (below or above) and value == value:
        return []
    if low is not None and high is not None:
        allowed = f"between {low:g} and {high:g}"
    elif low is not None:
        allowed = f"greater than {low:g}" if low_open else f"at least {low:g}"
    else:
        allowed = f"at most {high:g}"
    return [f"{path}: must be {allowed}, got {value:g}"]
