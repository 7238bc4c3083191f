"""Fan-out over every core of one machine: worker processes, each running the asyncio runner.

``aiowsman.fanout.run(hosts, operation, processes=N)`` (or ``"auto"``) comes
here. Why processes: a fan-out is CPU-bound in the client once a few hundred
hosts are in flight (about a millisecond of Python per host: envelopes, HTTP,
XML parsing), and one Python process uses one core. Threads would share the
interpreter lock; the Dask runner needs a cluster and ships whole shards,
so one slow host holds back a shard's other results and a dead worker
costs a whole shard. This module keeps the asyncio runner's contract across
``N`` worker processes, with nothing to set up:

* **Lazy, bounded feeding.** The parent pulls hosts from the input only as
  workers have room: each worker holds at most ``window`` hosts (its share of
  ``concurrency`` plus a small buffer), and gets new ones as it reports
  results, so a faster worker gets more hosts and the parent's memory stays
  bounded by ``processes x window`` whatever the input size.
* **Streamed results.** Workers send results in small batches (every
  ``_FLUSH_SECONDS`` or ``_BATCH`` results) over a socket pair, as plain
  tuples; the parent yields them as they arrive, feeding its
  :class:`~aiowsman.fanout.Summary` and ``progress`` callback.
* **Exactly one record per host.** The parent knows which hosts each worker
  holds. A worker that dies (killed, out of memory, a crash in C code) or goes
  silent for longer than any host may take (``deadline + close_grace`` plus
  slack; it is then killed) has each of its unfinished hosts reported with
  error class ``worker``. They are not re-run elsewhere: the operation may
  have reached the host already, and a non-idempotent one must not run twice.
  The other workers carry on with the rest of the input.
* **Per-host deadlines** are the worker's runner's, unchanged.
* **Cancellation.** Leaving the iteration (``aclose()``, ``break`` inside
  ``async with``, a cancelled task) tells every worker to cancel its run --
  which closes its sessions and releases what they opened on servers -- waits
  up to ``close_grace`` plus a few seconds for them to exit, then kills any
  that did not. A worker whose parent dies sees its socket close and exits the
  same way. Ctrl-C is the parent's to decide: workers run in a process group
  of their own (a terminal's Ctrl-C signals only the foreground group, so it
  never reaches a worker still starting up), and ignore SIGINT besides.

The operation (and a ``session_factory``, and the session options) cross to
the workers by pickle: a module-level function or a picklable callable
object, as for the Dask runner. With ``cloudpickle`` installed, lambdas,
closures and functions defined in ``__main__`` work too. Session options,
credentials included, travel over a private socket pair to child processes of
the same user.

Workers are fresh interpreters (``python -c`` importing this module), not
forks: a fork of a process with threads and an event loop is unsafe, and a
fresh start costs about half a second per worker, once per run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import importlib
import os
import pickle
import signal
import socket
import struct
import sys
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiowsman.errors import ConfigurationError, WSManError
from aiowsman.fanout import FanOut, HostResult, Summary
from aiowsman.fanout import run as run_in_process

__all__ = ["ProcessFanOut", "WorkerProcessError", "portable", "resolve_processes"]

T = TypeVar("T")

#: Results a worker sends in one message at most, and how long it lets a
#: result wait for company: small batches keep the pipe's per-message cost
#: low without holding results back noticeably.
_BATCH = 256
_FLUSH_SECONDS = 0.01
#: Longest a worker may take to start and load the operation.
_START_TIMEOUT = 120.0
#: Beyond ``deadline + close_grace``: how long a worker holding hosts may
#: stay silent before it is taken for hung (a garbage collection or a busy
#: machine must not count as death).
_SILENCE_SLACK = 30.0
#: After asking workers to cancel: ``close_grace`` plus this, then they are killed.
_EXIT_SLACK = 5.0
_HEADER = struct.Struct("!I")
_MAX_FRAME = 1 << 30


class WorkerProcessError(WSManError):
    """A fan-out worker process died or hung while it held this host.

    The host's operation may or may not have run; it is not retried.
    """

    category = "worker"


def resolve_processes(processes: int | str) -> int:
    """The number of worker processes ``processes`` asks for.

    Args:
        processes: a positive int, or ``"auto"``: the CPUs this process may
            run on (``os.sched_getaffinity``, else ``os.cpu_count()``).

    Returns:
        At least 1; 1 means "run in this process".

    Raises:
        ConfigurationError: anything else; more than one process off POSIX.
    """
    if processes == "auto":
        try:
            count = max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            count = max(1, os.cpu_count() or 1)
    elif isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ConfigurationError(
            f"processes must be a positive integer or 'auto', not {processes!r}",
            operation="fan-out",
        )
    else:
        count = processes
    if count > 1 and os.name != "posix":
        # Workers get their socket by descriptor inheritance (pass_fds) and
        # stop on SIGTERM: POSIX only.
        raise ConfigurationError(
            "processes > 1 needs a POSIX system (Linux, macOS)", operation="fan-out"
        )
    return count


def portable(result: HostResult[Any]) -> HostResult[Any]:
    """The result, made safe to pickle to another process.

    A value that cannot be pickled turns the result into a failure (class
    ``other``) saying so; an error that cannot be pickled is dropped, keeping
    its class, code and message.
    """
    try:
        pickle.dumps(result.value)
    except Exception as exc:  # the operation returned something that cannot travel
        return HostResult.failure(
            result.host,
            TypeError(f"[{result.host}] result is not picklable: {exc}"),
            elapsed=result.elapsed,
            attempts=result.attempts,
            index=result.index,
        )
    if result.error is not None:
        try:
            pickle.dumps(result.error)
        except Exception:
            # Keep class, code and message; drop the exception object itself.
            return dataclasses.replace(result, error=None)
    return result


def _dumps(obj: Any, what: str) -> bytes:
    """Pickle ``obj`` for a worker, by cloudpickle when installed; a clear error if it cannot."""
    cloudpickle: Any
    try:
        cloudpickle = importlib.import_module("cloudpickle")
    except ImportError:
        cloudpickle = None
    try:
        if cloudpickle is not None:
            data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            return data
        if getattr(obj, "__module__", None) == "__main__":
            raise pickle.PicklingError(
                "it is defined in __main__, which worker processes do not import "
                "(move it to a module, or install cloudpickle)"
            )
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise ConfigurationError(
            f"{what} must be picklable to run in worker processes (processes > 1): use a "
            f"module-level function or a picklable callable object, or install cloudpickle "
            f"for lambdas and closures ({type(exc).__name__}: {exc})",
            operation="fan-out",
        ) from exc


# -- framing: a 4-byte length, then a pickle --------------------------------------


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > _MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes refused")
    return pickle.loads(await reader.readexactly(size))


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


# -- the parent ---------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    number: int
    share: int  # this worker's part of ``concurrency``
    window: int  # hosts it may hold at once
    proc: asyncio.subprocess.Process | None = None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    held: dict[int, str] = field(default_factory=dict)  # input index -> host
    last_heard: float = 0.0
    ended: bool = False  # told there are no more hosts
    finished: bool = False  # said "done" or died
    death: str | None = None

    def send(self, message: Any) -> None:
        """Queue a message; the transport buffers (at most a window of hosts)."""
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(_frame(message))


def _shares(concurrency: int, processes: int) -> list[int]:
    base, extra = divmod(concurrency, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def _worker_stdout() -> int:
    """Where a worker's stray prints go: our stderr, never the stdout a CLI writes results to."""
    try:
        return sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (AttributeError, OSError, ValueError):
        return 2


