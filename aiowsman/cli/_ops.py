"""The CLI verbs as picklable operations for the fan-out runner.

Each verb is a small frozen dataclass with ``async __call__(session)``, so the
same object runs in-process and, pickled, on Dask workers (``--dask``).
Values returned are :class:`~aiowsman.protocol.items.Item` objects (picklable
via their XML), lists of them, or plain data.

An operation that yields many items also has ``stream(session)``, an async
iterator of them: the command line writes each item as it arrives instead of
collecting a host's whole result (``__call__`` collects, for Dask).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiowsman.enumerator import Enumerator
from aiowsman.protocol.items import Item
from aiowsman.protocol.locator import EndpointReference, ResourceLocator
from aiowsman.protocol.namespaces import PSRP_DEFAULT_CONFIGURATION
from aiowsman.session import AsyncSession

__all__ = [
    "CommandExit",
    "CreateOp",
    "DeleteOp",
    "EnumerateOp",
    "GetOp",
    "IdentifyOp",
    "InvokeOp",
    "OutputLine",
    "PSRPOp",
    "PutOp",
    "RunOp",
    "Target",
]


@dataclass(frozen=True)
class Target:
    """What a verb addresses: resource URI or alias, selectors, options, fragment."""

    resource: str
    selectors: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    fragment: str | None = None

    def locator(self) -> ResourceLocator:
        return ResourceLocator(
            self.resource,
            selectors=dict(self.selectors),
            options=dict(self.options) or None,
            fragment=self.fragment,
        )


@dataclass(frozen=True)
class IdentifyOp:
    """``identify``: the service's protocol version, vendor and product version.

    Without credentials it is PowerShell ``Test-WSMan``'s default: the
    unauthenticated Identify of MS-WSMV 3.1.4.16, which WinRM answers even
    where every other request needs authentication.
    """

    unauthenticated: bool = False
    idempotent = True

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.identify(unauthenticated=self.unauthenticated)


@dataclass(frozen=True)
class GetOp:
    """``get RESOURCE``: one instance."""

    target: Target
    idempotent = True

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.get(self.target.locator())


@dataclass(frozen=True)
class PutOp:
    """``set``/``put RESOURCE @{k=v}``: update the given properties."""

    target: Target
    values: Mapping[str, str]
    idempotent = True  # a Put of the same values twice ends in the same state

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.put(self.target.locator(), dict(self.values))


@dataclass(frozen=True)
class CreateOp:
    """``create RESOURCE @{k=v}``: a new instance; returns its reference."""

    target: Target
    values: Mapping[str, str]
    idempotent = False

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.create(self.target.locator(), dict(self.values))


@dataclass(frozen=True)
class DeleteOp:
    """``delete RESOURCE``."""

    target: Target
    idempotent = False  # a second Delete faults (the instance is gone)

    async def __call__(self, session: AsyncSession) -> Any:
        await session.delete(self.target.locator())
        return {"deleted": True}


@dataclass(frozen=True)
class InvokeOp:
    """``invoke METHOD RESOURCE @{k=v}``: the method's output instance."""

    method: str
    target: Target
    values: Mapping[str, str] = field(default_factory=dict)
    idempotent = False

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.invoke(self.method, self.target.locator(), dict(self.values))


@dataclass(frozen=True)
class EnumerateOp:
    """``enumerate RESOURCE [--filter F --dialect D]``: every instance (or their count)."""

    target: Target
    filter: str | Mapping[str, str] | None = None
    dialect: str | None = None
    count_only: bool = False
    mode: str = "objects"
    polymorphism: str | None = None
    idempotent = True

    @property
    def streams(self) -> bool:
        """Whether the items are worth streaming (``--count`` returns one number)."""
        return not self.count_only

    def _enumerator(self, session: AsyncSession) -> Enumerator:
        return session.enumerate(
            self.target.locator(),
            filter=self.filter,
            dialect=self.dialect,
            mode=self.mode,  # type: ignore[arg-type]  # checked by the session
            polymorphism=self.polymorphism,
        )

    async def stream(self, session: AsyncSession) -> AsyncIterator[Item | EndpointReference]:
        """The instances, as the server sends them (two batches in memory at most)."""
        async with self._enumerator(session) as items:
            async for item in items:
                yield item

    async def __call__(self, session: AsyncSession) -> Any:
        if self.count_only:
            count = 0
            async for _ in self.stream(session):
                count += 1
            return {"count": count}
        # to_list() is bounded (a service that never ends cannot grow one
        # host's result without limit in a fan-out) and releases on failure.
        return await self._enumerator(session).to_list()


