"""Operations and session factories for the multi-process fan-out tests.

They live in a module (not in the test file) because worker processes load
them by reference: a module-level name is what crosses a process boundary.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiowsman import AsyncSession


@dataclass(frozen=True)
class SignalWorkerAt:
    """Identify, but the worker process holding ``host:port`` sends itself ``signum`` first."""

    host: str
    signum: int = signal.SIGKILL

    async def __call__(self, session: AsyncSession) -> Any:
        if session.host == self.host:
            os.kill(os.getpid(), self.signum)
        return await session.identify()


async def worker_pid(session: Any) -> int:
    """Which process ran the host (the session itself is not used)."""
    return os.getpid()


class _NoSession:
    """Stands in for a session where the test is about the runner, not the protocol."""

    def __init__(self, host: str) -> None:
        self.host = host

    async def __aenter__(self) -> _NoSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def no_session(host: str) -> _NoSession:
    """A picklable ``session_factory`` opening nothing."""
    return _NoSession(host)


async def host_name_length(session: _NoSession) -> int:
    return len(session.host)


@dataclass(frozen=True)
class FailOn:
    """Raise ``KeyError`` on one host (a bug in the caller's operation)."""

    host: str

    async def __call__(self, session: _NoSession) -> str:
        if session.host == self.host:
            raise KeyError(self.host)
        return session.host


async def returns_a_lock(session: _NoSession) -> Any:
    """A value that cannot cross back to the parent."""
    import threading

    return threading.Lock()