async def _all_or_none(steps: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``steps`` concurrently; if one fails (or we are cancelled), cancel
    the others and wait for them before raising, so that no worker process is
    created or set up after the shutdown that follows."""
    tasks = [asyncio.create_task(step) for step in steps]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class ProcessFanOut(FanOut[T]):
    """:class:`~aiowsman.fanout.FanOut` over worker processes; made by ``run(..., processes=N)``.

    Iterate it, use it as an async context manager, read ``.summary``: the
    same face as the in-process runner. Results arrive in finishing order;
    ``index`` is the host's position in the input.
    """

    def __init__(
        self,
        hosts: Iterable[str] | AsyncIterable[str],
        operation: Callable[[Any], Awaitable[T]],
        processes: int,
        *,
        runner_kwargs: dict[str, Any],
        progress: Callable[[HostResult[T]], object] | None,
        summary: Summary | None,
    ) -> None:
        # Not FanOut.__init__: the in-process machinery is not used here, only
        # its public face (iteration, aclose, async with, collect, summary).
        self._hosts = hosts
        self._operation = operation
        self._progress = progress
        self.summary = summary if summary is not None else Summary()
        self._agen: AsyncGenerator[HostResult[T], None] | None = None
        concurrency = int(runner_kwargs["concurrency"])
        self._processes = max(1, min(processes, concurrency))
        self._runner_kwargs = dict(runner_kwargs)
        deadline = float(runner_kwargs.get("deadline", 60.0))
        grace = float(runner_kwargs.get("close_grace", 2.0))
        self._silence_limit = deadline + grace + _SILENCE_SLACK
        self._exit_wait = grace + _EXIT_SLACK
        # Pickled now, so a bad operation fails at the call, not in a worker.
        self._setup = {
            "sys_path": list(sys.path),
            "operation": _dumps(operation, "the operation"),
            "runner_kwargs": _dumps(self._runner_kwargs, "session_factory and session options"),
        }

    @property
    def processes(self) -> int:
        """Worker processes this run uses."""
        return self._processes

    async def _results(self) -> AsyncGenerator[HostResult[T], None]:
        shares = _shares(int(self._runner_kwargs["concurrency"]), self._processes)
        workers = [
            _Worker(number=i, share=s, window=s + max(32, s // 2)) for i, s in enumerate(shares)
        ]
        events: asyncio.Queue[tuple[str, _Worker, Any]] = asyncio.Queue()
        readers: list[asyncio.Task[None]] = []
        source = _HostSource(self._hosts)
        try:
            await self._start_all(workers, source)
            readers = [
                asyncio.create_task(self._listen(w, events), name=f"aiowsman-fanout-w{w.number}")
                for w in workers
            ]
            await self._feed(None, 0, source, workers)
            running = len(workers)
            next_check = time.monotonic() + 1.0
            while running:
                now = time.monotonic()
                if now >= next_check:
                    self._kill_silent(workers, now)
                    next_check = now + 1.0
                try:
                    kind, worker, payload = await asyncio.wait_for(events.get(), timeout=1.0)
                except TimeoutError:
                    continue
                if kind == "results":
                    for record in payload:
                        result = self._record(worker, record)
                        self.summary.add(result)
                        if self._progress is not None:
                            self._progress(result)
                        yield result
                    await self._feed(worker, len(payload), source, workers)
                elif kind == "done":
                    worker.finished = True
                    running -= 1
                elif kind == "dead":
                    worker.finished = True
                    running -= 1
                    for result in self._orphans(worker, str(payload)):
                        yield result
                    if not any(not w.finished for w in workers):
                        # Nobody left to run the rest of the input: each
                        # remaining host still gets its one record.
                        async for result in self._unserved(source, str(payload)):
                            yield result
                    else:
                        # A live worker may be waiting for the end of input.
                        await self._feed(None, 0, source, workers)
            if source.error is not None:
                raise source.error
        finally:
            await self._shutdown(workers, readers)

    # -- starting, feeding, listening -----------------------------------------

    async def _start_all(self, workers: list[_Worker], source: _HostSource) -> None:
        """Start every worker; each gets its first hosts before it has loaded.

        The first hosts are dealt as soon as the processes exist and queued on
        their sockets behind the set-up message, so a worker starts on them
        the moment it is ready -- not after a round trip to the parent, and
        not after the slowest worker's start-up (the start-up is inside the
        run's time: an interpreter and its imports, about a third of a second).
        """
        await _all_or_none([self._spawn(w) for w in workers])
        await self._deal(workers, source)
        await _all_or_none([self._start(w) for w in workers])

    async def _spawn(self, worker: _Worker) -> None:
        """Create the worker process and send it the set-up message."""
        parent_sock, child_sock = socket.socketpair()
        try:
            worker.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from aiowsman._multiproc import worker_main; worker_main()",
                str(child_sock.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=_worker_stdout(),
                pass_fds=(child_sock.fileno(),),
                # Out of the terminal's foreground group: Ctrl-C goes to the parent
                # only, also while the worker's interpreter is still starting.
                process_group=0,
            )
        finally:
            child_sock.close()
        worker.reader, worker.writer = await asyncio.open_connection(sock=parent_sock)
        worker.send(("setup", self._setup))

    async def _start(self, worker: _Worker) -> None:
        """Wait for the worker to load the operation and say it is ready."""
        assert worker.reader is not None
        try:
            async with asyncio.timeout(_START_TIMEOUT):
                kind, payload = await _read_frame(worker.reader)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ConfigurationError(
                f"fan-out worker process {worker.number} did not start: {type(exc).__name__} {exc}",
                operation="fan-out",
            ) from exc
        if kind != "ready":
            raise ConfigurationError(
                f"fan-out worker process could not load the operation: {payload}",
                operation="fan-out",
            )
        worker.last_heard = time.monotonic()

    async def _deal(self, workers: list[_Worker], source: _HostSource) -> None:
        """The first hosts, dealt one by one in turn until every window is full.

        Dealt, not handed out a window at a time: a short input must not all
        land on the first worker.
        """
        dealt: dict[_Worker, list[tuple[int, str]]] = {w: [] for w in workers}
        open_ = list(workers)
        while open_:
            for w in list(open_):
                job = await source.next()
                if job is None:
                    open_ = []
                    break
                dealt[w].append(job)
                w.held[job[0]] = job[1]
                if len(dealt[w]) >= w.window:
                    open_.remove(w)
        for w, batch in dealt.items():
            if batch:
                w.send(("hosts", batch))

    async def _feed(
        self,
        worker: _Worker | None,
        room: int,
        source: _HostSource,
        workers: list[_Worker],
    ) -> None:
        """Give ``worker`` up to ``room`` more hosts; at the end of input, tell every worker."""
        if worker is not None and not worker.finished and not source.exhausted:
            batch: list[tuple[int, str]] = []
            for _ in range(room):
                job = await source.next()
                if job is None:
                    break
                batch.append(job)
                worker.held[job[0]] = job[1]
            if batch:
                worker.send(("hosts", batch))
        if source.exhausted:
            for w in workers:
                if not w.ended and not w.finished:
                    w.ended = True
                    w.send(("end", None))

    async def _listen(
        self, worker: _Worker, events: asyncio.Queue[tuple[str, _Worker, Any]]
    ) -> None:
        """Move the worker's messages to ``events``; report its death when the socket closes.

        ``events`` needs no bound: a worker never holds more than its window
        of hosts, so never has more results to send than that.
        """
        assert worker.reader is not None and worker.proc is not None
        reason = "its connection closed"
        try:
            while True:
                kind, payload = await _read_frame(worker.reader)
                worker.last_heard = time.monotonic()
                if kind == "done":
                    events.put_nowait(("done", worker, payload))
                    return
                events.put_nowait((kind, worker, payload))
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                reason = f"{type(exc).__name__}: {exc}"
        code: int | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                code = await worker.proc.wait()
        if code is None:
            worker.proc.kill()
        elif code < 0:
            reason = f"killed by signal {-code} ({_signal_name(-code)})"
        else:
            reason = f"exited with status {code}"
        if worker.death is not None:
            reason = worker.death
        events.put_nowait(("dead", worker, f"worker process {worker.proc.pid} {reason}"))

    def _kill_silent(self, workers: list[_Worker], now: float) -> None:
        """Kill a worker that holds hosts yet has said nothing for longer than any host may take."""
        for w in workers:
            if w.finished or not w.held or w.proc is None or w.proc.returncode is not None:
                continue
            if now - w.last_heard > self._silence_limit:
                w.death = (
                    f"was silent for {now - w.last_heard:.0f}s while holding {len(w.held)} "
                    f"host(s) (longer than deadline + close_grace) and was killed"
                )
                with contextlib.suppress(ProcessLookupError):
                    w.proc.kill()

    # -- records ----------------------------------------------------------------

    def _record(self, worker: _Worker, record: tuple[Any, ...]) -> HostResult[T]:
        result: HostResult[T] = _from_record(record)
        del worker.held[result.index]
        return result

    def _orphans(self, worker: _Worker, why: str) -> Iterator[HostResult[T]]:
        held, worker.held = worker.held, {}
        for index, host in sorted(held.items()):
            yield self._lost(host, index, why)

    def _lost(self, host: str, index: int, why: str) -> HostResult[T]:
        result: HostResult[T] = HostResult.failure(
            host,
            WorkerProcessError(
                f"{why}; the host's operation may or may not have run",
                host=host,
                operation="fan-out",
            ),
            index=index,
        )
        self.summary.add(result)
        if self._progress is not None:
            self._progress(result)
        return result

    async def _unserved(self, source: _HostSource, why: str) -> AsyncIterator[HostResult[T]]:
        while (job := await source.next()) is not None:
            yield self._lost(job[1], job[0], f"no worker process left ({why})")

    # -- shutting down ----------------------------------------------------------

    async def _shutdown(self, workers: list[_Worker], readers: list[asyncio.Task[None]]) -> None:
        """Ask live workers to cancel, wait a bounded time, kill what remains."""
        for w in workers:
            if not w.finished:
                w.send(("cancel", None))
            if w.writer is not None:
                w.writer.close()
        procs = [w.proc for w in workers if w.proc is not None]
        try:
            if procs:
                async with asyncio.timeout(self._exit_wait):
                    await asyncio.gather(*(p.wait() for p in procs))
        except (TimeoutError, asyncio.CancelledError):
            # Cancelled again while waiting, or a worker that would not stop:
            # nothing may outlive the run.
            for p in procs:
                if p.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()
            raise
        finally:
            for task in readers:
                task.cancel()
            for p in procs:
                if p.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


class _HostSource:
    """The input, pulled one host at a time (plain or async iterable); remembers an error."""

    def __init__(self, hosts: Iterable[str] | AsyncIterable[str]) -> None:
        self._sync: Iterator[str] | None = None
        self._async: AsyncIterator[str] | None = None
        self.error: BaseException | None = None
        self.exhausted = False
        self._index = 0
        try:
            if isinstance(hosts, AsyncIterable):
                self._async = aiter(hosts)
            else:
                self._sync = iter(hosts)
        except Exception as exc:  # not iterable: end the run, as the in-process runner does
            self.error = exc
            self.exhausted = True

    async def next(self) -> tuple[int, str] | None:
        if self.exhausted:
            return None
        try:
            if self._sync is not None:
                host = next(self._sync)
            else:
                assert self._async is not None
                host = await anext(self._async)
        except (StopIteration, StopAsyncIteration):
            self.exhausted = True
            return None
        except Exception as exc:  # a bad input ends the run after what started is reported
            self.error = exc
            self.exhausted = True
            return None
        index = self._index
        self._index += 1
        return index, host


# -- the worker -----------------------------------------------------------------------


def worker_main() -> None:
    """Entry point of a worker process: ``python -c '...worker_main()' FD``."""
    # The parent decides what stops (a SIGINT sent to this process itself is ignored).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd = int(sys.argv[1])
    asyncio.run(_worker(fd))


async def _worker(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        kind, setup = await _read_frame(reader)
        if kind != "setup":
            return
        for path in reversed(setup["sys_path"]):
            if path not in sys.path:
                sys.path.insert(0, path)
        operation = pickle.loads(setup["operation"])
        runner_kwargs = pickle.loads(setup["runner_kwargs"])
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    except Exception as exc:
        writer.write(_frame(("fatal", f"{type(exc).__name__}: {exc}")))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return
    writer.write(_frame(("ready", os.getpid())))

    inbox: collections.deque[tuple[int, str]] = collections.deque()
    arrived = asyncio.Event()
    end_of_input = False
    main = asyncio.current_task()
    assert main is not None

    def stop(*_: Any) -> None:
        main.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)

    async def receive() -> None:
        nonlocal end_of_input
        try:
            while True:
                kind, payload = await _read_frame(reader)
                if kind == "hosts":
                    inbox.extend(payload)
                    arrived.set()
                elif kind == "end":
                    end_of_input = True
                    arrived.set()
                elif kind == "cancel":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the parent is gone
        stop()

    # Input index of each host the runner has taken, by the runner's own index.
    indices: dict[int, int] = {}

    async def hosts() -> AsyncIterator[str]:
        taken = 0
        while True:
            while not inbox:
                if end_of_input:
                    return
                arrived.clear()
                await arrived.wait()
            index, host = inbox.popleft()
            indices[taken] = index
            taken += 1
            yield host

    outbox: list[tuple[Any, ...]] = []
    ready = asyncio.Event()

    def encode(batch: list[tuple[Any, ...]]) -> bytes:
        try:
            return _frame(("results", batch))
        except Exception:  # a value or an error that cannot travel: fix the culprits
            fixed = [_as_record(portable(_from_record(r)), r[0]) for r in batch]
            return _frame(("results", fixed))

    async def flush() -> None:
        while True:
            await ready.wait()
            await asyncio.sleep(_FLUSH_SECONDS)
            ready.clear()
            batch = outbox[:]
            outbox.clear()
            writer.write(encode(batch))
            await writer.drain()

    listener = asyncio.create_task(receive())
    flusher = asyncio.create_task(flush())
    completed = 0
    try:
        async with run_in_process(hosts(), operation, **runner_kwargs) as results:
            async for result in results:
                outbox.append(_as_record(result, indices.pop(result.index)))
                completed += 1
                if len(outbox) >= _BATCH:
                    batch = outbox[:]
                    outbox.clear()
                    writer.write(encode(batch))
                    await writer.drain()
                else:
                    ready.set()
        flusher.cancel()
        if outbox:
            writer.write(encode(outbox))
        writer.write(_frame(("done", {"hosts": completed})))
        await writer.drain()
    except (asyncio.CancelledError, ConnectionError):
        pass  # cancelled by the parent (or it is gone): the runner has closed its sessions
    finally:
        flusher.cancel()
        listener.cancel()
        with contextlib.suppress(Exception):
            writer.close()


def _as_record(result: HostResult[Any], index: int) -> tuple[Any, ...]:
    """A result as the tuple the parent rebuilds it from (cheaper to pickle than the object)."""
    return (
        index,
        result.host,
        result.ok,
        result.value,
        result.error,
        result.error_class,
        result.fault_code,
        result.message,
        result.elapsed,
        result.attempts,
    )


def _from_record(record: tuple[Any, ...]) -> HostResult[Any]:
    index, host, ok, value, error, error_class, fault_code, message, elapsed, attempts = record
    return HostResult(
        host=host,
        ok=ok,
        value=value,
        error=error,
        error_class=error_class,
        fault_code=fault_code,
        message=message,
        elapsed=elapsed,
        attempts=attempts,
        index=index,
    )
