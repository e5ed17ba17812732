"""Fixtures the receiver tests share: an in-process transport and a private metrics registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from processor.transport.memory import MemoryTransport


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport(max_records=1000)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()
