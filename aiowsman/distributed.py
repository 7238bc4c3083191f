"""Fan-out over a Dask cluster: host shards run the asyncio runner on workers.

The hosts are cut into shards of ``shard_size``; each shard is one Dask task
that runs :func:`aiowsman.fanout.run` inside the worker (``asyncio.run`` in
the worker's task thread, which has no loop of its own), and returns the
shard's :class:`~aiowsman.fanout.HostResult` list. Results stream back shard
by shard as they finish (``distributed.as_completed``); at most
``max_pending_shards`` shards are submitted at a time, so the host input is
streamed here too.

A shard whose task fails -- the worker died (``KilledWorker``), the result
could not be shipped back -- is submitted again, ``shard_retries`` times; if
it still fails, every host of the shard is reported with error class
``worker``. No host is ever lost.

``operation`` travels to the workers by pickle: use a module-level function
or a picklable callable object (as the CLI's verbs are), never a lambda or a
closure over a session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import pickle
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiowsman._multiproc import portable
from aiowsman.errors import ConfigurationError, WSManError
from aiowsman.fanout import HostResult, run

__all__ = ["ShardError", "iter_distributed", "run_distributed"]

T = TypeVar("T")


class ShardError(WSManError):
    """A shard's Dask task failed twice; its hosts were not (all) run."""

    category = "worker"


@dataclass(frozen=True)
class _Shard:
    number: int
    start: int  # index of the shard's first host in the input
    hosts: list[str]


def _run_shard(
    hosts: list[str], operation: Callable[[Any], Awaitable[Any]], runner_kwargs: dict[str, Any]
) -> list[HostResult[Any]]:
    """The Dask task: run one shard with the asyncio runner, in the worker."""

    async def shard() -> list[HostResult[Any]]:
        return [r async for r in run(hosts, operation, **runner_kwargs)]

    return [portable(r) for r in asyncio.run(shard())]


def _shards(hosts: Iterable[str], size: int) -> Iterator[_Shard]:
    iterator = iter(hosts)
    start = 0
    for number in itertools.count():
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield _Shard(number, start, chunk)
        start += len(chunk)


def iter_distributed(
    client: Any,
    hosts: Iterable[str],
    operation: Callable[[Any], Awaitable[T]],
    *,
    shard_size: int = 100,
    max_pending_shards: int | None = None,
    shard_retries: int = 1,
    stop: threading.Event | None = None,
    **runner_kwargs: Any,
) -> Iterator[HostResult[T]]:
    """Synchronous form of :func:`run_distributed` for scripts and notebooks.

    Args:
        client: a synchronous ``distributed.Client``.
        hosts: host names/URLs (streamed; only the submitted shards are held).
        operation: picklable ``async def op(session) -> value``.
        shard_size: hosts per Dask task.
        max_pending_shards: shards submitted at once (default: twice the
            cluster's worker threads, at least 2).
        shard_retries: resubmissions of a failed shard before its hosts are
            reported with error class ``worker``.
        stop: set it (from another thread) to cancel outstanding shards.
        **runner_kwargs: passed to :func:`aiowsman.fanout.run` on the worker
            (``concurrency``, ``deadline``, session options...).

    Yields:
        One :class:`HostResult` per host, shard by shard as shards finish.
    """
    from distributed import as_completed

    if shard_size < 1:
        raise ConfigurationError("shard_size must be at least 1", operation="fan-out")
    try:
        pickle.dumps(operation)
    except Exception as exc:
        raise ConfigurationError(
            f"the operation must be picklable to run on Dask workers: {exc}", operation="fan-out"
        ) from exc
    if max_pending_shards is None:
        threads = sum(client.nthreads().values()) or 1
        max_pending_shards = max(2, 2 * threads)
    run_id = uuid.uuid4().hex[:12]
    shards = _shards(hosts, shard_size)
    pending: dict[Any, tuple[_Shard, int]] = {}
    completed = as_completed()  # type: ignore[no-untyped-call]

    def submit(shard: _Shard, attempt: int) -> None:
        future = client.submit(
            _run_shard,
            shard.hosts,
            operation,
            runner_kwargs,
            key=f"aiowsman-shard-{run_id}-{shard.number}-{attempt}",
            pure=False,
        )
        pending[future] = (shard, attempt)
        completed.add(future)  # type: ignore[no-untyped-call]

    def refill() -> None:
        while len(pending) < max_pending_shards:
            shard = next(shards, None)
            if shard is None:
                return
            submit(shard, 0)

    refill()
    try:
        while pending:
            # Poll rather than block in next(): a consumer that stops (sets
            # ``stop``) must not wait for a shard that may run for minutes.
            while not completed.has_ready():  # type: ignore[no-untyped-call]
                if stop is not None and stop.is_set():
                    return
                time.sleep(0.05)
            future = next(completed)
            shard, attempt = pending.pop(future)
            try:
                results: list[HostResult[T]] = future.result()
            except Exception as exc:
                if attempt < shard_retries:
                    submit(shard, attempt + 1)
                    continue
                for offset, host in enumerate(shard.hosts):
                    yield HostResult.failure(
                        host,
                        ShardError(
                            f"shard {shard.number} failed {attempt + 1} times: "
                            f"{type(exc).__name__}: {exc}",
                            host=host,
                            operation="fan-out",
                        ),
                        attempts=0,
                        index=shard.start + offset,
                    )
            else:
                for r in results:
                    yield dataclasses.replace(r, index=shard.start + r.index)
            finally:
                future.release()
            refill()
    finally:
        for future in list(pending):
            future.cancel()


