"""LLM-as-judge over any OpenAI-compatible chat-completions endpoint; its HTTP client is passed in.

One judgement is one request: the rubric with `{question}`, `{answer}`, `{context}` and `{expected}`
filled in, sent as the user message. The reply must be either JSON `{"score": x, "explanation": "..."}`
or text holding exactly one number, with 0 <= x <= `scale`; the score is `x / scale`. Anything else
is an ERROR with reason `bad_response`, never a guessed score.

What can go wrong, and what the case gets:

    no reply within timeout_s            ERROR   timeout       (not retried: it already cost timeout_s)
    429, or 5xx, after max_retries       ERROR   http_429 / http_5xx
    Retry-After longer than backoff_max  ERROR   http_429 / http_5xx (immediately, without waiting)
    connection refused / reset           ERROR   unreachable   (retried like 5xx)
    other 4xx (bad key, unknown model)   ERROR   http_4xx      (not retried)
    hourly token budget used up          SKIPPED budget        (no request sent)
    rubric needs context / expected      SKIPPED no_context / no_expected

Retries back off exponentially from `backoff_initial_s` (doubling, capped at `backoff_max_s`, with
equal jitter) or wait exactly the server's Retry-After. `max_concurrency` bounds the requests this
scorer has in flight across all worker threads. The budget is a sliding one-hour window over the
`usage.total_tokens` the endpoint reports; with a concurrency of N it may be overshot by at most N
requests, since requests already in flight are not cancelled.
"""

from __future__ import annotations

import collections
import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from processor.decode import out_of_range, required
from processor.model import EvalCase, Score
from processor.scorers.chat import ChatClient, ChatReply, chat_completions_url, completion_content
from processor.scorers.contract import strip_code_fence

DEFAULT_THRESHOLD = 0.7

SYSTEM_PROMPT = (
    "You are a strict, impartial evaluator. Follow the instructions exactly and reply only as asked."
)

DEFAULT_RUBRIC = """\
Rate how well the ANSWER addresses the user's QUESTION.

10 = answers the question directly and completely
7  = answers it, with minor gaps or extra material
4  = partly related, misses the main point
0  = off-topic, a refusal, or empty

Judge relevance only, not style or length. The question and answer may be in any language.

QUESTION:
{question}

ANSWER:
{answer}

Reply with JSON only: {"score": <integer 0-10>, "explanation": "<one short sentence>"}"""

PLACEHOLDERS = ("question", "answer", "context", "expected")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_WINDOW_S = 3600.0


def rubric_placeholders(rubric: str) -> set[str]:
    """Every `{name}` in the rubric (JSON examples such as `{"score": 1}` are not placeholders)."""
    return set(_PLACEHOLDER.findall(rubric))


@dataclass(frozen=True, slots=True)
class JudgeParams:
    """The judge's `params`, decoded by processor.decode; everything it needs besides its client."""

    base_url: str = ""  # an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1
    model: str = ""
    api_key_env: str = ""  # the environment variable holding the API key (read at build time)
    allow_plain_http_api_key: bool = False
    rubric: str = DEFAULT_RUBRIC
    scale: float = 10.0
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_concurrency: int = 4
    budget_tokens_per_hour: int = 0  # 0: no budget
    max_tokens: int = 200  # 0: leave the reply length to the endpoint
    temperature: float = 0.0
    max_field_chars: int = 8000

    def validate(self, path: str) -> list[str]:
        problems = [*required(f"{path}.base_url", self.base_url), *required(f"{path}.model", self.model)]
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            problems.append(f"{path}.base_url: must start with http:// or https://, got {self.base_url!r}")
        problems += [f"{path}.rubric: {problem}" for problem in check_rubric(self.rubric)]
        for name, low, high, low_open in (
            ("scale", 0.0, None, True),
            ("timeout_s", 0.0, None, True),
            ("max_retries", 0, 10, False),
            ("backoff_initial_s", 0.0, None, False),
            ("backoff_max_s", 0.0, None, False),
            ("max_concurrency", 1, None, False),
            ("budget_tokens_per_hour", 0, None, False),
            ("max_tokens", 0, None, False),
            ("temperature", 0.0, 2.0, False),
            ("max_field_chars", 100, None, False),
        ):
            value = getattr(self, name)
            problems += out_of_range(f"{path}.{name}", value, low=low, high=high, low_open=low_open)
        return problems


