"""Where the outputs come from: a recorded file, the user's Python function, or a chat endpoint.

Each source turns golden cases into `Produced` results, one per case, in case order. A failing call
(exception, timeout, HTTP error, a non-string return) is an error for that case, not a regression;
only input that cannot be used at all (an unreadable outputs file, an output missing for a case, a
target that cannot be imported) raises InputError.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pathlib
import threading
import typing
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from processor.errors import ConfigError
from processor.model import EvalCase
from processor.offline.golden import GoldenCase, InputError, read_jsonl
from processor.scorers.chat import ChatClient, HttpxChatClient, chat_completions_url, completion_content
from processor.scorers.custom import import_function


@dataclass(frozen=True)
class Produced:
    """The output for one case, or why there is none (`error` is a short reason, `detail` free text)."""

    output: str | None
    error: str = ""
    detail: str = ""


class OutputSource(typing.Protocol):
    def produce(self, cases: Sequence[GoldenCase]) -> list[Produced]: ...


# --- recorded outputs -------------------------------------------------------------------------------


class RecordedOutputs:
    """Outputs recorded as JSONL lines {"id" or "input", "output"}: by id when given, else by input."""

    def __init__(self, path: str) -> None:
        self.path = pathlib.Path(path)
        problems: list[str] = []
        if not self.path.is_file():
            raise InputError([f"{path}: no such file"])
        self.by_id: dict[str, tuple[str, str]] = {}
        self.by_input: dict[str, tuple[str, str]] = {}
        for number, row in read_jsonl(self.path, problems):
            where = f"{self.path}:{number}"
            output = row.get("output")
            if "output" not in row:
                problems.append(f"{where}: missing `output`")
                continue
            if not isinstance(output, str):
                problems.append(f"{where}: `output` must be a string, got {type(output).__name__}")
                continue
            if row.get("id") is not None:
                key, index, what = str(row["id"]), self.by_id, "id"
            elif isinstance(row.get("input"), str):
                key, index, what = row["input"], self.by_input, "input"
            else:
                problems.append(f"{where}: needs an `id` or an `input` string to match a golden case")
                continue
            if key in index and index[key][0] != output:
                problems.append(f"{where}: a different output for the same {what} is at {index[key][1]}")
                continue
            index.setdefault(key, (output, where))
        if problems:
            raise InputError(problems)

    def produce(self, cases: Sequence[GoldenCase]) -> list[Produced]:
        produced: list[Produced] = []
        missing: list[str] = []
        for golden in cases:
            found = self.by_id.get(golden.id) or self.by_input.get(golden.case.input)
            if found is None:
                missing.append(
                    f"{golden.source}: no output in {self.path} for case {golden.id!r} (by id or input)"
                )
            else:
                produced.append(Produced(found[0]))
        if missing:
            raise InputError(missing)
        return produced


# --- calls, concurrently, each with a timeout -------------------------------------------------------


OnDone = Callable[[Produced], None]


def _call_all(
    call: Callable[[GoldenCase], str],
    cases: Sequence[GoldenCase],
    *,
    concurrency: int,
    timeout_s: float,
    on_done: OnDone | None = None,
) -> list[Produced]:
    """Run `call` for every case on `concurrency` threads; a call past `timeout_s` is abandoned as an error.

    Python cannot stop a thread: an abandoned call runs on in a daemon thread and its result is dropped.
    `on_done` is told of every case as it finishes (the progress line).
    """

    def one(golden: GoldenCase) -> Produced:
        produced = produce_one(golden)
        if on_done is not None:
            on_done(produced)
        return produced

    def produce_one(golden: GoldenCase) -> Produced:
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = call(golden)
            except BaseException as exc:  # the user's code: anything it raises is that case's error
                box["exc"] = exc

        thread = threading.Thread(target=run, name=f"target-{golden.id}", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            return Produced(None, "timeout", f"no output within {timeout_s:g}s")
        if "exc" in box:
            exc = box["exc"]
            return Produced(None, _error_reason(exc), f"{type(exc).__name__}: {exc}")
        value = box.get("value")
        if not isinstance(value, str):
            return Produced(None, "bad_output", f"returned {type(value).__name__}, not a string")
        return Produced(value)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="offline") as pool:
        return list(pool.map(one, cases))


def _error_reason(exc: BaseException) -> str:
    if isinstance(exc, EndpointStatusError):
        return f"http_{exc.status}"
    if isinstance(exc, ConnectionError):
        return "unreachable"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "exception"


# --- the user's function ----------------------------------------------------------------------------


class TargetFunction:
    """`module:function`, called with the input string, or with the whole EvalCase when it asks for one.

    It gets the case when its first parameter is annotated `EvalCase` or, unannotated, is named `case`;
    otherwise the input string. `async def` functions are run to completion on their own event loop.
    """

    def __init__(
        self, ref: str, *, concurrency: int = 4, timeout_s: float = 60.0, on_done: OnDone | None = None
    ) -> None:
        self.ref = ref
        self.on_done = on_done
        try:
            self.function = import_function(ref, "--target")
        except ConfigError as exc:  # the same import rules as custom scorers; here a usage error
            raise InputError(exc.problems) from None
        self.wants_case = wants_case(self.function)
        self.concurrency = concurrency
        self.timeout_s = timeout_s

    def produce(self, cases: Sequence[GoldenCase]) -> list[Produced]:
        def call(golden: GoldenCase) -> str:
            arg: Any = golden.case if self.wants_case else golden.case.input
            result = self.function(arg)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            return result  # type: ignore[no-any-return]

        return _call_all(
            call, cases, concurrency=self.concurrency, timeout_s=self.timeout_s, on_done=self.on_done
        )


async def _await(awaitable: Any) -> Any:
    return await awaitable


def wants_case(function: Callable[..., Any]) -> bool:
    """True when the function's first parameter asks for an EvalCase (annotation, or the name `case`)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    first = params[0]
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        hints = {}
    annotation = hints.get(first.name, first.annotation)
    if annotation is inspect.Parameter.empty:
        return first.name == "case"
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "EvalCase"
    return annotation is EvalCase or (isinstance(annotation, type) and issubclass(annotation, EvalCase))


