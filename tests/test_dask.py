"""The Dask runner on a real LocalCluster (2 worker processes) against the test server.

The server runs in the test process; the workers reach it over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import pytest
from distributed import Client, LocalCluster

from aiowsman.cli._ops import IdentifyOp
from aiowsman.distributed import run_distributed
from aiowsman.errors import ConfigurationError
from aiowsman.fanout import HostResult
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer

REPO = Path(__file__).resolve().parents[1]
CREDENTIALS: dict[str, Any] = {
    "username": "user",
    "password": "pass",
    "auth": "basic",
    "allow_unencrypted": True,
}

# Classes below travel to the workers by value: the workers need not import this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class DieOn:
    """An operation that kills its worker process when it meets ``host``."""

    def __init__(self, host: str) -> None:
        self.host = host

    async def __call__(self, session: Any) -> Any:
        if session.endpoint.url == self.host:
            time.sleep(0.5)  # let the healthy shards finish first  # noqa: ASYNC251
            os._exit(1)
        return await session.identify()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), old or ""])
    try:
        # A worker death fails its task at once (no silent rescheduling), so
        # the runner's own shard retry is what is exercised.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
            )
            with cluster, Client(cluster) as c:
                yield c
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


async def collect(*args: Any, **kwargs: Any) -> list[HostResult[Any]]:
    async with asyncio.timeout(90):
        return [r async for r in run_distributed(*args, **kwargs)]


async def test_every_host_is_reported_once_across_shards(client: Client) -> None:
    auth_fail = HostBehaviour(always=Injection(InjectionKind.UNAUTHORIZED))
    async with WSManTestServer(hosts=23, behaviours={4: auth_fail}) as server:
        results = await collect(client, server.endpoints, IdentifyOp(), shard_size=5, **CREDENTIALS)
    assert sorted(r.host for r in results) == sorted(server.endpoints)
    assert sorted(r.index for r in results) == list(range(23))
    by_host = {r.host: r for r in results}
    assert by_host[server.endpoints[4]].error_class == "auth"
    assert sum(r.ok for r in results) == 22
    assert all(r.value.product_vendor for r in results if r.ok)


async def test_a_shard_whose_worker_dies_twice_reports_its_hosts_as_worker_errors(
    client: Client,
) -> None:
    async with WSManTestServer(hosts=9) as server:
        bad = server.endpoints[8]  # alone in the last shard
        results = await collect(
            client, server.endpoints, DieOn(bad), shard_size=4, shard_retries=1, **CREDENTIALS
        )
    assert sorted(r.host for r in results) == sorted(server.endpoints)
    by_host = {r.host: r for r in results}
    assert by_host[bad].error_class == "worker"
    assert "failed 2 times" in (by_host[bad].message or "")
    assert all(by_host[h].ok for h in server.endpoints[:8])


async def test_an_unpicklable_operation_is_refused_before_anything_runs(client: Client) -> None:
    def local_op(session: Any) -> Any:  # a closure: cannot be pickled by reference
        return session.identify()

    with pytest.raises(ConfigurationError, match="picklable"):
        await collect(client, ["h1"], local_op)


async def test_cli_runs_on_the_cluster_with_dask_option(client: Client, tmp_path: Path) -> None:
    async with WSManTestServer(hosts=6) as server:
        hosts = tmp_path / "hosts.txt"
        hosts.write_text("\n".join(server.endpoints))
        env = dict(os.environ, PYTHONPATH=str(REPO), AIOWSMAN_PASSWORD="pass")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiowsman.cli", "identify", "--hosts", str(hosts),
            "--dask", client.scheduler.address, "--shard-size", "2", "-u", "user",
            "--auth", "basic", "--insecure-allow-unencrypted", "--quiet",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 6


async def test_leaving_early_cancels_outstanding_shards_promptly(client: Client) -> None:
    # Last in the module: a task already running on a worker cannot be
    # interrupted by Dask, so the black-holed shards occupy the workers until
    # the module's cluster is torn down.
    hole = HostBehaviour(always=Injection(InjectionKind.BLACK_HOLE))
    behaviours = {i: hole for i in range(1, 8)}
    async with WSManTestServer(hosts=8, behaviours=behaviours) as server:
        # The bound: far below the 60 s the black-holed shards would take.
        async with asyncio.timeout(20):
            agen = run_distributed(
                client, server.endpoints, IdentifyOp(), shard_size=1, deadline=60, **CREDENTIALS
            )
            first = await agen.__anext__()
            await agen.aclose()
    assert first.host == server.endpoints[0] and first.ok