class TokenWindow:
    """Tokens spent over the last hour, from the endpoint's usage reports; thread-safe."""

    def __init__(self, limit: int, *, clock: Callable[[], float], window_s: float = _WINDOW_S) -> None:
        self._limit = limit
        self._clock = clock
        self._window = window_s
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self._window:
            self._total -= self._spent.popleft()[1]

    def exhausted(self) -> bool:
        if self._limit <= 0:
            return False
        with self._lock:
            self._prune(self._clock())
            return self._total >= self._limit

    def add(self, tokens: int) -> None:
        if self._limit <= 0 or tokens <= 0:
            return
        with self._lock:
            now = self._clock()
            self._prune(now)
            self._spent.append((now, tokens))
            self._total += tokens


class _Failure(Exception):
    """A finished attempt sequence that produced no score: carries the Score.errored arguments."""

    def __init__(self, reason: str, explanation: str) -> None:
        super().__init__(explanation)
        self.reason = reason
        self.explanation = explanation


class JudgeScorer:
    """`judge`: one chat-completions call per case, scored by a rubric; see the module docstring.

    Args:
        client: the HTTP seam (`ChatClient`); tests pass a fake or point the default at a local server.
        api_key: sent as `Authorization: Bearer <key>`; empty sends no header (local endpoints).
        clock, sleep, rng: injected so the budget window and the backoff can be tested without waiting.
    """

    #: The request leaves the process: the worker hands this scorer the redacted case.
    sends_text_out = True

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        settings: JudgeParams,
        client: ChatClient,
        api_key: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.settings = settings
        self._url = chat_completions_url(settings.base_url)
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._needs = rubric_placeholders(settings.rubric)
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._budget = TokenWindow(settings.budget_tokens_per_hour, clock=clock)
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def budget_tokens_per_hour(self) -> int:
        """The hourly budget (0: none); the worker's expensive tier plans its sample around it."""
        return self.settings.budget_tokens_per_hour

    def __call__(self, case: EvalCase) -> Score:
        if "context" in self._needs and not any(doc.strip() for doc in case.context):
            return Score.skipped(self.name, "no_context")
        if "expected" in self._needs and case.expected is None:
            return Score.skipped(self.name, "no_expected")
        if self._budget.exhausted():
            return Score.skipped(self.name, "budget", "hourly token budget used up")
        prompt = self.render(case)
        spent = 0
        try:
            reply = self._request(prompt)
            content, spent = self._read_completion(reply, prompt)
            self._budget.add(spent)
            value, explanation = parse_verdict(content, scale=self.settings.scale)
        except _Failure as failure:
            return Score.errored(self.name, failure.reason, failure.explanation, tokens=spent)
        return Score.scored(self.name, value, threshold=self.threshold, explanation=explanation, tokens=spent)

    def render(self, case: EvalCase) -> str:
        """The rubric with the case filled in; each field cut to `max_field_chars`."""
        limit = self.settings.max_field_chars
        documents = [doc for doc in case.context if doc.strip()]
        fields = {
            "question": case.input,
            "answer": case.output,
            "context": "\n\n".join(f"[{i}] {doc[:limit]}" for i, doc in enumerate(documents, 1)),
            "expected": case.expected or "",
        }
        return _PLACEHOLDER.sub(
            lambda m: fields[m.group(1)][:limit] if m.group(1) in fields else m.group(0), self.settings.rubric
        )

    def _payload(self, prompt: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
            "temperature": self.settings.temperature,
        }
        if self.settings.max_tokens:
            payload["max_tokens"] = self.settings.max_tokens
        return payload

    def _request(self, prompt: str) -> ChatReply:
        """POST with retries on 429 / 5xx / connection failures; the first usable 200 comes back."""
        s = self.settings
        payload = self._payload(prompt)
        for attempt in range(s.max_retries + 1):
            retry_after: float | None = None
            with self._slots:
                try:
                    reply = self._client.post(
                        self._url, payload, headers=self._headers, timeout_s=s.timeout_s
                    )
                except TimeoutError:
                    raise _Failure("timeout", f"no reply within {s.timeout_s:g}s") from None
                except OSError as exc:  # ConnectionError and friends
                    reason, detail = "unreachable", f"{type(exc).__name__}"
                else:
                    if 200 <= reply.status < 300:
                        return reply
                    if reply.status == 429 or reply.status >= 500:
                        reason = "http_429" if reply.status == 429 else "http_5xx"
                        detail = f"HTTP {reply.status}"
                        retry_after = reply.retry_after_s
                    else:
                        raise _Failure("http_4xx", f"HTTP {reply.status}, not retried")
            if attempt == s.max_retries:
                raise _Failure(reason, f"{detail} after {attempt + 1} attempts")
            delay = self._backoff(attempt) if retry_after is None else retry_after
            if delay > s.backoff_max_s:
                raise _Failure(reason, f"{detail}; Retry-After {delay:g}s exceeds backoff_max_s")
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover: the loop always returns or raises

    def _backoff(self, attempt: int) -> float:
        """Exponential with equal jitter: half the step is fixed, half random, so clients spread out."""
        step = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2**attempt)
        return float(step / 2 + self._rng.uniform(0, step / 2))

    def _read_completion(self, reply: ChatReply, prompt: str) -> tuple[str, int]:
        """(message content, tokens spent) from a 200 reply; bad JSON or shape is `bad_response`."""
        try:
            content, body = completion_content(reply.body)
        except ValueError:
            raise _Failure("bad_response", "reply is not a chat completion") from None
        return content, _tokens_spent(body.get("usage"), prompt, content)