@dataclass(frozen=True)
class OutputLine:
    """One line of a remote command's output, as it arrived (``run --stream``)."""

    stream: str
    line: str


@dataclass(frozen=True)
class CommandExit:
    """The end of a streamed command: its exit code."""

    command: str
    exit_code: int | None


@dataclass(frozen=True)
class RunOp:
    """``run -- COMMAND [ARGS]`` / ``ps -- SCRIPT``: a remote command in a shell of its own.

    The first word of a command is sent as written (a whole command line
    works), the others quoted for Windows; a script is the words joined by
    spaces. The record is the :class:`~aiowsman.shell.CommandResult` (exit
    code, stdout, stderr); with ``stream_lines``, one record per output line
    as it arrives, then a :class:`CommandExit`.
    """

    argv: tuple[str, ...]
    powershell: bool = False
    codepage: int | None = 65001
    timeout: float | None = 3600.0
    stream_lines: bool = False
    idempotent = False  # a command may change the host: never run twice

    @property
    def streams(self) -> bool:
        return self.stream_lines

    def _commands(self) -> Any:
        from aiowsman.fanout import Commands
        from aiowsman.protocol.shell import command_line

        line = " ".join(self.argv) if self.powershell else command_line(self.argv[0], self.argv[1:])
        return Commands(
            (line,), powershell=self.powershell, timeout=self.timeout, codepage=self.codepage
        )

    async def __call__(self, session: AsyncSession) -> Any:
        return await self._commands()(session)

    async def stream(self, session: AsyncSession) -> AsyncIterator[OutputLine | CommandExit]:
        """The output lines as they arrive, then the exit code. PowerShell's
        stderr (CLIXML) comes at the end, decoded into readable lines."""
        import dataclasses

        queue: asyncio.Queue[OutputLine] = asyncio.Queue()

        def on_line(host: str, stream: str, line: str) -> None:
            if not (self.powershell and stream == "stderr"):
                queue.put_nowait(OutputLine(stream, line))

        operation = dataclasses.replace(self._commands(), on_line=on_line)
        task = asyncio.ensure_future(operation(session))
        try:
            while not (task.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait([getter, task], return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            result = task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.powershell:
            for line in result.stderr_text.splitlines():
                yield OutputLine("stderr", line)
        yield CommandExit(result.command, result.exit_code)


@dataclass(frozen=True)
class PSRPOp:
    """``ps --psrp -- SCRIPT``: a script over PowerShell remoting (``Invoke-Command``).

    The record is the script's :class:`~aiowsman.psrp.InvokeResult`: its
    output objects (as plain data), errors, warnings, verbose, debug and
    information messages. With ``stream_objects``, one record per output
    object as it arrives instead.
    """

    script: str
    configuration_name: str = PSRP_DEFAULT_CONFIGURATION
    timeout: float | None = 3600.0
    stream_objects: bool = False
    idempotent = False  # a script may change the host: never run twice

    @property
    def streams(self) -> bool:
        return self.stream_objects

    async def __call__(self, session: AsyncSession) -> Any:
        if self.stream_objects:
            return [value async for value in self.stream(session)]
        from aiowsman.fanout import InvokeCommand

        return await InvokeCommand(
            (self.script,), configuration_name=self.configuration_name, timeout=self.timeout
        )(session)

    async def stream(self, session: AsyncSession) -> AsyncIterator[Any]:
        """The script's output objects as they arrive (its pool closed at the end)."""
        async with session.runspace_pool(configuration_name=self.configuration_name) as pool:
            ps = pool.powershell().add_script(self.script)
            async for value in ps.stream(timeout=self.timeout):
                yield value
