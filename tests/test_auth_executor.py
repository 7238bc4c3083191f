"""The bounded, process-wide pool that runs blocking authentication steps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aiowsman import AsyncSession
from aiowsman.auth import (
    DEFAULT_OFFLOAD_WORKERS,
    offload_workers,
    run_offload,
    set_offload_workers,
)
from aiowsman.auth.credssp import CredSSPAuth
from aiowsman.testing import WSManTestServer

PASSWORD = "Exec-pa55"


@pytest.fixture
def two_workers() -> Iterator[None]:
    set_offload_workers(2)
    try:
        yield
    finally:
        set_offload_workers(DEFAULT_OFFLOAD_WORKERS)


async def test_offloaded_steps_run_on_the_auth_pool_threads() -> None:
    name = await run_offload(lambda: threading.current_thread().name)
    assert name.startswith("aiowsman-auth")


async def test_the_pool_is_bounded_and_the_loop_keeps_running(two_workers: None) -> None:
    assert offload_workers() == 2
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0

    def blocking_step() -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            release.wait(5.0)  # bounded: a broken test cannot hang the run
        finally:
            with lock:
                running -= 1
        return 1

    tasks = [asyncio.ensure_future(run_offload(blocking_step)) for _ in range(6)]
    ticks = 0
    for _ in range(500):  # the loop runs while both threads block
        await asyncio.sleep(0.005)
        ticks += 1
        if running == 2:
            break
    for _ in range(5):  # ...and more steps would have started by now if allowed
        await asyncio.sleep(0.005)
        ticks += 1
    assert running == 2
    assert ticks > 5
    release.set()
    assert sum(await asyncio.gather(*tasks)) == 6
    assert most == 2


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_set_offload_workers_refuses_nonsense(workers: Any) -> None:
    with pytest.raises(ValueError):
        set_offload_workers(workers)


async def test_a_session_runs_its_handshake_steps_on_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []
    original = CredSSPAuth._create

    def recording_create(self: CredSSPAuth, host: str, channel_binding: bytes | None) -> Any:
        threads.append(threading.current_thread().name)
        return original(self, host, channel_binding)

    monkeypatch.setattr(CredSSPAuth, "_create", recording_create)
    async with (
        WSManTestServer(auth=("credssp",), users={"dave": PASSWORD}) as server,
        AsyncSession(
            server.endpoints[0],
            auth="credssp",
            username="dave",
            password=PASSWORD,
            auth_options={"auth_mechanism": "ntlm"},
            timeout=10.0,
        ) as session,
    ):
        await session.identify()
    assert threads and all(name.startswith("aiowsman-auth") for name in threads)