def _tokens_spent(usage: Any, prompt: str, content: str) -> int:
    """usage.total_tokens, else prompt + completion tokens, else an estimate of 4 characters a token."""
    if isinstance(usage, Mapping):
        total = usage.get("total_tokens")
        if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            return total
        parts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
        if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
            return sum(p for p in parts if isinstance(p, int))
    return (len(SYSTEM_PROMPT) + len(prompt) + len(content)) // 4 + 1


def parse_verdict(content: str, *, scale: float) -> tuple[float, str]:
    """(score in [0, 1], explanation) from the judge's text; raises `_Failure("bad_response")` otherwise.

    Accepted: `{"score": 8, "explanation": "..."}` (optionally in a ```json fence), or text containing
    exactly one number (`8`, `Score: 0.8`). Rejected: no number, two numbers (`8/10`), out of range.
    """
    text = strip_code_fence(content.strip()).strip()
    explanation = ""
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise _Failure("bad_response", "reply looks like JSON but does not parse") from None
        raw = data.get("score") if isinstance(data, dict) else None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise _Failure("bad_response", 'JSON reply has no numeric "score"')
        number = float(raw)
        why = data.get("explanation")
        explanation = why if isinstance(why, str) else ""
    else:
        numbers = _NUMBER.findall(text)
        if len(numbers) != 1:
            raise _Failure("bad_response", f"reply holds {len(numbers)} numbers, expected exactly one")
        number = float(numbers[0])
    if not 0.0 <= number <= scale:
        raise _Failure("bad_response", f"score {number:g} outside 0-{scale:g}")
    return number / scale, explanation


def check_rubric(rubric: str) -> Sequence[str]:
    """Problems with a rubric template: unknown placeholders, or no `{answer}` to judge."""
    problems = []
    unknown = sorted(rubric_placeholders(rubric) - set(PLACEHOLDERS))
    if unknown:
        names = ", ".join("{" + u + "}" for u in unknown)
        valid = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        problems.append(f"unknown placeholder {names}; valid: {valid}")
    if "answer" not in rubric_placeholders(rubric):
        problems.append("must contain {answer}")
    return problems
