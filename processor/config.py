"""Read the one YAML config shared by every role, expand ${env:VAR}, decode and validate every part.

Every problem is collected before anything is reported, and each message leads with the dotted key:

    sampling.rate: must be between 0 and 1, got 2.5
    receiver.grpc: unknown key 'endpiont' (did you mean 'endpoint'?)
    kafka.bootstrap_servers: ${env:KAFKA_BOOTSTRAP_SERVERS} is not set

`--set key=value` overrides (the Collector's flag) are applied to the YAML document before decoding,
so a bad override is reported like a bad file value, under its dotted key.

A part's config is a frozen dataclass with defaults and an optional `validate(path) -> list[str]`
for rules the types cannot express; `processor.decode.decode` handles types and unknown keys for
all of them (and for the scorers' `params`).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from processor.alerts.config import AlertsConfig
from processor.decode import decode
from processor.errors import ConfigError
from processor.extract.config import SlicesConfig
from processor.metrics.config import MetricsConfig
from processor.receiver.config import ReceiverConfig
from processor.redact import RedactionConfig
from processor.sampler.config import SamplingConfig
from processor.scorers.config import ScorersConfig
from processor.transport.config import KafkaConfig
from processor.worker.config import WorkerConfig

__all__ = ["Config", "apply_overrides", "decode", "expand_env", "load", "parse"]

_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: str, path: str, problems: list[str], environ: Mapping[str, str]) -> str:
    """Expand `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` like the Collector; `$$` is a literal `$`."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(f"{path}: {match.group(0)} is not set")
        return ""

    parts = value.split("$$")
    return "$".join(_ENV_REF.sub(replace, part) for part in parts)


def _expand_tree(node: Any, path: str, problems: list[str], environ: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return expand_env(node, path, problems, environ)
    if isinstance(node, Mapping):
        return {
            k: _expand_tree(v, f"{path}.{k}" if path else str(k), problems, environ) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_expand_tree(v, f"{path}[{i}]", problems, environ) for i, v in enumerate(node)]
    return node


@dataclass(frozen=True)
class Config:
    """The whole configuration: one typed section per part, decoded and validated once."""

    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    scorers: ScorersConfig = field(default_factory=ScorersConfig)
    slices: SlicesConfig = field(default_factory=SlicesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    def validate(self, path: str) -> list[str]:
        """Rules across sections: the expensive tier's slices are one of the slice labels."""
        label = self.worker.tiers.slice_label
        if label and label not in self.slices.labels:
            names = ", ".join(self.slices.labels)
            return [f"worker.tiers.slice_label: {label!r} is not a slice label (slices.labels: {names})"]
        return []


def apply_overrides(data: Any, overrides: Sequence[str]) -> Any:
    """Apply `--set section.key=value` overrides to a loaded YAML document; return the new document.

    The key is dotted (`kafka.topics.traces`), the value is read as YAML (`1` is a number, `true` a
    boolean, `[a, b]` a list, an empty value the empty string), as the Collector's `--set` does.
    Raises ConfigError naming every malformed override.
    """
    problems: list[str] = []
    document: Any = copy.deepcopy(data) if data is not None else {}
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        parts = key.split(".")
        if not sep or not all(parts):
            problems.append(f"--set {override}: expected section.key=value, e.g. --set sampling.rate=1")
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            problems.append(f"{key}: --set value {text!r} is not valid YAML: {getattr(exc, 'problem', exc)}")
            continue
        if not isinstance(document, dict):
            problems.append(f"--set {override}: the config's top level is not a mapping")
            continue
        node = document
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                problems.append(
                    f"{key}: --set cannot descend into {where}, which is {child!r}, not a mapping"
                )
                break
            node = child
        else:
            node[parts[-1]] = value
    if problems:
        raise ConfigError(problems)
    return document


def parse(data: Any, *, environ: Mapping[str, str] | None = None, source: str = "config") -> Config:
    """Decode an already-loaded YAML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            [f"{source}: the top level must be a mapping of sections, got {type(data).__name__}"]
        )
    data = _expand_tree(data, "", problems, os.environ if environ is None else environ)
    sections = [f.name for f in dataclasses.fields(Config)]
    for key in data:
        if key not in sections:
            suggestion = difflib.get_close_matches(str(key), sections, n=1)
            hint = (
                f" (did you mean '{suggestion[0]}'?)" if suggestion else f"; sections: {', '.join(sections)}"
            )
            problems.append(f"unknown section '{key}'{hint}")
    config = decode(Config, {name: data.get(name) for name in sections if name in data}, "", problems)
    if problems:
        raise ConfigError(problems)
    return config


def load(
    path: str | os.PathLike[str] | None,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the YAML file at `path` (None: every default), apply `--set` overrides, validate."""
    if path is None:
        return parse(apply_overrides({}, overrides), environ=environ)
    file = pathlib.Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read config file: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if overrides:
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(
                [f"{file}: the top level must be a mapping of sections, got {type(data).__name__}"]
            )
        data = apply_overrides(data, overrides)
    return parse(data, environ=environ, source=str(file))
