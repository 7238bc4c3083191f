"""Performance knobs keep their promises (behaviour only: nothing here is timed)."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator

import pytest

from aiowsman import fanout
from aiowsman.errors import ConfigurationError
from aiowsman.protocol import envelope as env
from aiowsman.protocol.locator import ResourceLocator


@contextlib.asynccontextmanager
async def _fake_session(host: str) -> AsyncIterator[str]:
    yield host


async def test_gc_threshold_applies_during_the_run_and_is_restored_after() -> None:
    before = gc.get_threshold()
    seen: list[int] = []

    async def op(session: str) -> str:
        seen.append(gc.get_threshold()[0])
        return session

    results = await fanout.run(
        ["a", "b"], op, session_factory=_fake_session, gc_threshold=before[0] + 12345
    ).collect()
    assert sorted(r.value for r in results) == ["a", "b"]
    assert seen == [before[0] + 12345] * 2
    assert gc.get_threshold() == before


async def test_gc_threshold_is_restored_when_the_run_is_left_early() -> None:
    before = gc.get_threshold()

    async def op(session: str) -> str:
        return session

    async with fanout.run(
        [str(i) for i in range(50)], op, session_factory=_fake_session, gc_threshold=50_000
    ) as results:
        async for _ in results:
            assert gc.get_threshold()[0] == 50_000
            break
    assert gc.get_threshold() == before


def test_gc_threshold_must_be_a_positive_integer() -> None:
    async def op(session: str) -> str:
        return session

    with pytest.raises(ConfigurationError):
        fanout.run(["a"], op, session_factory=_fake_session, gc_threshold=0)


def test_message_ids_are_unique_rfc4122_uuids() -> None:
    import uuid

    ids = [env.new_message_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for mid in ids[:5]:
        assert mid.startswith("uuid:")
        parsed = uuid.UUID(mid[5:])
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert mid[5:] == str(parsed).upper()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_message_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ID and leave at once
        os.write(write, env.new_message_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_ids = {env.new_message_id() for _ in range(3)}
    assert child_id.startswith("uuid:")
    assert child_id[:-12] not in {p[:-12] for p in parent_ids}


def test_a_changed_locator_is_not_served_a_stale_header_template() -> None:
    opts = env.RequestOptions(to="http://h:5985/wsman")
    loc = ResourceLocator("wmicimv2/Win32_Service", {"Name": "WinRM"})
    first = env.get_request(opts, loc).body
    loc.add_selector("Name", "Spooler")
    second = env.get_request(opts, loc).body
    assert b">WinRM</w:Selector>" in first
    assert b">Spooler</w:Selector>" in second and b"WinRM" not in second


def test_changed_session_options_are_not_served_a_stale_header_template() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service")
    a = env.get_request(env.RequestOptions(to="http://a:5985/wsman"), loc).body
    b = env.get_request(env.RequestOptions(to="http://b:5985/wsman"), loc).body
    assert b"<a:To>http://a:5985/wsman</a:To>" in a
    assert b"<a:To>http://b:5985/wsman</a:To>" in b
