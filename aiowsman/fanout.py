"""Fan-out: run one operation against many hosts, results as they finish.

The runner is the layer above :class:`aiowsman.AsyncSession` (see
``docs/fanout.md``). Its promises:

* **Exactly one** :class:`HostResult` per input host, whatever happens to the
  host: any exception (a WS-Man error, a bug in your operation, a deadline) is
  recorded, never raised past the runner, so a failing host never hides
  another host's result.
* **Bounded everything.** At most ``concurrency`` hosts are in flight; hosts
  are pulled from the input (an iterable *or* an async iterable) through a
  small bounded queue, so a million-line host file is streamed, and nothing
  about a finished host is kept by the runner. :class:`Summary` aggregates in
  constant memory (a top-N heap of the slowest hosts, counters per class).
* **A hard deadline per host** (``asyncio.timeout``), so a black-holed host
  that accepts TCP and never answers costs ``deadline`` seconds, not the run.
* **Retries** with full-jitter exponential backoff: transient failures
  (connect failures, timeouts) are retried only for operations flagged
  ``idempotent``; a request the server *refused* without running it
  (``QuotaExceededFault``: the service's ``w:QuotaLimit`` fault, raised when
  WinRM's MaxConcurrentOperationsPerUser and similar quotas are exceeded; HTTP
  503 with Retry-After) is retried whatever the flag says, because the
  operation did not happen.
* **Shared connection machinery**: one ``aiohttp.ClientSession`` over one
  ``TCPConnector`` (with a DNS cache, ``ttl_dns_cache``) serves every host's
  session, so DNS answers are shared across the run; a short keep-alive
  releases the sockets of finished hosts. It keeps no cookies (no host's
  cookie reaches another), and a connection is only reused by requests with
  the credentials it carried (see :mod:`aiowsman._http`).
* **A paced start**: the first ``concurrency`` hosts start one every
  :data:`START_INTERVAL` (0.2 ms: 5,000 a second), not all in one event-loop
  turn, and after that a host starts whenever one finishes. Started at once,
  they would stay in step: every answer of a wave arrives in the same
  moment, the loop works through the burst while the next wave's answers
  queue behind it, then idles through the round trip. Spread out, the work
  stays spread. The pace is about what one core can open hosts at anyway
  (each start is a session, a connection and a request), so a run that is
  CPU-bound from the start loses nothing; a run over fewer hosts than
  ``concurrency`` waits at most the pace per host it has.
* **Cancellation**: cancelling the consumer (or ``aclose()``, or leaving an
  ``async with run(...)`` block) cancels all in-flight work and closes every
  session and the shared connector.

Remote commands have an operation of their own: :class:`Commands` (or
:func:`run_commands`) runs command lines (or PowerShell scripts) on each host
in one shell per host, deleted when the host is done -- also when its
deadline cuts it off -- and gives one record per host (exit code, stdout,
stderr), optionally streaming every output line as it arrives. So does
PowerShell remoting: :class:`InvokeCommand` (or :func:`invoke_command`, the
shape of ``Invoke-Command -ComputerName``) runs scripts in one runspace pool
per host, closed with the host's session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import gc
import heapq
import html
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import aiohttp

from aiowsman._deadline import Deadline
from aiowsman._endpoint import parse_endpoint
from aiowsman._http import new_client
from aiowsman.errors import (
    ConfigurationError,
    QuotaExceededFault,
    ServiceUnavailableError,
    TransportError,
    WSManError,
    WSManFault,
)
from aiowsman.errors import TimeoutError as WSManTimeoutError
from aiowsman.protocol.namespaces import PSRP_DEFAULT_CONFIGURATION
from aiowsman.transport import GuardedConnector

if TYPE_CHECKING:
    from aiowsman.psrp import InvokeResult
    from aiowsman.session import AsyncSession
    from aiowsman.shell import CommandResult, OutputStream, Shell

__all__ = [
    "ERROR_CLASSES",
    "Commands",
    "FanOut",
    "HostResult",
    "InvokeCommand",
    "SessionFactory",
    "Summary",
    "classify_error",
    "current_host",
    "invoke_command",
    "jsonable",
    "no_retry",
    "run",
    "run_commands",
]

T = TypeVar("T")
S = TypeVar("S")

#: Every value :attr:`HostResult.error_class` can take. The first eight are
#: :attr:`aiowsman.errors.WSManError.category`; ``worker`` is set by the Dask
#: runner when a shard's worker died twice; ``other`` is anything else your
#: operation raised (a ``KeyError`` in your code, say).
ERROR_CLASSES = (
    "dns",
    "connect",
    "tls",
    "auth",
    "fault",
    "timeout",
    "protocol",
    "config",
    "worker",
    "other",
)

#: ``host -> async context manager yielding a session``; see :func:`run`.
SessionFactory = Callable[[str], AbstractAsyncContextManager[S]]


def classify_error(exc: BaseException) -> tuple[str, int | str | None]:
    """Map an exception to ``(error_class, fault_code)``.

    Args:
        exc: what an attempt raised.

    Returns:
        ``error_class`` is one of :data:`ERROR_CLASSES`; ``fault_code`` is the
        WSManFault code (an ``int``, e.g. 2150858778) or, when the fault carries
        none, its SOAP subcode (``"TimedOut"``); None for non-faults.
    """
    if isinstance(exc, WSManFault):
        code: int | str | None = exc.wsman_code if exc.wsman_code is not None else exc.subcode
        return "fault", code
    if isinstance(exc, WSManError):
        return exc.category, None
    if isinstance(exc, TimeoutError):  # asyncio.timeout's deadline, builtins
        return "timeout", None
    # The transport maps aiohttp errors to aiowsman.errors; these branches are
    # for custom session factories that do not.
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", None
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "tls", None
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        return "connect", None
    return "other", None


def jsonable(value: Any) -> Any:
    """Turn an operation's value into plain JSON-able data.

    Items (anything with ``to_dict()``), dataclasses, mappings and sequences
    are converted recursively; datetimes become ISO 8601 text, durations
    seconds; bytes are decoded as UTF-8; PowerShell remoting's objects
    (psrpcore's) their properties (:func:`aiowsman.protocol.psrp.to_python`);
    anything else becomes ``str(value)``.
    """
    if type(value).__module__.startswith("psrpcore."):
        from aiowsman.protocol.psrp import to_python

        value = to_python(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class HostResult(Generic[T]):
    """The outcome of the operation on one host.

    Attributes:
        host: the host exactly as it came from the input.
        ok: True when the operation returned.
        value: what the operation returned (None on failure).
        error: the exception of the last attempt (None on success).
        error_class: one of :data:`ERROR_CLASSES` (None on success).
        fault_code: WSManFault code or SOAP subcode, for ``fault`` errors.
        message: ``str(error)`` on one line (every run of whitespace, line
            breaks included, made one space) -- names host and operation,
            never a credential.
        elapsed: seconds from the host's first attempt to its result.
        attempts: how many attempts were made (1 when there was no retry).
        index: the host's position in the input (0-based).
    """

    host: str
    ok: bool
    value: T | None = None
    error: BaseException | None = field(default=None, repr=False, compare=False)
    error_class: str | None = None
    fault_code: int | str | None = None
    message: str | None = None
    elapsed: float = 0.0
    attempts: int = 0
    index: int = -1

    def __post_init__(self) -> None:
        message = self.message
        if message is not None:
            # One line, as documented: fault reasons and parser messages may
            # span lines, and one record per line (jsonl, csv, logs) must hold.
            object.__setattr__(self, "message", " ".join(message.split()))

    @classmethod
    def failure(
        cls,
        host: str,
        exc: BaseException,
        *,
        elapsed: float = 0.0,
        attempts: int = 0,
        index: int = -1,
        error_class: str | None = None,
    ) -> HostResult[Any]:
        """Build a failed result from ``exc`` (classified by :func:`classify_error`)."""
        klass, code = classify_error(exc)
        return cls(
            host=host,
            ok=False,
            error=exc,
            error_class=error_class or klass,
            fault_code=code,
            message=str(exc) or type(exc).__name__,
            elapsed=elapsed,
            attempts=attempts,
            index=index,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record (the value through :func:`jsonable`)."""
        record: dict[str, Any] = {
            "host": self.host,
            "ok": self.ok,
            "elapsed": round(self.elapsed, 6),
            "attempts": self.attempts,
        }
        if self.ok:
            record["value"] = jsonable(self.value)
        else:
            record["error_class"] = self.error_class
            record["error"] = self.message
            if self.fault_code is not None:
                record["fault_code"] = self.fault_code
        return record

    def _repr_html_(self) -> str:
        esc = html.escape
        if self.ok:
            shown = json.dumps(jsonable(self.value), indent=1, default=str)
            if len(shown) > 2000:
                shown = shown[:2000] + "\n..."
            status = '<b style="color:green">ok</b>'
            body = f"<pre>{esc(shown)}</pre>"
        else:
            status = f'<b style="color:#b00">{esc(self.error_class or "error")}</b>'
            body = f"<pre>{esc(self.message or '')}</pre>"
        return (
            f"<div><b>{esc(self.host)}</b> {status} "
            f"<small>{self.elapsed:.3f}s, {self.attempts} attempt(s)</small>{body}</div>"
        )


class Summary:
    """Constant-memory aggregate of a run: counts, classes, slowest hosts.

    Feed it every result (``summary.add(result)``); it keeps counters and a
    heap of the ``top`` slowest hosts, never the results themselves.
    """

    def __init__(self, *, top: int = 10) -> None:
        self.top = top
        self.total = 0
        self.ok = 0
        self.failed_by_class: Counter[str] = Counter()
        self.fault_codes: Counter[int | str] = Counter()
        self.attempts = 0
        self._slowest: list[tuple[float, int, str]] = []  # min-heap of the N largest
        self._seq = itertools.count()
        self.started = time.monotonic()
        self.finished: float | None = None

    @property
    def failed(self) -> int:
        return self.total - self.ok

    def add(self, result: HostResult[Any]) -> None:
        """Account for one result."""
        self.total += 1
        self.attempts += result.attempts
        if result.ok:
            self.ok += 1
        else:
            self.failed_by_class[result.error_class or "other"] += 1
            if result.fault_code is not None:
                self.fault_codes[result.fault_code] += 1
        entry = (result.elapsed, next(self._seq), result.host)
        if len(self._slowest) < self.top:
            heapq.heappush(self._slowest, entry)
        elif self.top and entry[0] > self._slowest[0][0]:
            heapq.heapreplace(self._slowest, entry)
        self.finished = time.monotonic()

    @property
    def slowest(self) -> list[tuple[str, float]]:
        """The slowest hosts, slowest first: ``[(host, seconds), ...]``."""
        return [(h, e) for e, _, h in sorted(self._slowest, reverse=True)]

    @property
    def wall_time(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 0.0)

    @property
    def throughput(self) -> float:
        """Hosts finished per second of wall time."""
        wall = self.wall_time
        return self.total / wall if wall > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "failed_by_class": dict(self.failed_by_class.most_common()),
            "fault_codes": {str(k): v for k, v in self.fault_codes.most_common()},
            "attempts": self.attempts,
            "wall_time": round(self.wall_time, 3),
            "throughput": round(self.throughput, 1),
            "slowest": [{"host": h, "elapsed": round(e, 3)} for h, e in self.slowest],
        }

    #: Below this many hosts, a rate and a slowest-hosts list say nothing.
    FLEET = 10

    def __str__(self) -> str:
        """The run in a few lines, fitted to its size.

        One host: ``1 host: ok in 0.12s`` (or ``failed (auth)``). A fleet:
        counts, failures by class, fault codes; from :attr:`FLEET` hosts on,
        the rate and the slowest hosts too.
        """
        if self.total == 1:
            state = "ok" if self.ok else f"failed ({next(iter(self.failed_by_class))})"
            return f"1 host: {state} in {self.wall_time:.2f}s"
        head = f"{self.total} hosts: {self.ok} ok, {self.failed} failed in {self.wall_time:.1f}s"
        if self.total >= self.FLEET:
            head += f" ({self.throughput:.0f} hosts/s)"
        lines = [head]
        if self.failed_by_class:
            parts = ", ".join(f"{k} {v}" for k, v in self.failed_by_class.most_common())
            lines.append(f"failed by class: {parts}")
        if self.fault_codes:
            parts = ", ".join(f"{k} x{v}" for k, v in self.fault_codes.most_common(5))
            lines.append(f"fault codes: {parts}")
        if self._slowest and self.total >= self.FLEET:
            parts = ", ".join(f"{h} {e:.2f}s" for h, e in self.slowest[:5])
            lines.append(f"slowest: {parts}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Summary total={self.total} ok={self.ok} failed={self.failed}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in self.failed_by_class.items()
        )
        slow = "".join(f"<tr><td>{esc(h)}</td><td>{e:.3f}s</td></tr>" for h, e in self.slowest)
        return (
            f"<div><b>{self.total}</b> hosts: <b style='color:green'>{self.ok} ok</b>, "
            f"<b style='color:#b00'>{self.failed} failed</b> in {self.wall_time:.2f}s "
            f"({self.throughput:.0f} hosts/s)"
            f"<table><tr><th>failed by class</th><th>hosts</th></tr>{rows}</table>"
            f"<table><tr><th>slowest host</th><th>elapsed</th></tr>{slow}</table></div>"
        )