async def run_distributed(
    client_or_address: Any,
    hosts: Iterable[str] | AsyncIterable[str],
    operation: Callable[[Any], Awaitable[T]],
    *,
    shard_size: int = 100,
    max_pending_shards: int | None = None,
    shard_retries: int = 1,
    **runner_kwargs: Any,
) -> AsyncIterator[HostResult[T]]:
    """Run ``operation`` on every host across a Dask cluster; yield results as shards finish.

    Args:
        client_or_address: a synchronous ``distributed.Client`` or a
            scheduler address (``"tcp://10.0.0.5:8786"``); an address gets a
            client of its own, closed at the end.
        hosts: host names/URLs. A plain iterable is streamed into shards;
            an async iterable is drained into a list first.
        operation: picklable ``async def op(session) -> value``.
        shard_size: hosts per Dask task (see :func:`iter_distributed`).
        max_pending_shards: shards submitted at a time (see :func:`iter_distributed`).
        shard_retries: resubmissions of a failed shard (see :func:`iter_distributed`).
        **runner_kwargs: passed to :func:`aiowsman.fanout.run` on the worker.

    Yields:
        One :class:`HostResult` per host.

    Raises:
        aiowsman.errors.ConfigurationError: an unpicklable operation, an
            asynchronous Client.
    """
    if getattr(client_or_address, "asynchronous", False):
        raise ConfigurationError(
            "run_distributed needs a synchronous distributed.Client (or an address)",
            operation="fan-out",
        )
    if isinstance(hosts, AsyncIterable):
        hosts = [h async for h in hosts]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=max(shard_size, 1) * 2)
    stop = threading.Event()
    sync_hosts: Iterable[str] = hosts

    def put(kind: str, item: Any) -> None:
        # Blocks the driver thread while the consumer is behind (backpressure).
        fut = asyncio.run_coroutine_threadsafe(queue.put((kind, item)), loop)
        fut.result()

    def drive() -> None:
        client = client_or_address
        own = isinstance(client_or_address, str)
        try:
            if own:
                from distributed import Client

                client = Client(client_or_address)  # type: ignore[no-untyped-call]
            for result in iter_distributed(
                client,
                sync_hosts,
                operation,
                shard_size=shard_size,
                max_pending_shards=max_pending_shards,
                shard_retries=shard_retries,
                stop=stop,
                **runner_kwargs,
            ):
                if stop.is_set():
                    break
                put("result", result)
        except BaseException as exc:
            if not stop.is_set():
                put("error", exc)
        finally:
            if own and client is not client_or_address:
                client.close()
            if not stop.is_set():
                put("end", None)

    thread = threading.Thread(target=drive, name="aiowsman-dask-driver", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = await queue.get()
            if kind == "end":
                break
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        # Unblock a driver waiting on a full queue, then let it wind down.
        while not queue.empty():
            queue.get_nowait()
        await asyncio.to_thread(thread.join, 30)
