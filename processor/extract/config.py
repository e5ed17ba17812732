"""SlicesConfig: the `slices` section: which attributes give each slice label.

Each label maps to an ordered list of attribute keys; the first key found wins. Keys are looked
up on the LLM span, then its ancestors in the trace (nearest first), then the resource.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LABEL_SPANS_LLM_TRACES = "llm_traces"  # label spans only of traces with an LLM call (receiver side)
LABEL_SPANS_ALL = "all"  # label spans of every sampled trace
LABEL_SPANS = (LABEL_SPANS_LLM_TRACES, LABEL_SPANS_ALL)


def _default_labels() -> dict[str, list[str]]:
    return {
        "service": ["service.name"],
        # model is the response model, else the request model, unless a key below says otherwise
        "model": ["gen_ai.response.model", "gen_ai.request.model", "llm.model_name"],
        "prompt_version": [
            "app.prompt.version",
            "llm.prompt_template.version",
            "gen_ai.prompt.version",
            "gen_ai.prompt.name",
            "prompt.version",
            "traceloop.association.properties.prompt_version",
        ],
        "tenant": [
            "app.tenant",
            "tenant.id",
            "tenant",
            "app.tenant.id",
            "enduser.tenant",
            "organization.id",
        ],
        "locale": ["app.locale", "user.locale", "locale", "app.language", "language"],
    }


@dataclass(frozen=True)
class SlicesConfig:
    labels: dict[str, list[str]] = field(default_factory=_default_labels)
    # which label-carrying spans of a sampled trace the receiver forwards (processor/extract/select.py)
    label_spans: str = LABEL_SPANS_LLM_TRACES

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.labels)

    @functools.cached_property
    def attribute_keys(self) -> frozenset[str]:  # asked per request by the selection: built once
        return frozenset(k for keys in self.labels.values() for k in keys)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if not self.labels:
            problems.append(f"{path}.labels: at least one slice label is needed")
        for name, keys in self.labels.items():
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                problems.append(f"{path}.labels: {name!r} is not a valid Prometheus label name")
            if not keys:
                problems.append(f"{path}.labels.{name}: needs at least one attribute key")
        if self.label_spans not in LABEL_SPANS:
            choices = ", ".join(LABEL_SPANS)
            problems.append(f"{path}.label_spans: must be one of {choices}, got {self.label_spans!r}")
        return problems
