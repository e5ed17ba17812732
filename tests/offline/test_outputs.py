"""processor.offline.outputs: recorded outputs, the target function's calling convention, the endpoint."""

from __future__ import annotations

import pathlib

import pytest

from processor.model import EvalCase
from processor.offline.golden import GoldenCase, InputError
from processor.offline.outputs import ChatEndpoint, RecordedOutputs, TargetFunction, wants_case
from tests.offline.conftest import completion, write_jsonl


def golden(text: str, case_id: str = "", line: int = 1) -> GoldenCase:
    source = f"g.jsonl:{line}"
    return GoldenCase(EvalCase(input=text, output="", expected="x", id=case_id or source, source=source))


def test_recorded_by_id_then_by_input(tmp_path: pathlib.Path) -> None:
    path = write_jsonl(
        tmp_path / "o.jsonl",
        [
            {"id": "a", "output": "by id"},
            {"input": "Q", "output": "by input"},
            {"input": "Q", "output": "by input"},
        ],
    )
    recorded = RecordedOutputs(str(path))
    produced = recorded.produce([golden("Q", "a"), golden("Q", "b")])
    assert [p.output for p in produced] == ["by id", "by input"]
    with pytest.raises(InputError) as caught:
        recorded.produce([golden("other", "c", line=7)])
    assert caught.value.problems == [f"g.jsonl:7: no output in {path} for case 'c' (by id or input)"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "a"}, "missing `output`"),
        ({"id": "a", "output": 3}, "`output` must be a string, got int"),
        ({"output": "x"}, "needs an `id` or an `input` string"),
        ({"id": "dup", "output": "other"}, "a different output for the same id is at"),
    ],
)
def test_recorded_problems_name_the_line(tmp_path: pathlib.Path, row: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", [{"id": "dup", "output": "x"}, row])
    with pytest.raises(InputError) as caught:
        RecordedOutputs(str(path))
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:2: ") and message in problem


def takes_case(case: EvalCase) -> str:
    return case.input


def takes_str(question: str) -> str:
    return question


def named_case(case):  # type: ignore[no-untyped-def]
    return case


def named_other(q):  # type: ignore[no-untyped-def]
    return q


def test_wants_case() -> None:
    assert wants_case(takes_case) is True
    assert wants_case(named_case) is True
    assert wants_case(takes_str) is False
    assert wants_case(named_other) is False
    assert wants_case(len) is False


async def async_target(question: str) -> str:
    return question.upper()


def returns_number(question: str) -> int:
    return 3


def test_target_function_results(monkeypatch: pytest.MonkeyPatch) -> None:
    target = TargetFunction(f"{__name__}:async_target")
    assert [p.output for p in target.produce([golden("hi")])] == ["HI"]
    [bad] = TargetFunction(f"{__name__}:returns_number").produce([golden("hi")])
    assert (bad.output, bad.error, bad.detail) == (None, "bad_output", "returned int, not a string")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nocolon", "--target: must be module:function, got 'nocolon'"),
        ("no_such_module_xyz:f", "--target: cannot import module 'no_such_module_xyz': ModuleNotFoundError"),
        ("os:sep", "--target: 'os:sep' is not callable"),
    ],
)
def test_target_import_problems(ref: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        TargetFunction(ref)
    assert caught.value.problems[0].startswith(message)


def test_endpoint_in_process(chat_server) -> None:
    server = chat_server(lambda body: completion("answer to " + body["messages"][-1]["content"]))
    endpoint = ChatEndpoint(server.url + "/", model="m", environ={})
    assert endpoint.url == server.url + "/chat/completions"
    assert [p.output for p in endpoint.produce([golden("q1"), golden("q2")])] == [
        "answer to q1",
        "answer to q2",
    ]
    assert all("Authorization" not in headers for _, headers, _ in server.requests)  # no key: none sent
    assert sorted(body["messages"][0]["content"] for _, _, body in server.requests) == ["q1", "q2"]
    assert all(len(body["messages"]) == 1 for _, _, body in server.requests)  # no --system: user only


def test_endpoint_bad_reply_is_an_error(chat_server) -> None:
    server = chat_server(lambda body: (200, {"choices": []}))
    [produced] = ChatEndpoint(server.url, model="m", environ={}).produce([golden("q")])
    assert produced.output is None and produced.error == "exception"
    assert "no choices[0].message.content" in produced.detail
    with pytest.raises(InputError):
        ChatEndpoint("localhost:8000", model="m")
