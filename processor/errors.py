"""The exception tree. Each leaf says whether the sender may retry; `receiver/status.py` maps it.

EvalstreamError
├── ConfigError                  bad configuration: start-up stops, exit 2
├── InvalidRequest               undecodable / invalid input        (not retryable)
├── TooLarge                     request over the size limit         (not retryable)
├── TransportError
│   ├── TransportUnavailable     broker unreachable, ack timed out   (retryable)
│   └── TransportFull            in-flight limit reached             (retryable after a delay)
└── ShuttingDown                 the part is stopping                (retryable)
"""

from __future__ import annotations


class EvalstreamError(Exception):
    """Base of every error evalstream raises on purpose."""

    retryable: bool = False


class ConfigError(EvalstreamError):
    """One or more configuration problems; `problems` lists them, each leading with the dotted key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class InvalidRequest(EvalstreamError):
    """The request cannot be decoded or violates OTLP (malformed ids...)."""


class TooLarge(EvalstreamError):
    """The request is bigger than the configured limit."""


class TransportError(EvalstreamError):
    """Handing records to the transport failed."""

    retryable = True


class TransportUnavailable(TransportError):
    """The broker is unreachable or did not acknowledge in time."""


class TransportFull(TransportError):
    """Too much is in flight; the sender should back off for `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShuttingDown(EvalstreamError):
    """The part is stopping and takes no new work."""

    retryable = True