# --- an OpenAI-compatible chat-completions endpoint -------------------------------------------------


class EndpointStatusError(Exception):
    """The endpoint answered with a non-2xx HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class ChatEndpoint:
    """POST each input as the user message to `{url}/chat/completions` (unless the URL already ends so)."""

    def __init__(
        self,
        url: str,
        *,
        model: str,
        system: str = "",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        timeout_s: float = 60.0,
        environ: typing.Mapping[str, str] | None = None,
        client: ChatClient | None = None,
        on_done: OnDone | None = None,
    ) -> None:
        self.on_done = on_done
        if not url.startswith(("http://", "https://")):
            raise InputError([f"--endpoint: must be an http:// or https:// URL, got {url!r}"])
        self.url = chat_completions_url(url)
        self.model = model
        self.system = system
        env = os.environ if environ is None else environ
        self.api_key = env.get(api_key_env, "") if api_key_env else ""
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self._client = client if client is not None else HttpxChatClient(max_connections=max(1, concurrency))

    def request_body(self, case: EvalCase) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": case.input})
        return {"model": self.model, "messages": messages}

    def complete(self, case: EvalCase) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = self.request_body(case)
        reply = self._client.post(self.url, body, headers=headers, timeout_s=self.timeout_s)
        if not 200 <= reply.status < 300:
            raise EndpointStatusError(reply.status)
        content, _ = completion_content(reply.body)
        return content

    def produce(self, cases: Sequence[GoldenCase]) -> list[Produced]:
        return _call_all(
            lambda g: self.complete(g.case),
            cases,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            on_done=self.on_done,
        )