# ---------------------------------------------------------------------------
# the runner


@dataclass(frozen=True)
class _Settings:
    concurrency: int
    deadline: float
    close_grace: float
    retries: int
    idempotent: bool
    backoff: float
    backoff_max: float
    gc_threshold: int | None = None


# The garbage collector during a run (``gc_threshold``). A fan-out keeps
# thousands of objects per host in flight for a round trip or more, so they
# outlive generation 0 and every collection of the older generations walks
# them again: with CPython's default threshold (700) the collector took
# 10-20% of a run's CPU in benchmarks/profile.py. A higher first threshold
# lets the short-lived ones die by reference count before a collection sees
# them. The setting is process-wide, so it is opt-in, shared by overlapping
# runs and restored when the last one ends.
_gc_saved: tuple[int, int, int] | None = None
_gc_runs = 0


def _gc_raise(threshold: int) -> None:
    global _gc_saved, _gc_runs
    current = gc.get_threshold()
    if _gc_runs == 0:
        _gc_saved = current
    _gc_runs += 1
    if threshold > current[0]:
        gc.set_threshold(threshold, current[1], current[2])


def _gc_restore() -> None:
    global _gc_saved, _gc_runs
    _gc_runs -= 1
    if _gc_runs == 0 and _gc_saved is not None:
        gc.set_threshold(*_gc_saved)
        _gc_saved = None


