"""Remote commands over WinRS: :class:`Shell`, :class:`Process`, :class:`CommandResult`.

``session.shell(...)`` is a remote ``cmd.exe`` shell (MS-WSMV 3.1.4.5.2) as
an async context manager; ``shell.run(...)`` runs a command to its end,
``shell.start(...)`` returns a running :class:`Process` in the manner of
``asyncio.subprocess``; ``session.run_cmd`` / ``session.run_ps`` do it all
in one call with a shell of their own.

Rules kept (MS-WSMV 3.1.4.11-3.1.4.14 and the peers' lessons, see
``docs/commands.md``):

Receive
    A command's output is pulled with Receive requests, one at a time, each
    holding the service at most ``receive_timeout`` seconds (its
    ``w:OperationTimeout``) and bounded on the client by that plus
    :data:`NETWORK_MARGIN` (the NetworkDelayms of MS-WSMV 3.2.4.1). The
    service's "no output yet" fault (``w:TimedOut``, 2150858793) is answered
    with another Receive -- until the command's own deadline (``timeout``,
    separate from the session's per-request timeout), which ends the command
    with :class:`~aiowsman.errors.CommandTimeoutError`. A Receive is never
    sent twice: the service hands each block of output out once.
Flow control
    A :class:`Process` holds at most ``buffer`` bytes of unread output; while
    its reader is behind, no Receive is sent (the remote program then waits,
    as on a full pipe), so streaming a large output takes constant memory.
    Read both ``stdout`` and ``stderr`` (or use :meth:`Process.communicate`):
    as with ``asyncio.subprocess``, an unread stream stalls the other.
Terminate
    After a command's output has ended, a ``terminate`` Signal tells the
    service it may forget the command (MS-WSMV 3.1.4.14: "a final Signal
    message MUST also be issued"); without it a reused shell runs into
    MaxConcurrentCommandsPerShell.
Cleanup
    The shell is deleted on exit, on error and on cancellation -- also when
    a fan-out deadline cancels the work: the Delete (and the Terminate of a
    command still running) runs as a task of its own, bounded by
    :data:`CLEANUP_TIMEOUT`, which a cancellation waits for instead of
    abandoning. A session closes the shells still open when it closes.
A dropped shell
    When a Command finds the shell gone (ShellNotFound, 2150858843: reaped
    when idle, or MaxShellRunTime), the shell is created again with the
    same settings and the command sent once more: it had not run.

Text
    Output is bytes (``stdout``, ``stderr``); ``*_text`` decodes them with
    the shell's code page (``codepage``, 65001 -- UTF-8 -- by default),
    streams with an incremental decoder, so a character split across two
    Receives comes out whole.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import collections
import dataclasses
import enum
import logging
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from aiowsman._deadline import timer_context
from aiowsman.errors import (
    CommandQuotaExceededFault,
    CommandTimeoutError,
    ConfigurationError,
    OperationTimedOutFault,
    ShellNotFoundFault,
    WSManError,
    WSManFault,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol import shell as proto
from aiowsman.protocol.clixml import ClixmlStreams, ErrorRecord, ProgressRecord, decode_clixml
from aiowsman.protocol.envelope import Request
from aiowsman.protocol.locator import ResourceLocator
from aiowsman.protocol.response import Envelope
from aiowsman.protocol.shell import ShellInfo, ShellSpec

if TYPE_CHECKING:
    from aiowsman.session import AsyncSession

__all__ = [
    "CLEANUP_TIMEOUT",
    "DEFAULT_CODEPAGE",
    "DEFAULT_COMMAND_TIMEOUT",
    "NETWORK_MARGIN",
    "RECEIVE_TIMEOUT",
    "SHELL_DEFAULT",
    "CommandResult",
    "OutputStream",
    "PowerShellResult",
    "Process",
    "Shell",
    "cleanup",
    "powershell_command",
    "powershell_result",
]

log = logging.getLogger("aiowsman.shell")
T = TypeVar("T")
#: A kind of :class:`Process` (``Shell._start`` makes either).
_P = TypeVar("_P", bound="Process")


class _Default(enum.Enum):
    """The "use the shell's setting" value of a ``timeout`` argument."""

    SHELL = "the shell's command_timeout"

    def __repr__(self) -> str:
        return "<the shell's command_timeout>"


SHELL_DEFAULT: Final = _Default.SHELL
Timeout = float | None | _Default

#: UTF-8, the console code page asked for by default (WinRb, masterzen and
#: Ansible do the same; pywinrm's 437 mangles anything but ASCII).
DEFAULT_CODEPAGE: Final = 65001
#: ``w:OperationTimeout`` of a Receive: how long the service may hold it
#: waiting for output (pywinrm and pypsrp use 20 s too).
RECEIVE_TIMEOUT: Final = 20.0
#: Added to a Receive's OperationTimeout for the client's own deadline: the
#: default NetworkDelayms of MS-WSMV 3.2.4.1 (5000 ms).
NETWORK_MARGIN: Final = 5.0
#: A command's deadline unless the caller gives one (None for no deadline).
DEFAULT_COMMAND_TIMEOUT: Final = 3600.0
#: Upper bound on the best-effort Terminate and Delete sent while leaving.
CLEANUP_TIMEOUT: Final = 10.0
#: How long a command stopped with its shell's ``stop_signal`` (PowerShell
#: remoting's Ctrl-C) is given to end before the Terminate, within CLEANUP_TIMEOUT.
STOP_TIMEOUT: Final = 5.0
#: ``w:OperationTimeout`` of the Receives that wait for a stopped command's end.
STOP_RECEIVE_TIMEOUT: Final = 1.0
#: Unread output a Process holds before it stops sending Receives (bytes).
DEFAULT_BUFFER: Final = 1024 * 1024
#: The buffer of :meth:`Shell.run`, which keeps the whole output anyway.
_UNBOUNDED: Final = 2**62
#: ``w:OperationTimeout`` of a keep-alive Receive.
KEEPALIVE_OPERATION_TIMEOUT: Final = 1.0
#: cmd.exe's command line limit (characters): longer PowerShell goes by stdin.
CMD_LINE_LIMIT: Final = 8191


async def _quietly(coro: Coroutine[Any, Any, None]) -> None:
    try:
        await coro
    except (WSManError, TimeoutError) as exc:
        log.debug("cleanup failed (ignored): %s", exc)


async def cleanup(coro: Coroutine[Any, Any, None], bound: float = CLEANUP_TIMEOUT) -> None:
    """Run a best-effort cleanup request to its end, even if the caller is cancelled.

    The work runs as a task, cancelled if it has not ended ``bound`` seconds
    on; a cancellation of the caller waits for it (a fan-out deadline must
    not leave a shell open on the host), then is re-raised. A second
    cancellation stops waiting; the task still ends within its bound.

    (A timer handle and a future rather than ``asyncio.timeout`` and
    ``asyncio.shield``: every shell's Delete comes this way, and those cost
    about twice as much per cleanup. The timer holds the task until it ends.)
    """
    loop = asyncio.get_running_loop()
    task = loop.create_task(_quietly(coro))
    timer = loop.call_later(bound, task.cancel, context=timer_context())
    waiter = loop.create_future()

    def finished(task: asyncio.Task[None]) -> None:
        timer.cancel()
        if task.cancelled():
            log.debug("cleanup did not end within %gs: abandoned", bound)
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(finished)
    try:
        await waiter
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])
        raise
    if not task.cancelled():
        task.result()  # anything but a WS-Man failure is the caller's


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    """A finished command.

    Attributes:
        command: the command line as sent.
        exit_code: the program's exit code.
        stdout, stderr: everything it wrote (bytes).
        codepage: the code page ``*_text`` decodes with.
    """

    command: str
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    codepage: int = DEFAULT_CODEPAGE

    @property
    def stdout_text(self) -> str:
        """``stdout`` decoded with the shell's code page (undecodable bytes as U+FFFD)."""
        return self.stdout.decode(proto.codepage_codec(self.codepage), "replace")

    @property
    def stderr_text(self) -> str:
        """``stderr`` decoded with the shell's code page."""
        return self.stderr.decode(proto.codepage_codec(self.codepage), "replace")

    @property
    def ok(self) -> bool:
        """The exit code is 0."""
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record: exit code and decoded output."""
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "stdout": self.stdout_text,
            "stderr": self.stderr_text,
        }


@dataclass(frozen=True)
class PowerShellResult(CommandResult):
    """A finished PowerShell script: the CLIXML of its stderr decoded.

    ``stderr`` keeps the raw bytes; ``stderr_text`` is the readable text of
    the error, warning, verbose, debug and information streams; the typed
    records are in ``streams`` (and the shortcuts below).
    """

    streams: ClixmlStreams = field(default_factory=ClixmlStreams)

    @property
    def stderr_text(self) -> str:
        return self.streams.text()

    @property
    def errors(self) -> list[ErrorRecord]:
        """The error records."""
        return self.streams.errors

    @property
    def warnings(self) -> list[str]:
        return self.streams.warnings

    @property
    def verbose(self) -> list[str]:
        return self.streams.verbose

    @property
    def debug(self) -> list[str]:
        return self.streams.debug

    @property
    def information(self) -> list[str]:
        return self.streams.information

    @property
    def progress(self) -> list[ProgressRecord]:
        return self.streams.progress

    def to_dict(self) -> dict[str, Any]:
        record = super().to_dict()
        record["errors"] = [e.message for e in self.errors]
        record["warnings"] = list(self.warnings)
        return record


# -- PowerShell command lines --------------------------------------------------------------

#: Run before every script: no progress records on stderr (pywinrm#169), and
#: UTF-8 for the console's input and output whatever the shell's code page
#: (Ansible's bootstrap_wrapper.ps1 line 1).
PS_PROLOGUE: Final = (
    "$ProgressPreference = 'SilentlyContinue'\n"
    "[Console]::InputEncoding = [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding\n"
)
#: Ends every script: a native program's exit code becomes the script's
#: (Ansible ``_encode_script(preserve_rc=True)``).
PS_EPILOGUE: Final = "\nexit $LASTEXITCODE\n"
#: For scripts too long for a command line: read the script from stdin (as
#: UTF-8, set before reading) and run it.
PS_STDIN_BOOTSTRAP: Final = (
    PS_PROLOGUE + "$aiowsman_script = [Console]::In.ReadToEnd()\n"
    "Invoke-Expression $aiowsman_script\n" + PS_EPILOGUE.lstrip("\n")
)
_PS_ARGS: Final = ("-NoProfile", "-NonInteractive", "-EncodedCommand")


def _encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def powershell_command(script: str) -> tuple[str, bytes | None]:
    """The command line that runs ``script`` with powershell.exe, and its stdin.

    Short scripts go whole in ``-EncodedCommand`` (base64 of UTF-16LE); one
    whose command line would pass cmd.exe's 8191 characters goes on stdin
    (UTF-8) behind a short bootstrap, since base64 of UTF-16 costs about
    2.7 characters per character of script.

    Returns:
        ``(command line, stdin bytes or None)``.
    """
    full = PS_PROLOGUE + script + PS_EPILOGUE
    line = " ".join(["powershell", *_PS_ARGS, _encoded(full)])
    if len(line) <= CMD_LINE_LIMIT - 100:
        return line, None
    line = " ".join(["powershell", *_PS_ARGS, _encoded(PS_STDIN_BOOTSTRAP)])
    return line, script.encode("utf-8")


def powershell_result(result: CommandResult) -> PowerShellResult:
    """The :class:`PowerShellResult` of a command run by :func:`powershell_command`."""
    # The prologue made PowerShell write UTF-8 whatever the shell's code page.
    streams = decode_clixml(result.stderr, encoding="utf-8")
    return PowerShellResult(
        command=result.command,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        codepage=65001,
        streams=streams,
    )


# -- output streams --------------------------------------------------------------------------


class _Wakeup:
    """Wake whoever waits for a change: ``asyncio.Event`` without the flag, made lazily.

    The waiter checks its condition, waits, and checks again (``while not
    ready: await wakeup.wait()``); :meth:`notify` wakes every current waiter.
    A future exists only while someone waits: an ``asyncio.Event`` allocates
    a deque at once (~0.7 KB), and a command has three of them waiting for
    nothing most of the time, which in a fan-out of thousands of commands in
    flight is a tenth of what each holds.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    def notify(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def wait(self) -> asyncio.Future[None]:
        """A future to await; cancelling it leaves the others waiting."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        elif len(waiters) >= 4:
            # Cancelled waits (a reader polling with a timeout) stay listed
            # until the next notify: drop them, so they cannot pile up.
            waiters[:] = [w for w in waiters if not w.done()]
        waiters.append(waiter)
        return waiter


class _Flow:
    """What a :class:`Process` shares with its two output streams.

    The streams refer to this, not to the process, and it refers to nothing
    of theirs: a finished command is then freed by reference counting alone,
    and with it what it holds (its shell, the session, their connections),
    instead of waiting, in a fan-out of thousands of commands, for the
    garbage collector to find a process/stream cycle; an output stream kept
    after its process holds only its own chunks.
    """

    __slots__ = ("buffered", "codec", "failure", "failure_seen", "limit", "room")

    def __init__(self, codec: str, limit: int) -> None:
        #: The shell's code page's codec (fixed when the shell is made).
        self.codec = codec
        #: Unread bytes of both streams together, and the bound on them.
        self.buffered = 0
        self.limit = limit
        #: Notified when the reader makes room below the bound (the Receive loop waits on it).
        self.room = _Wakeup()
        #: What ended the Receive loop, raised once: by wait() or by whichever
        #: stream is read to its end first.
        self.failure: BaseException | None = None
        self.failure_seen = False

    def consumed(self) -> None:
        if self.buffered < self.limit:
            self.room.notify()


class OutputStream(AsyncIterator[bytes]):
    """One output stream of a :class:`Process`: an async iterator of byte
    chunks as they arrive (``async for chunk in p.stdout``).

    Also :meth:`read` (everything to the end), :meth:`text` (decoded
    chunks) and :meth:`lines` (decoded lines).
    """

    def __init__(self, flow: _Flow, name: str) -> None:
        self._flow = flow
        self.name = name
        # Made with the first chunk (most commands write nothing to stderr).
        self._chunks: collections.deque[bytes] | None = None
        self.buffered = 0
        self._eof = False
        self._changed = _Wakeup()

    def _feed(self, data: bytes) -> None:
        if data:
            chunks = self._chunks
            if chunks is None:
                chunks = self._chunks = collections.deque()
            chunks.append(data)
            self.buffered += len(data)
            self._flow.buffered += len(data)
            self._changed.notify()

    def _end(self) -> None:
        self._eof = True
        self._changed.notify()

    def _take_all(self) -> bytes:
        """Everything buffered, at once (for :meth:`Shell.run`, whose buffer is unbounded)."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = b"".join(chunks)
        chunks.clear()
        self._flow.buffered -= self.buffered
        self.buffered = 0
        return data

    def __aiter__(self) -> OutputStream:
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        while not chunks:
            if self._eof:
                flow = self._flow
                failure = flow.failure
                if failure is not None and not flow.failure_seen:
                    flow.failure_seen = True
                    raise failure
                raise StopAsyncIteration
            await self._changed.wait()
            chunks = self._chunks
        data = chunks.popleft()
        self.buffered -= len(data)
        flow = self._flow
        flow.buffered -= len(data)
        flow.consumed()
        return data

    async def read(self) -> bytes:
        """Everything until the stream ends."""
        return b"".join([chunk async for chunk in self])

    async def text(self, *, keep: list[bytes] | None = None) -> AsyncIterator[str]:
        """The chunks decoded with the shell's code page (a character split
        between chunks comes out whole, with the later one); the raw chunks
        are also appended to ``keep`` when given."""
        decoder = codecs.getincrementaldecoder(self._flow.codec)("replace")
        async for chunk in self:
            if keep is not None:
                keep.append(chunk)
            text = decoder.decode(chunk)
            if text:
                yield text
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest

    async def lines(self, *, keep: list[bytes] | None = None) -> AsyncIterator[str]:
        """Decoded lines without their line ends (``\\r\\n`` or ``\\n``); the
        raw chunks are also appended to ``keep`` when given."""
        pending = ""
        async for text in self.text(keep=keep):
            pending += text
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line.rstrip("\r")
        if pending:
            yield pending.rstrip("\r")


# -- a running command ---------------------------------------------------------------------


class Process:
    """A command running in a :class:`Shell` (``await shell.start(...)``).

    Like ``asyncio.subprocess.Process``: ``stdout`` and ``stderr`` stream its
    output (:class:`OutputStream`), :meth:`write` / :meth:`close_stdin` feed
    its stdin, :meth:`wait` waits for its exit code, :meth:`communicate`
    does it all. Where WinRS differs: there is no process id; signals are
    Ctrl-C, Ctrl-Break and terminate (:meth:`signal`); output comes in the
    shell's code page; the exit code is unknown (None) when the command was
    terminated before it finished.

    Also an async context manager: leaving it terminates the command if it
    is still running.

    A shell whose commands are not programs (PowerShell remoting, where a
    command is a pipeline) drives the same loop with three hooks, given by
    :meth:`Shell.start_command`: ``prelude`` (requests sent before the
    first Receive), ``on_output`` (each received block handed over, awaited,
    instead of buffered) and the shell's ``stop_signal`` (sent before the
    Terminate when a command is stopped early, see :meth:`terminate`).
    """

    def __init__(
        self,
        shell: Shell,
        command_line: str,
        command_id: str,
        *,
        timeout: float | None,
        buffer: int,
        stdin: bool,
        prelude: Callable[[Process], Awaitable[None]] | None = None,
        on_output: Callable[[str, bytes], Awaitable[None]] | None = None,
    ) -> None:
        self.shell = shell
        self.command_line = command_line
        self.command_id = command_id
        flow = self._flow = _Flow(shell.codec, buffer)
        self.stdout = OutputStream(flow, "stdout")
        self.stderr = OutputStream(flow, "stderr")
        self.exit_code: int | None = None
        self._stdin_open = stdin and prelude is None
        self._prelude = prelude
        self._on_output = on_output
        self._finished = False
        self._terminated = False
        #: The service reported the command Done (its output is complete).
        self._done = False
        #: The command is being stopped: its last output is being drained.
        self.stopping = False
        self.receives = 0
        #: Terminated by another task while its loop still ran (a driven
        #: Process only): the loop ends quietly, whatever its last Receive got.
        self._cut_off = False
        loop = asyncio.get_running_loop()
        self._deadline = None if timeout is None else loop.time() + timeout
        self._timeout = timeout
        #: The task running the Receive loop (None when the caller drives it:
        #: :class:`_DrivenProcess`).
        self._pump: asyncio.Task[None] | None = self._start_pump(loop)

    def _start_pump(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None] | None:
        return loop.create_task(self._run(), name=f"aiowsman-receive-{self.command_id}")

    def __repr__(self) -> str:
        state = "done" if self._finished else "running"
        return f"<Process {self.command_line!r} {state} exit_code={self.exit_code}>"

    @property
    def codec(self) -> str:
        """The codec of the shell's code page."""
        return self.shell.codec

    @property
    def returncode(self) -> int | None:
        """``asyncio.subprocess``'s name for :attr:`exit_code`."""
        return self.exit_code

    @property
    def finished(self) -> bool:
        """The command has ended and the service was told to forget it."""
        return self._finished

    # -- the Receive loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._receive_all()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self._cut_off:
                self._flow.failure = exc
        finally:
            self.stdout._end()
            self.stderr._end()

    async def _receive_all(self) -> None:
        shell = self.shell
        loop = asyncio.get_running_loop()
        if self._prelude is not None:
            # Input given up front goes before the first Receive: a Receive
            # waiting for output would otherwise hold the session's only
            # channel (a fan-out's per_host=1) while the program waits for it.
            prelude, self._prelude = self._prelude, None
            await self._wait_or_deadline(prelude(self))
        while True:
            # Flow control: no Receive while the reader is behind.
            flow = self._flow
            while flow.buffered >= flow.limit:
                await self._wait_or_deadline(flow.room.wait())
            operation_timeout = shell.receive_timeout
            if self._deadline is not None:
                remaining = self._deadline - loop.time()
                if remaining <= 0:
                    await self._on_deadline()
                # Not beyond the deadline (a little past it rather than a
                # Receive too short to be useful).
                operation_timeout = min(operation_timeout, max(0.5, round(remaining, 1)))
            try:
                result = await self._receive_once(operation_timeout)
            except OperationTimedOutFault:
                continue  # "no output yet" (MS-WSMV 3.1.4.14): ask again
            if self._on_output is None:
                self._feed(result)  # into the streams: nothing to wait for
            else:
                await self._wait_or_deadline(self._deliver(result))
            if result.done:
                break
        if shell.lazy_terminate:
            # Told to the service with the shell's next Command, or never if
            # the shell is deleted first (see Shell's lazy_terminate).
            self._finished = True
            shell._commands.discard(self)
            shell._unterminated.append(self)
            return
        await self._terminate_quietly()

    async def _receive_once(self, operation_timeout: float) -> proto.ReceiveResult:
        """One Receive of the command's output (the service holds it at most
        ``operation_timeout``; the client waits that plus NETWORK_MARGIN)."""
        shell = self.shell
        request = proto.receive_request(
            shell._options(operation_timeout),
            shell._locator,
            streams=shell.spec.output_streams,
            command_id=self.command_id,
        )
        self.receives += 1
        return await shell._call(
            request, proto.parse_receive, deadline=operation_timeout + NETWORK_MARGIN
        )

    async def _deliver(self, result: proto.ReceiveResult) -> None:
        """Hand a Receive's blocks to the reader (the output streams, or ``on_output``)."""
        on_output = self._on_output
        if on_output is None:
            self._feed(result)
            return
        for chunk in result.streams:
            if chunk.data:
                await on_output(chunk.name, chunk.data)
        if result.done:
            self._done = True
            self.exit_code = result.exit_code

    def _feed(self, result: proto.ReceiveResult) -> None:
        """Put a Receive's blocks in the output streams (never blocks: flow
        control happens before the next Receive)."""
        for chunk in result.streams:
            if chunk.name == "stdout":
                self.stdout._feed(chunk.data)
            elif chunk.name == "stderr":
                self.stderr._feed(chunk.data)
        if result.done:
            self._done = True
            self.exit_code = result.exit_code

    async def _wait_or_deadline(self, coro: Awaitable[Any]) -> None:
        if self._deadline is None:
            await coro
            return
        try:
            async with asyncio.timeout_at(self._deadline):
                await coro
        except TimeoutError:
            await self._on_deadline()

    async def _on_deadline(self) -> None:
        await cleanup(self._stop_and_terminate())
        stopped = "stopped" if self.shell.stop_signal else "terminated"
        raise CommandTimeoutError(
            f"the command was still running after its {self._timeout:g}s deadline; "
            f"it was {stopped}",
            command_id=self.command_id,
            host=self.shell.session.host,
            operation="Receive",
        )

    async def _stop_and_terminate(self) -> None:
        """End a command early: the shell's ``stop_signal`` first, if it has
        one, and its end awaited (bounded by :data:`STOP_TIMEOUT`), then the
        Terminate. A fault is logged, not raised."""
        signal = self.shell.stop_signal
        if signal is not None and not self._done and not self._terminated:
            self.stopping = True
            try:
                await self.shell._signal(self.command_id, signal)
                async with asyncio.timeout(STOP_TIMEOUT):
                    while not self._done:
                        try:
                            result = await self._receive_once(STOP_RECEIVE_TIMEOUT)
                        except OperationTimedOutFault:
                            continue
                        await self._deliver(result)
            except (WSManError, TimeoutError) as exc:
                log.debug("[%s] stopping %s failed: %s", self.shell.session.host, self, exc)
        await self._terminate_quietly()

    async def _terminate_quietly(self) -> None:
        """Signal terminate (MS-WSMV 3.1.4.14), once; a fault is logged, not raised."""
        if self._terminated:
            return
        self._terminated = True
        try:
            await self.shell._signal(self.command_id, "terminate")
        except WSManError as exc:
            log.debug("[%s] Terminate failed (ignored): %s", self.shell.session.host, exc)
        finally:
            self._finished = True
            self.shell._commands.discard(self)

    # -- stdin --------------------------------------------------------------------------------

    async def write(self, data: bytes | str) -> None:
        """Send ``data`` to the command's stdin (str is encoded with the shell's
        code page), in Sends that fit MaxEnvelopeSize.

        Raises:
            ConfigurationError: stdin is closed, or was not asked for.
            aiowsman.errors.WSManError: a Send failed.
        """
        if isinstance(data, str):
            data = data.encode(self.codec)
        await self._send(data, end=False)

    async def close_stdin(self) -> None:
        """Close stdin (a Send with ``End="true"``): the program sees its end."""
        await self._send(b"", end=True)

    async def _send(self, data: bytes, *, end: bool) -> None:
        if not self._stdin_open:
            raise ConfigurationError(
                "stdin is closed (or the command was started with stdin=False)",
                host=self.shell.session.host,
                operation="Send",
            )
        if end:
            self._stdin_open = False
        await self.shell._send(self.command_id, data, end=end)

    # -- control ------------------------------------------------------------------------------

    async def signal(self, signal: str) -> None:
        """Send ``"ctrl_c"``, ``"ctrl_break"``, ``"terminate"`` or a signal URI.

        Ctrl-C and Ctrl-Break reach the program as at a console (most exit with
        0xC000013A); terminate stops the command at once and the service
        forgets it (its exit code stays None).

        Raises:
            ConfigurationError: an unknown signal name.
            aiowsman.errors.WSManError: the Signal failed.
        """
        code = proto.signal_code(signal)
        if code == ns.SIGNAL_TERMINATE:
            await self.terminate()
            return
        await self.shell._signal(self.command_id, code)

    def add_done_callback(self, callback: Callable[[Process], object]) -> None:
        """Call ``callback(process)`` when its Receive loop ends: the output
        complete (and the Terminate sent), failed, or stopped."""
        pump = self._pump
        assert pump is not None  # a _DrivenProcess is handed to no one
        pump.add_done_callback(lambda _: callback(self))

    async def terminate(self) -> None:
        """Stop the command (Signal terminate) and stop reading its output.

        In a shell with a ``stop_signal`` (PowerShell remoting's
        ``powershell/signal/crtl_c``), that signal goes first and the
        command's end is awaited -- its last output is still delivered --
        for at most :data:`STOP_TIMEOUT` seconds, then the Terminate.
        """
        if self._finished:
            return
        pump = self._pump
        assert pump is not None  # _DrivenProcess has its own
        if self._done:
            # Its output is complete: the Receive loop is sending the Terminate.
            await asyncio.wait([pump])
            return
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        await self._stop_and_terminate()

    kill = terminate

    async def wait(self) -> int | None:
        """Wait for the command to end; returns its exit code.

        The output streams still hold what was not read (a command with more
        unread output than the buffer cannot end: read it, or use
        :meth:`communicate`).

        Raises:
            aiowsman.errors.CommandTimeoutError: the command's deadline passed.
            aiowsman.errors.WSManError: a Receive failed.
        """
        # Waiting for the loop's end neither cancels the Receive loop when the
        # caller is cancelled nor raises when terminate() cancelled it.
        # (asyncio.wait([pump]) without its sets and frame.)
        pump = self._pump
        if pump is not None and not pump.done():
            waiter = pump.get_loop().create_future()

            def wake(_: object) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            pump.add_done_callback(wake)
            try:
                await waiter
            finally:
                # Cancelled waits (a caller polling with a timeout) leave nothing behind.
                pump.remove_done_callback(wake)
        flow = self._flow
        if flow.failure is not None:
            flow.failure_seen = True
            raise flow.failure
        return self.exit_code

    async def communicate(self, input: bytes | str | None = None) -> tuple[bytes, bytes]:
        """Send ``input`` (then close stdin), read both streams to the end, wait.

        Returns:
            ``(stdout, stderr)``.

        Raises:
            aiowsman.errors.CommandTimeoutError: the deadline passed; it holds
                the output read until then.
            aiowsman.errors.WSManError: a request failed.
        """
        out: list[bytes] = []
        err: list[bytes] = []

        async def collect(stream: OutputStream, into: list[bytes]) -> None:
            async for chunk in stream:
                into.append(chunk)

        async def feed() -> None:
            if input is not None:
                data = input.encode(self.codec) if isinstance(input, str) else input
                await self.shell._send(self.command_id, data, end=True)
                self._stdin_open = False

        try:
            await asyncio.gather(feed(), collect(self.stdout, out), collect(self.stderr, err))
            await self.wait()
        except CommandTimeoutError as exc:
            exc.stdout = b"".join(out)
            exc.stderr = b"".join(err)
            raise
        return b"".join(out), b"".join(err)

    async def aclose(self) -> None:
        """Terminate the command if it still runs (bounded, best effort)."""
        if self._finished:
            return
        await cleanup(self.terminate())

    async def __aenter__(self) -> Process:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _DrivenProcess(Process):
    """A Process whose Receive loop runs in its caller's task: :meth:`Shell.run`,
    which waits for the end anyway and hands the Process to no one. No task
    of its own to start, wake and wait for (about 2 % of a command's client
    CPU; ``benchmarks/results/profiles/s24-*``).

    Its caller's cancellation, or the command's deadline, interrupts the loop
    in place, and leaving ``async with`` terminates the command as for any
    Process. Another task can still terminate it while the loop runs (the
    shell or the session being closed): the loop's Receive in flight, or its
    next one, then fails (the command is gone) and the loop ends quietly
    (:attr:`_cut_off`), as a cancelled pump would.
    """

    _driving = False

    def _start_pump(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None] | None:
        return None

    async def drive(self) -> None:
        """Run the Receive loop to its end (:meth:`wait` then raises what ended it, if anything)."""
        self._driving = True
        try:
            await self._run()
        finally:
            self._driving = False

    async def terminate(self) -> None:
        if self._finished:
            return
        if self._driving:
            # Another task's: the loop ends at its next failed Receive.
            self._cut_off = True
            await self._terminate_quietly()
            return
        # The loop was interrupted (cancelled, or past the deadline).
        await self._stop_and_terminate()


# -- the shell ---------------------------------------------------------------------------------


class Shell:
    """A remote shell on one host (``session.shell(...)``): an async context manager.

    Entering creates it (Create), leaving deletes it (Delete, also on error
    and cancellation). Commands run one after another or at once; each ends
    with a Terminate signal.

    Args:
        session: the session it lives on.
        spec: what it is created with (:class:`~aiowsman.protocol.shell.ShellSpec`).
        command_timeout: default deadline of each command, seconds (None: none).
        receive_timeout: ``w:OperationTimeout`` of each Receive.
        keepalive: while no command runs, send a keep-alive Receive this often
            (seconds) so the service does not reap the idle shell; None: never.
        buffer: unread output a Process may hold (bytes).
        recreate: create the shell again when a Command finds it gone (the
            command had not run); False where the shell holds state that a
            new one would not have (a runspace pool).
        stop_signal: a signal that stops a command early, sent before its
            Terminate (PowerShell remoting's ``powershell/signal/crtl_c``);
            None: a command is only terminated.
        on_shell_output: called with every shell-level ReceiveResponse (the
            keep-alive's, or :meth:`receive_shell`'s); None ignores them.
        lazy_terminate: a finished command's Terminate goes with the shell's
            next Command (alongside it), and not at all when the shell is
            deleted first -- a request saved per shell, where MS-WSMV does not
            require the Terminate (a custom shell such as PowerShell's; cmd
            shells must terminate each command, 3.1.4.14). A Command refused
            by MaxConcurrentCommandsPerShell meanwhile is sent again once.
    """

    def __init__(
        self,
        session: AsyncSession,
        spec: ShellSpec,
        *,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        receive_timeout: float = RECEIVE_TIMEOUT,
        keepalive: float | None = None,
        buffer: int = DEFAULT_BUFFER,
        recreate: bool = True,
        stop_signal: str | None = None,
        on_shell_output: Callable[[proto.ReceiveResult], None] | None = None,
        lazy_terminate: bool = False,
    ) -> None:
        if spec.codepage is not None:
            try:
                self.codec = proto.codepage_codec(spec.codepage)
            except ConfigurationError as exc:
                raise exc.with_context(session.host, "Create") from None
        else:
            self.codec = "utf-8"
        for name, value in (("receive_timeout", receive_timeout), ("keepalive", keepalive)):
            if value is not None and not value > 0:
                raise ConfigurationError(
                    f"{name} must be positive, not {value!r}", host=session.host, operation="Create"
                )
        if command_timeout is not None and not command_timeout > 0:
            raise ConfigurationError(
                f"command_timeout must be positive or None, not {command_timeout!r}",
                host=session.host,
                operation="Command",
            )
        self.session = session
        self.spec = spec
        self.command_timeout = command_timeout
        self.receive_timeout = receive_timeout
        self.keepalive = keepalive
        self.buffer = buffer
        self.recreate = recreate
        self.stop_signal = None if stop_signal is None else proto.signal_code(stop_signal)
        self.on_shell_output = on_shell_output
        self.lazy_terminate = lazy_terminate
        #: Finished commands whose Terminate waits for the next Command.
        self._unterminated: list[Process] = []
        self.shell_id: str | None = None
        self.info: ShellInfo | None = None
        #: How many times the shell was created again after the service dropped it.
        self.recreated = 0
        self._locator = ResourceLocator(spec.resource_uri)
        self._commands: weakref.WeakSet[Process] = weakref.WeakSet()
        self._closed = False
        self._keepalive_task: asyncio.Task[None] | None = None
        self._last_request = 0.0
        self._chunk_sizes: dict[tuple[str, bool], int] = {}

    def __repr__(self) -> str:
        return f"<Shell {self.shell_id or '(not created)'} on {self.session.host}>"

    @property
    def codepage(self) -> int:
        """The console code page its programs write."""
        return self.spec.codepage if self.spec.codepage is not None else DEFAULT_CODEPAGE

    @property
    def opened(self) -> bool:
        return self.shell_id is not None and not self._closed

    # -- requests ------------------------------------------------------------------------------

    def _options(self, operation_timeout: float | None = None) -> Any:
        if operation_timeout is None:
            return self.session.options
        return self.session._options_with_timeout(operation_timeout)

    async def _call(
        self, request: Request, parse: Callable[[Envelope], T], *, deadline: float | None = None
    ) -> T:
        """One shell request; the fault for an unknown shell or command becomes
        :class:`~aiowsman.errors.ShellNotFoundFault`."""
        self._last_request = asyncio.get_running_loop().time()
        try:
            return await self.session._call(
                request, parse, resource=self.spec.resource_uri, deadline=deadline
            )
        except WSManFault as exc:
            if exc.wsman_code == ns.CODE_INVALID_SELECTORS and not isinstance(
                exc, ShellNotFoundFault
            ):
                raise ShellNotFoundFault(
                    exc.fault, http_status=exc.http_status, host=exc.host, operation=exc.operation
                ) from None
            raise

    async def open(self) -> Shell:
        """Create the shell (once); returns self.

        Raises:
            aiowsman.errors.ShellQuotaExceededFault: MaxShellsPerUser reached.
            aiowsman.errors.WSManError: any other failure.
        """
        if self._closed:
            raise ConfigurationError("the shell is closed", host=self.session.host)
        if self.shell_id is None:
            await self._create()
            self.session._shell_opened(self)
            if self.keepalive is not None:
                self._keepalive_task = asyncio.get_running_loop().create_task(
                    self._keep_alive(self.keepalive)
                )
        return self

    async def _create(self) -> None:
        request = proto.create_shell_request(self.session.options, self.spec)
        created = await self.session._call(
            request, proto.parse_create_shell, resource=self.spec.resource_uri
        )
        self.shell_id = created.shell_id
        self.info = created.info
        self._locator = proto.shell_locator(
            created.resource_uri or self.spec.resource_uri, created.shell_id
        )
        self._last_request = asyncio.get_running_loop().time()

    async def __aenter__(self) -> Shell:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Terminate running commands and delete the shell: bounded by
        :data:`CLEANUP_TIMEOUT`, best effort, finished even when cancelled."""
        if self._closed:
            return
        self._closed = True
        self.session._shell_closed(self)
        await cleanup(self._close())

    async def _close(self) -> None:
        task, self._keepalive_task = self._keepalive_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        running = [p for p in list(self._commands) if not p.finished]
        if running:
            await asyncio.gather(*(p.terminate() for p in running), return_exceptions=True)
        if self.shell_id is None or self.session.closed:
            return
        request = proto.delete_shell_request(self.session.options, self._locator)
        try:
            await self._call(request, lambda env: None)
        except ShellNotFoundFault:
            pass  # already gone (reaped, or deleted by someone else)

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "shell_id", None) is not None and not getattr(self, "_closed", True):
            _warn(
                f"unclosed {self!r}; use 'async with session.shell()'", ResourceWarning, source=self
            )

    async def _keep_alive(self, interval: float) -> None:
        """While idle, a shell-level Receive with WSMAN_CMDSHELL_OPTION_KEEPALIVE
        now and then: any request resets the service's idle timer."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(max(0.05, self._last_request + interval - loop.time()))
            if self._closed or any(not p.finished for p in self._commands):
                continue
            if loop.time() - self._last_request < interval:
                continue
            try:
                await self.receive_shell(KEEPALIVE_OPERATION_TIMEOUT)
            except OperationTimedOutFault:
                pass  # nothing to receive: the shell is alive
            except ShellNotFoundFault:
                log.debug("[%s] shell %s is gone", self.session.host, self.shell_id)
            except WSManError as exc:
                log.debug("[%s] keep-alive failed (ignored): %s", self.session.host, exc)

    async def receive_shell(self, operation_timeout: float) -> proto.ReceiveResult:
        """One shell-level Receive (no CommandId; option
        ``WSMAN_CMDSHELL_OPTION_KEEPALIVE``) of the shell's first output
        stream: a cmd shell has nothing there (it keeps the shell alive), a
        runspace pool's own messages come this way. The result also goes to
        ``on_shell_output``.

        Raises:
            aiowsman.errors.OperationTimedOutFault: nothing within ``operation_timeout``.
            aiowsman.errors.WSManError: any other failure.
        """
        request = proto.receive_request(
            self._options(operation_timeout),
            self._locator,
            streams=self.spec.output_streams[:1],
            keepalive=True,
        )
        result = await self._call(
            request, proto.parse_receive, deadline=operation_timeout + NETWORK_MARGIN
        )
        if self.on_shell_output is not None:
            self.on_shell_output(result)
        return result

    async def _signal(self, command_id: str, signal: str) -> None:
        request = proto.signal_request(
            self.session.options, self._locator, signal, command_id=command_id
        )
        await self._call(request, proto.parse_signal)

    def send_room(self, *, stream: str = "stdin", command: bool = True) -> int:
        """The most bytes one Send carries within MaxEnvelopeSize (see
        :func:`~aiowsman.protocol.shell.send_chunk_size`), for ``stream`` of a
        command (a CommandId attribute) or of the shell itself."""
        key = (stream, command)
        size = self._chunk_sizes.get(key)
        if size is None:
            # A CommandId is a GUID: measure with one of that length.
            command_id = "00000000-0000-0000-0000-000000000000" if command else None
            size = self._chunk_sizes[key] = proto.send_chunk_size(
                self.session.options, self._locator, stream=stream, command_id=command_id
            )
        return size

    async def _send(
        self, command_id: str | None, data: bytes, *, end: bool, stream: str = "stdin"
    ) -> None:
        """Send ``data`` on ``stream`` of a command (or, without ``command_id``,
        of the shell), in as many Sends as MaxEnvelopeSize needs."""
        size = self.send_room(stream=stream, command=command_id is not None)
        view = memoryview(data)
        while True:
            block, view = bytes(view[:size]), view[size:]
            last = not len(view)
            request = proto.send_request(
                self.session.options,
                self._locator,
                block,
                stream=stream,
                command_id=command_id,
                end=end and last,
            )
            await self._call(request, proto.parse_send)
            if last:
                return

    # -- commands ---------------------------------------------------------------------------------

    async def start(
        self,
        command: str,
        *args: str,
        stdin: bool = True,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the command's deadline
        skip_cmd_shell: bool | None = None,
        buffer: int | None = None,
        input: bytes | str | None = None,
    ) -> Process:
        """Start a command; returns its :class:`Process` at once.

        Args:
            command: the program, or a whole command line (``"ipconfig /all"``),
                sent as written.
            *args: arguments, each quoted for Windows when it needs it.
            stdin: the command reads a pipe you write to (option
                ``WINRS_CONSOLEMODE_STDIN=FALSE``, so filters see the end of
                their input); False leaves stdin a console.
            timeout: the command's deadline in seconds (default: the shell's
                ``command_timeout``; None: none).
            skip_cmd_shell: option ``WINRS_SKIP_CMD_SHELL``: start the program
                without cmd.exe.
            buffer: unread output held before Receives pause (bytes).
            input: all of the command's input, sent (then stdin closed)
                before its output is read; str is encoded with the shell's
                code page.

        Raises:
            aiowsman.errors.WSManError: the Command failed (a quota, say).
        """
        return await self._start(
            Process, command, args, stdin, timeout, skip_cmd_shell, buffer, input
        )

    async def _start(
        self,
        kind: type[_P],
        command: str,
        args: Sequence[str],
        stdin: bool,
        timeout: Timeout,  # noqa: ASYNC109 - the command's deadline
        skip_cmd_shell: bool | None,
        buffer: int | None,
        input: bytes | str | None,
    ) -> _P:
        if isinstance(input, str):
            input = input.encode(self.codec)
        prelude: Callable[[Process], Awaitable[None]] | None = None
        if input is not None:
            stdin = True
            data = input

            async def prelude(process: Process) -> None:
                await self._send(process.command_id, data, end=True)

        quoted = [proto.quote_argument(a) for a in args]
        console_mode_stdin = False if stdin else None
        sent = await self._send_command(command, quoted, None, console_mode_stdin, skip_cmd_shell)
        return self._track(
            kind,
            proto.command_line(command, args),
            sent,
            timeout=timeout,
            buffer=buffer,
            stdin=stdin,
            prelude=prelude,
        )

    async def start_command(
        self,
        display: str,
        command: str,
        arguments: Sequence[str],
        *,
        command_id: str | None = None,
        console_mode_stdin: bool | None = None,
        skip_cmd_shell: bool | None = None,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the command's deadline
        buffer: int | None = None,
        stdin: bool = False,
        prelude: Callable[[Process], Awaitable[None]] | None = None,
        on_output: Callable[[str, bytes], Awaitable[None]] | None = None,
    ) -> Process:
        """Send a Command as given (MS-WSMV 3.1.4.11) and return its running
        :class:`Process`: the one step :meth:`start` and PowerShell remoting's
        pipelines share.

        Args:
            display: how the command is named (``Process.command_line``).
            command: ``rsp:Command`` (may be empty).
            arguments: ``rsp:Arguments`` values, as they are to be sent.
            command_id: a client-chosen CommandId (PSRP: the pipeline id).
            console_mode_stdin: option ``WINRS_CONSOLEMODE_STDIN``.
            skip_cmd_shell: option ``WINRS_SKIP_CMD_SHELL``.
            timeout: the command's deadline (default: the shell's).
            buffer: unread output held before Receives pause.
            stdin: :meth:`Process.write` may be used.
            prelude: sent before the first Receive (see :class:`Process`).
            on_output: receives each output block instead of the streams.

        Raises:
            aiowsman.errors.WSManError: the Command failed (a quota, say).
        """
        sent = await self._send_command(
            command, arguments, command_id, console_mode_stdin, skip_cmd_shell
        )
        return self._track(
            Process,
            display,
            sent,
            timeout=timeout,
            buffer=buffer,
            stdin=stdin,
            prelude=prelude,
            on_output=on_output,
        )

    async def _send_command(
        self,
        command: str,
        arguments: Sequence[str],
        command_id: str | None,
        console_mode_stdin: bool | None,
        skip_cmd_shell: bool | None,
    ) -> str:
        """Send the Command (the shell created first, if need be); its CommandId."""
        await self.open()

        def send() -> Coroutine[Any, Any, str]:
            return self._command(
                command,
                arguments,
                command_id=command_id,
                console_mode_stdin=console_mode_stdin,
                skip=skip_cmd_shell,
            )

        pending, self._unterminated = self._unterminated, []
        if not pending:
            return await send()
        # The finished commands' Terminates go alongside this Command.
        first, *_ = await asyncio.gather(
            send(), *(p._terminate_quietly() for p in pending), return_exceptions=True
        )
        if isinstance(first, CommandQuotaExceededFault):
            return await send()  # refused before the Terminates made room: once more
        if isinstance(first, BaseException):
            raise first
        sent: str = first
        return sent

    def _track(
        self,
        kind: type[_P],
        display: str,
        command_id: str,
        *,
        timeout: Timeout,
        buffer: int | None,
        stdin: bool,
        prelude: Callable[[Process], Awaitable[None]] | None,
        on_output: Callable[[str, bytes], Awaitable[None]] | None = None,
    ) -> _P:
        """The :class:`Process` (of class ``kind``) of a command just started."""
        deadline = self.command_timeout if isinstance(timeout, _Default) else timeout
        process = kind(
            self,
            display,
            command_id,
            timeout=deadline,
            buffer=self.buffer if buffer is None else buffer,
            stdin=stdin,
            prelude=prelude,
            on_output=on_output,
        )
        self._commands.add(process)
        return process

    async def _command(
        self,
        command: str,
        arguments: Sequence[str],
        *,
        command_id: str | None,
        console_mode_stdin: bool | None,
        skip: bool | None,
    ) -> str:
        for attempt in range(2):
            request = proto.command_request(
                self.session.options,
                self._locator,
                command,
                arguments,
                command_id=command_id,
                console_mode_stdin=console_mode_stdin,
                skip_cmd_shell=skip,
            )
            try:
                return await self._call(request, proto.parse_command)
            except ShellNotFoundFault:
                if attempt or self._closed or not self.recreate:
                    raise
                # The service dropped the shell (idle timeout, MaxShellRunTime):
                # the command did not run; make the shell again and resend it.
                log.debug(
                    "[%s] shell %s is gone; creating it again", self.session.host, self.shell_id
                )
                await self._create()
                self.recreated += 1
        raise AssertionError("unreachable")

    async def run(
        self,
        command: str,
        *args: str,
        stdin: bytes | str | None = None,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the command's deadline
        skip_cmd_shell: bool | None = None,
    ) -> CommandResult:
        """Run a command to its end.

        Args:
            command: the program or a whole command line, sent as written.
            *args: arguments, each quoted for Windows when it needs it.
            stdin: input for the command (str is encoded with the shell's code
                page); stdin is then a pipe that ends after it.
            timeout: the command's deadline (default: the shell's).
            skip_cmd_shell: start the program without cmd.exe.

        Returns:
            Exit code and output.

        Raises:
            aiowsman.errors.CommandTimeoutError: still running at its deadline
                (terminated; the output so far is on the error).
            aiowsman.errors.WSManError: any other failure.
        """
        # The result holds the whole output anyway: no flow control, and the
        # output is taken at the end rather than chunk by chunk.
        # Its Receive loop runs in this task (_DrivenProcess).
        process = await self._start(
            _DrivenProcess,
            command,
            args,
            stdin is not None,
            timeout,
            skip_cmd_shell,
            _UNBOUNDED,
            stdin,
        )
        async with process:
            try:
                await process.drive()
                await process.wait()  # the loop has ended: raises what ended it, if anything
            except CommandTimeoutError as exc:
                exc.stdout, exc.stderr = process.stdout._take_all(), process.stderr._take_all()
                raise
        out, err = process.stdout._take_all(), process.stderr._take_all()
        return CommandResult(process.command_line, process.exit_code, out, err, self.codepage)

    async def run_ps(
        self,
        script: str,
        *,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the command's deadline
    ) -> PowerShellResult:
        """Run a PowerShell script with powershell.exe (see :func:`powershell_command`).

        Returns:
            Exit code, output, and the decoded streams of its stderr.
        """
        line, stdin = powershell_command(script)
        result = await self.run(line, stdin=stdin, timeout=timeout)
        return powershell_result(
            dataclasses.replace(result, command=f"powershell: {_first_line(script)}")
        )


def _first_line(script: str) -> str:
    first = script.strip().splitlines()[0] if script.strip() else ""
    return first if len(first) <= 60 else first[:57] + "..."
