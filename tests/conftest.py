"""Shared fixtures: a real Kafka broker for the session, fresh Prometheus registries, the OTLP fixtures."""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator

import pytest

from processor.demo.replay import FIXTURES
from tests.kafka_broker import kafka_broker

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker: KAFKA_BOOTSTRAP_SERVERS when set, else one started now and stopped at the end."""
    with kafka_broker() as address:
        yield address


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic-name prefix so tests sharing one broker never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def otlp_fixtures() -> pathlib.Path:
    """The real instrumentation captures, shipped as package data (processor/demo/fixtures, its README).

    EVALSTREAM_OTLP_FIXTURES points the suite at other captures (deploy/fixtures/regenerate.py --out).
    """
    directory = pathlib.Path(os.environ.get("EVALSTREAM_OTLP_FIXTURES") or FIXTURES)
    if not directory.is_dir():
        pytest.fail(f"OTLP fixtures not found at {directory}")
    return directory