_END = object()

#: Seconds between the starts of the first ``concurrency`` hosts of a run
#: (module docstring: a paced start). With 500 hosts in flight the ramp takes
#: 0.1 s; with 2,000, 0.4 s -- less than one core needs to open that many.
START_INTERVAL = 0.0002

_HOST: ContextVar[str | None] = ContextVar("aiowsman_fanout_host", default=None)
_NO_RETRY = "_aiowsman_no_retry"


def current_host() -> str | None:
    """The host, as given in the input, whose operation runs in this task.

    An operation receives only a session; one that reports progress of its
    own (the command line streams each enumerated item as it arrives, with
    its host) reads the host here. None outside a run.
    """
    return _HOST.get()


def no_retry(exc: BaseException) -> BaseException:
    """Mark ``exc`` so the runner reports it without retrying; returns ``exc``.

    For an operation whose partial effects were already observed -- items
    streamed to an output, say: a retry would repeat them. The exception
    itself (class, host, message) is unchanged.
    """
    setattr(exc, _NO_RETRY, True)
    return exc


def _retryable(exc: BaseException, idempotent: bool) -> tuple[bool, float | None]:
    """May this attempt's failure be retried, and after how long at least?"""
    if getattr(exc, _NO_RETRY, False):
        return False, None
    # Refused without running: the w:QuotaLimit fault (WinRM's
    # MaxConcurrentOperationsPerUser and similar quotas) or HTTP 503. The
    # operation did not happen, so even a non-idempotent one may be re-sent.
    if isinstance(exc, QuotaExceededFault):
        return True, None
    if isinstance(exc, ServiceUnavailableError):
        return True, exc.retry_after
    if not idempotent:
        return False, None
    # Transient for an idempotent operation: a connection that failed or was
    # reset, a client deadline on one attempt. Never auth/tls/config/faults:
    # they would fail the same way again.
    if isinstance(exc, TransportError) and exc.category == "connect":
        return True, None
    if isinstance(exc, TimeoutError):
        return True, None
    return False, None


class FanOut(Generic[T]):
    """The async iterator returned by :func:`run`; also an async context manager.

    ``async for result in run(...)`` is enough; ``async with run(...) as results``
    additionally guarantees the run is torn down when the block is left early
    (after ``break``), without waiting for garbage collection.
    """

    def __init__(
        self,
        hosts: Iterable[str] | AsyncIterable[str],
        operation: Callable[[Any], Awaitable[T]],
        session_factory: SessionFactory[Any] | None,
        session_options: dict[str, Any],
        settings: _Settings,
        per_host: int,
        ttl_dns_cache: int | None,
        keepalive_timeout: float,
        progress: Callable[[HostResult[T]], object] | None,
        summary: Summary | None,
    ) -> None:
        self._hosts = hosts
        self._operation = operation
        self._factory = session_factory
        self._session_options = session_options
        self._settings = settings
        self._per_host = per_host
        self._ttl_dns_cache = ttl_dns_cache
        self._keepalive_timeout = keepalive_timeout
        self._progress = progress
        self.summary = summary if summary is not None else Summary()
        self._agen: AsyncGenerator[HostResult[T], None] | None = None

    # -- iteration -----------------------------------------------------------

    def __aiter__(self) -> FanOut[T]:
        return self

    async def __anext__(self) -> HostResult[T]:
        if self._agen is None:
            self._agen = self._results()
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Cancel in-flight work, close every session; idempotent."""
        agen = self._agen
        if agen is None:
            self._agen = _closed()
            return
        await agen.aclose()

    async def __aenter__(self) -> FanOut[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def collect(self) -> list[HostResult[T]]:
        """All results in a list (in finishing order); for small runs."""
        return [r async for r in self]

    # -- machinery -----------------------------------------------------------

    async def _results(self) -> AsyncGenerator[HostResult[T], None]:
        cfg = self._settings
        http: aiohttp.ClientSession | None = None
        factory = self._factory
        if factory is None:
            http = shared_client_session(
                limit=cfg.concurrency * self._per_host,
                per_host=self._per_host,
                ttl_dns_cache=self._ttl_dns_cache,
                keepalive_timeout=self._keepalive_timeout,
            )
            factory = default_session_factory(http, self._session_options, self._per_host)

        pending: asyncio.Queue[tuple[int, str] | object] = asyncio.Queue(cfg.concurrency)
        done: asyncio.Queue[HostResult[T] | object] = asyncio.Queue(cfg.concurrency)
        feed_error: list[BaseException] = []
        # A plain iterable is pulled by the workers themselves, a host each
        # whenever one is free: no feeder task and no queue hop per host (the
        # runner's queues were the largest part of its own per-host cost in
        # benchmarks/profile.py). An async iterable cannot be advanced by
        # many tasks at once, so a feeder task puts its hosts on a queue.
        source: Iterator[tuple[int, str]] | None = None
        if not isinstance(self._hosts, AsyncIterable):
            try:
                source = enumerate(self._hosts)
            except Exception as exc:  # not iterable: end the run, as feed() would
                feed_error.append(exc)
                source = iter(())

        async def feed() -> None:
            try:
                index = 0
                if isinstance(self._hosts, AsyncIterable):
                    async for host in self._hosts:
                        await pending.put((index, host))
                        index += 1
                else:
                    for host in self._hosts:
                        await pending.put((index, host))
                        index += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bad input must end the run, not hang it
                feed_error.append(exc)
            # Not in a finally: once cancelled, nobody drains the queue.
            for _ in range(cfg.concurrency):
                await pending.put(_END)

        async def work() -> None:
            assert factory is not None
            # One timer for this worker's hosts, one after another (aiowsman._deadline).
            timer = Deadline(asyncio.get_running_loop())
            try:
                await _work(timer)
            finally:
                timer.close()
            await done.put(_END)

        started = 0  # hosts started so far, counted for the paced start
        ramp_from = 0.0  # loop time of the run's first start

        async def _work(timer: Deadline) -> None:
            nonlocal started, ramp_from
            assert factory is not None
            loop = timer.loop
            while True:
                if source is not None:
                    if feed_error:
                        break  # the input failed: start no more hosts
                    try:
                        index, host = next(source)
                    except StopIteration:
                        break
                    except Exception as exc:  # a bad input must end the run, not hang it
                        feed_error.append(exc)
                        break
                else:
                    job = await pending.get()
                    if job is _END:
                        break
                    index, host = job  # type: ignore[misc]
                if started < cfg.concurrency:
                    # The paced start (module docstring): the n-th of the
                    # first `concurrency` hosts starts n intervals after the first.
                    if started == 0:
                        ramp_from = loop.time()
                    delay = ramp_from + started * START_INTERVAL - loop.time()
                    started += 1
                    if delay > 0:
                        await asyncio.sleep(delay)
                result = await self._one(factory, host, index, timer)
                if done.full():
                    await done.put(result)
                else:
                    done.put_nowait(result)  # no coroutine for the usual case

        tasks: list[asyncio.Task[None]] = []
        if cfg.gc_threshold is not None:
            _gc_raise(cfg.gc_threshold)
        try:
            if source is None:
                tasks.append(asyncio.create_task(feed(), name="aiowsman-fanout-feed"))
            tasks.extend(
                asyncio.create_task(work(), name=f"aiowsman-fanout-{i}")
                for i in range(cfg.concurrency)
            )
            running = cfg.concurrency
            while running:
                item = await done.get()
                if item is _END:
                    running -= 1
                    continue
                result: HostResult[T] = item  # type: ignore[assignment]
                self.summary.add(result)
                if self._progress is not None:
                    self._progress(result)
                yield result
            if feed_error:
                raise feed_error[0]
        finally:
            for task in tasks:
                task.cancel()
            try:
                # Wait for every task to unwind (closing its session) before the
                # shared connector goes away.
                await asyncio.gather(*tasks, return_exceptions=True)
                if http is not None:
                    await http.close()
            finally:
                if cfg.gc_threshold is not None:
                    _gc_restore()

    async def _one(
        self, factory: SessionFactory[Any], host: str, index: int, timer: Deadline
    ) -> HostResult[T]:
        cfg = self._settings
        loop = timer.loop
        attempts = 0
        last: BaseException | None = None
        late = False
        _HOST.set(host)  # this worker task's context: current_host()
        task: Any = asyncio.current_task(loop)
        # Two bounds, one timer: the deadline proper, and a short grace beyond
        # it in which a session may close (send its Release, say). A session
        # whose close hangs too is abandoned at deadline + grace.
        deadline_at = timer.start(task, cfg.deadline, grace=cfg.close_grace)
        start = deadline_at - cfg.deadline
        try:
            while True:
                attempts += 1
                try:
                    async with factory(host) as session:
                        value = await self._operation(session)
                        finished = loop.time()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    last = exc
                    if loop.time() > deadline_at:
                        late = True  # see below
                        break
                    retry, at_least = _retryable(exc, cfg.idempotent)
                    if not retry or attempts > cfg.retries:
                        break
                    # Full jitter (AWS architecture blog, "Exponential
                    # Backoff And Jitter"): spreads the retries of many
                    # hosts refused at once by a shared quota.
                    ceiling = min(cfg.backoff_max, cfg.backoff * 2 ** (attempts - 1))
                    delay = random.uniform(0, ceiling)
                    if at_least is not None:
                        delay = max(delay, min(at_least, cfg.backoff_max))
                    await asyncio.sleep(delay)
                    continue
                if finished > deadline_at:
                    # The operation returned after the deadline: the loop was
                    # too busy to fire it in time (a timer cannot interrupt
                    # running code). The deadline is the contract, so this is
                    # a timeout, not a late ok.
                    late = True
                    break
                return HostResult(
                    host=host,
                    ok=True,
                    value=value,
                    elapsed=loop.time() - start,
                    attempts=attempts,
                    index=index,
                )
        except asyncio.CancelledError as exc:
            if not timer.stop(exc):
                raise
            late = True  # only the host deadline gets here
        except Exception as exc:  # session close failed, etc.
            last = exc
        finally:
            timer.stop(None)
        if late:
            # Report it naming the host, with what the last attempt saw.
            err = _deadline_error(host, cfg.deadline, last)
            return HostResult.failure(
                host, err, elapsed=loop.time() - start, attempts=attempts, index=index
            )
        assert last is not None
        return HostResult.failure(
            host, last, elapsed=loop.time() - start, attempts=attempts, index=index
        )


def _deadline_error(host: str, deadline: float, last: BaseException | None) -> WSManError:
    text = f"host deadline of {deadline:g}s passed"
    if last is not None:
        text += f" (previous attempt: {last})"
    # Name the host as every other error does (``host:port``), not as typed.
    named = getattr(last, "host", None)
    if not isinstance(named, str):
        try:
            named = parse_endpoint(host).authority
        except WSManError:
            named = host
    return WSManTimeoutError(text, host=named, operation="fan-out")


async def _closed() -> AsyncGenerator[Any, None]:
    return
    yield  # pragma: no cover - makes this an async generator


def shared_client_session(
    *, limit: int, per_host: int, ttl_dns_cache: int | None, keepalive_timeout: float
) -> aiohttp.ClientSession:
    """The one ``aiohttp.ClientSession`` the sessions of a many-host run share.

    One connector for the whole run: the DNS cache and the keep-alive pool
    are shared by every host's session; ``limit_per_host`` bounds the
    channels one host may hold (``per_host``).
    """
    # Guarded: a host pushing an unsolicited response on an idle kept-alive
    # connection never has it taken as an answer.
    connector = GuardedConnector(
        limit=limit,
        limit_per_host=per_host,
        ttl_dns_cache=ttl_dns_cache,
        use_dns_cache=ttl_dns_cache is not None,
        # Idle connections do not count against aiohttp's limits, and a
        # fan-out rarely returns to a host it finished with: a short
        # keep-alive bounds the idle sockets to ~ throughput x this.
        keepalive_timeout=keepalive_timeout,
    )
    # The library's client (aiowsman._http): no aiohttp timeouts (its default
    # is total=300 s, sock_connect=30 s: every session bounds each operation
    # with its own deadline, and the runner each host, so aiohttp's would
    # only add two timers per request to the event loop's heap); no cookie
    # jar (one host's Set-Cookie must not reach the next); connections keyed
    # by the credentials they carried (one set of credentials shares the pool
    # as before).
    return new_client(connector, connector_owner=True)


def default_session_factory(
    http: aiohttp.ClientSession, session_options: Mapping[str, Any], per_host: int
) -> SessionFactory[Any]:
    """``host -> AsyncSession`` on the shared ``http`` client with ``session_options``."""
    from aiowsman.session import AsyncSession

    options = dict(session_options)
    # per_host channels need the session's consent too: each AsyncSession
    # bounds its own requests in flight (max_channels).
    options.setdefault("max_channels", per_host)
    # The runner owns the retry policy (its host deadline, backoff and
    # ``idempotent`` flag); sessions retrying underneath would multiply the
    # attempts a failing host costs.
    options.setdefault("retries", 0)

    def factory(host: str) -> AbstractAsyncContextManager[Any]:
        return AsyncSession(host, client_session=http, **options)

    return factory


def run(
    hosts: Iterable[str] | AsyncIterable[str],
    operation: Callable[[Any], Awaitable[T]],
    *,
    concurrency: int = 100,
    per_host: int = 1,
    deadline: float = 60.0,
    retries: int = 2,
    idempotent: bool = False,
    backoff: float = 0.5,
    backoff_max: float = 10.0,
    close_grace: float = 2.0,
    ttl_dns_cache: int | None = 300,
    keepalive_timeout: float = 2.0,
    gc_threshold: int | None = None,
    session_factory: SessionFactory[Any] | None = None,
    progress: Callable[[HostResult[T]], object] | None = None,
    summary: Summary | None = None,
    processes: int | str | None = None,
    **session_options: Any,
) -> FanOut[T]:
    """Run ``operation`` against every host; yield a :class:`HostResult` per host as it finishes.

    Args:
        hosts: host names, ``host:port`` or endpoint URLs; an iterable or an
            async iterable, consumed lazily (only ``concurrency`` ahead).
        operation: ``async def op(session) -> value``; it receives an open
            :class:`aiowsman.AsyncSession` for the host (or whatever
            ``session_factory`` yields). Must be a module-level function or a
            picklable callable for the Dask runner.
        concurrency: hosts in flight at once.
        per_host: connections one host may hold (the connector's
            ``limit_per_host``); 1 or 2 suits most WinRM servers, whose
            per-user shell/operation quotas are small.
        deadline: hard limit in seconds for one host, over all its attempts
            and backoff sleeps; the host is then reported as ``timeout``.
            So is a host whose operation returned or failed only after its
            deadline (an event loop too busy to fire the deadline in time):
            no host is reported ``ok`` after its deadline, and no record
            comes later than ``deadline + close_grace`` while the loop is
            responsive (responses are parsed off the loop, see
            :data:`aiowsman.session.PARSE_OFFLOAD_BYTES`).
        retries: extra attempts after the first, for retryable failures.
        idempotent: the operation may be repeated safely (Get, Enumerate,
            Identify): connect failures and timeouts are retried too.
            Refused requests (quota, HTTP 503) are retried either way.
        backoff: base of the exponential backoff, seconds.
        backoff_max: cap of one backoff sleep, seconds.
        close_grace: time beyond ``deadline`` a session is given to close.
        ttl_dns_cache: seconds DNS answers are shared across hosts; None
            turns the cache off.
        keepalive_timeout: seconds an idle connection of the shared pool is
            kept (a finished host's sockets are closed after this).
        gc_threshold: raise the garbage collector's first threshold
            (``gc.set_threshold``, CPython's default 700) to this for the
            run, e.g. ``10_000``: thousands of hosts in flight otherwise make
            the collector walk their objects again and again (10-20% of the
            CPU of a large run). Process-wide, so opt-in; restored when the
            last run using it ends.
        session_factory: ``host -> async context manager yielding a session``;
            replaces the default (an ``AsyncSession`` on the shared
            ``aiohttp.ClientSession``). Incompatible with ``session_options``.
        progress: called with each result just before it is yielded.
        summary: a :class:`Summary` to feed (default: a new one, available
            as ``.summary`` on the returned iterator).
        processes: run in this many worker processes (``"auto"``: one per
            usable CPU), each running this runner on the hosts it is fed,
            ``concurrency`` split between them; None or 1 runs in this
            process. The operation (and ``session_factory``) must then be
            picklable; see ``docs/fanout.md``, "Every core".
        **session_options: passed to every ``AsyncSession`` (``username``,
            ``password``, ``auth``, ``allow_unencrypted``, ``timeout``, TLS
            options...).

    Returns:
        A :class:`FanOut`: iterate it with ``async for``.

    Raises:
        aiowsman.errors.ConfigurationError: bad settings (raised at once).
        Exception: whatever *iterating the input hosts* raised, raised by the
            iterator after the hosts already started have been reported.
    """
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1", operation="fan-out")
    if per_host < 1:
        raise ConfigurationError("per_host must be at least 1", operation="fan-out")
    if deadline <= 0:
        raise ConfigurationError("deadline must be positive", operation="fan-out")
    if retries < 0:
        raise ConfigurationError("retries must not be negative", operation="fan-out")
    if session_factory is not None and session_options:
        names = ", ".join(sorted(session_options))
        raise ConfigurationError(
            f"session options ({names}) cannot be combined with session_factory",
            operation="fan-out",
        )
    if isinstance(hosts, str):
        raise ConfigurationError("hosts must be an iterable of hosts, not a string")
    if gc_threshold is not None and (
        isinstance(gc_threshold, bool) or not isinstance(gc_threshold, int) or gc_threshold < 1
    ):
        raise ConfigurationError("gc_threshold must be a positive integer", operation="fan-out")
    if processes is not None:
        # Every core: worker processes each running this runner (aiowsman/_multiproc.py).
        from aiowsman import _multiproc

        count = _multiproc.resolve_processes(processes)
        if count > 1:
            runner_kwargs = dict(
                concurrency=concurrency, per_host=per_host, deadline=deadline,
                retries=retries, idempotent=idempotent, backoff=backoff,
                backoff_max=backoff_max, close_grace=close_grace, ttl_dns_cache=ttl_dns_cache,
                keepalive_timeout=keepalive_timeout, gc_threshold=gc_threshold,
                session_factory=session_factory, **session_options,
            )  # fmt: skip
            return _multiproc.ProcessFanOut(
                hosts, operation, count, runner_kwargs=runner_kwargs,
                progress=progress, summary=summary,
            )  # fmt: skip
    settings = _Settings(
        concurrency=concurrency,
        deadline=deadline,
        close_grace=close_grace,
        retries=retries,
        idempotent=idempotent,
        backoff=backoff,
        backoff_max=backoff_max,
        gc_threshold=gc_threshold,
    )
    return FanOut(
        hosts,
        operation,
        session_factory,
        dict(session_options),
        settings,
        per_host,
        ttl_dns_cache,
        keepalive_timeout,
        progress,
        summary,
    )


# ---------------------------------------------------------------------------
# remote commands


#: ``on_line(host, stream, line)``: an output line of a host as it arrives.
LineCallback = Callable[[str, str, str], object]


@dataclass(frozen=True)
class Commands:
    """A fan-out operation: run command lines on a host, in one shell.

    ``run(hosts, Commands(("hostname", "ipconfig /all")))`` gives each host a
    shell, runs the commands in order (each followed by its Terminate) and
    deletes the shell -- on success, failure, or when the host's deadline
    cancels it. The value is the :class:`~aiowsman.shell.CommandResult` of
    the one command, or their list when there are several.

    A host is retried by the runner only while nothing has run on it: a
    quota fault after a command ran ends the host (its commands are not
    repeated).

    Attributes:
        commands: command lines (or PowerShell scripts), run in order.
        powershell: run them with ``powershell.exe`` (``run_ps``).
        timeout: each command's deadline, seconds (None: none).
        codepage: the shell's code page.
        stop_on_failure: skip the rest after a non-zero exit code.
        on_line: called with ``(host, stream, line)`` for every output line
            as it arrives (``host`` as the input gave it); the records still
            hold everything.
    """

    commands: tuple[str, ...]
    powershell: bool = False
    timeout: float | None = 3600.0
    codepage: int | None = 65001
    stop_on_failure: bool = False
    on_line: LineCallback | None = None

    async def __call__(self, session: AsyncSession) -> CommandResult | list[CommandResult]:
        from aiowsman.errors import QuotaExceededFault

        results: list[CommandResult] = []
        async with session.shell(codepage=self.codepage, command_timeout=self.timeout) as shell:
            for line in self.commands:
                try:
                    result = await self._one(shell, line)
                except QuotaExceededFault as exc:
                    if results:
                        raise no_retry(exc) from None  # commands ran: never repeat them
                    raise  # nothing ran: the runner may retry the host
                results.append(result)
                if self.stop_on_failure and result.exit_code != 0:
                    break
        return results[0] if len(self.commands) == 1 else results

    def _one(self, shell: Shell, line: str) -> Awaitable[CommandResult]:
        # The coroutine to await, not a coroutine around it: one frame less
        # held per command in flight.
        if self.on_line is None:
            if self.powershell:
                return shell.run_ps(line)
            return shell.run(line)
        return self._streamed(shell, line)

    async def _streamed(self, shell: Shell, line: str) -> CommandResult:
        from aiowsman.shell import CommandResult, powershell_command, powershell_result

        callback = self.on_line
        assert callback is not None
        host = current_host() or shell.session.host
        command, stdin = powershell_command(line) if self.powershell else (line, None)
        process = await shell.start(command, stdin=stdin is not None, input=stdin)
        chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        async def pump(stream: OutputStream) -> None:
            async for text_line in stream.lines(keep=chunks[stream.name]):
                callback(host, stream.name, text_line)

        async with process:
            await asyncio.gather(pump(process.stdout), pump(process.stderr))
            await process.wait()
        result = CommandResult(
            process.command_line,
            process.exit_code,
            b"".join(chunks["stdout"]),
            b"".join(chunks["stderr"]),
            shell.codepage,
        )
        return powershell_result(result) if self.powershell else result


def run_commands(
    hosts: Iterable[str] | AsyncIterable[str],
    *commands: str,
    powershell: bool = False,
    timeout: float | None = 3600.0,
    codepage: int | None = 65001,
    stop_on_failure: bool = False,
    on_line: LineCallback | None = None,
    **run_options: Any,
) -> FanOut[Any]:
    """Run ``commands`` on every host (one shell per host); see :class:`Commands`.

    ``run_options`` go to :func:`run` (``concurrency``, ``deadline``,
    credentials...). Each :class:`HostResult`'s value is a
    :class:`~aiowsman.shell.CommandResult` (a list for several commands).

    Raises:
        aiowsman.errors.ConfigurationError: no command, or bad run options.
    """
    if not commands:
        raise ConfigurationError("give at least one command", operation="fan-out")
    operation = Commands(
        tuple(commands),
        powershell=powershell,
        timeout=timeout,
        codepage=codepage,
        stop_on_failure=stop_on_failure,
        on_line=on_line,
    )
    return run(hosts, operation, **run_options)


# ---------------------------------------------------------------------------
# PowerShell remoting


@dataclass(frozen=True)
class InvokeCommand:
    """A fan-out operation: PowerShell scripts over PowerShell remoting, as
    ``Invoke-Command -ComputerName``.

    ``run(hosts, InvokeCommand(("Get-Service WinRM",)))`` runs the scripts
    in order on each host in one runspace pool (the session's, see
    :meth:`aiowsman.AsyncSession.invoke_command`: variables set by one
    script are there for the next), closed with the host's session -- also
    when the host's deadline cuts it off. The value is the
    :class:`~aiowsman.psrp.InvokeResult` of the one script (output objects,
    streams), or their list when there are several. A script's terminating
    error fails the host (:class:`~aiowsman.errors.PipelineFailedError`).

    A host is retried by the runner only while nothing has run on it (a
    quota fault when the pool is created).

    Attributes:
        scripts: the scripts, run in order.
        configuration_name: the endpoint configuration (JEA).
        timeout: each script's deadline, seconds (None: none); at the
            deadline the script is stopped on the host.
    """

    scripts: tuple[str, ...]
    configuration_name: str = PSRP_DEFAULT_CONFIGURATION
    timeout: float | None = 3600.0

    async def __call__(self, session: AsyncSession) -> InvokeResult | list[InvokeResult]:
        results: list[InvokeResult] = []
        for script in self.scripts:
            try:
                result = await session.invoke_command(
                    script, configuration_name=self.configuration_name, timeout=self.timeout
                )
            except QuotaExceededFault as exc:
                if results:
                    raise no_retry(exc) from None  # scripts ran: never repeat them
                raise  # nothing ran: the runner may retry the host
            results.append(result)
        return results[0] if len(self.scripts) == 1 else results


def invoke_command(
    hosts: Iterable[str] | AsyncIterable[str],
    *scripts: str,
    configuration_name: str = PSRP_DEFAULT_CONFIGURATION,
    timeout: float | None = 3600.0,
    **run_options: Any,
) -> FanOut[Any]:
    """Run PowerShell ``scripts`` on every host over PowerShell remoting
    (one runspace pool per host); see :class:`InvokeCommand`.

    ``run_options`` go to :func:`run` (``concurrency``, ``deadline``,
    credentials...). Each :class:`HostResult`'s value is an
    :class:`~aiowsman.psrp.InvokeResult` (a list for several scripts).

    Raises:
        aiowsman.errors.ConfigurationError: no script, or bad run options.
    """
    if not scripts:
        raise ConfigurationError("give at least one script", operation="fan-out")
    operation = InvokeCommand(
        tuple(scripts), configuration_name=configuration_name, timeout=timeout
    )
    return run(hosts, operation, **run_options)
