"""PowerShell remoting (PSRP): runspace pools and pipelines, async, over WinRS.

What ``Invoke-Command`` and ``Enter-PSSession`` use: objects rather than
text, state that lives across commands, the streams kept apart, input
piped in, pipelines that can be stopped::

    async with session.runspace_pool(max_runspaces=4) as pool:
        ps = pool.powershell().add_command("Get-Process").add_parameter("Name", "svchost")
        async for proc in ps.stream():          # objects as they arrive
            print(proc.Name, proc.Id)
        await pool.powershell().add_script("$x = 5").invoke()
        await pool.powershell().add_script("$x * 2").invoke()    # [10]

The protocol objects are psrpcore's (runspace pool and pipeline state,
fragments, CLIXML, host calls); the WinRS glue is
:mod:`aiowsman.protocol.psrp`; the I/O is aiowsman's shell machinery: a
pool is a :class:`~aiowsman.shell.Shell` on
``http://schemas.microsoft.com/powershell/<configuration>``, each pipeline a
:class:`~aiowsman.shell.Process` of it (MS-PSRP 3.1.5.3), so the rules of
``docs/commands.md`` hold here too:

Opening
    Create with ``creationXml`` (SESSION_CAPABILITY and INIT_RUNSPACEPOOL),
    then Receives of the shell itself until the pool is ``Opened``, bounded
    by ``open_timeout``.
Pipelines
    A Command whose only argument is the pipeline's first fragment
    (3.1.5.3.3), its CommandId the pipeline id; the rest of CREATE_PIPELINE
    and the input go by Send on ``stdin`` before the first Receive; host
    responses by Send on ``pr`` (3.1.5.3.5). Fragments are sized to fit
    MaxEnvelopeSize. The Receive loop is the Process's: bounded by the
    pipeline's deadline, ``w:TimedOut`` answered with another Receive.
Stopping
    A pipeline is stopped with Signal ``powershell/signal/crtl_c``
    (3.1.5.3.9), its end awaited (bounded), then Terminate -- at its
    deadline (:class:`~aiowsman.errors.CommandTimeoutError`), when
    ``invoke()``/``stream()`` is cancelled or left early, and when the pool
    closes. A finished pipeline is terminated too (without it a pool stops
    at MaxConcurrentCommandsPerShell, pypsrp#148): alongside the pool's next
    Command, or not at all when the pool is closed first (the Delete ends
    it); the caller has its result as soon as the final state arrives.
Closing
    Leaving ``runspace_pool()`` deletes the shell (which closes the pool),
    on exit, error and cancellation, and so does closing the session.
Keys
    A SecureString travels encrypted with the session key, which "MUST" be
    exchanged before (MS-PSRP 2.2.5.1.24): psrpcore refuses to serialize one
    without it, so the exchange (PUBLIC_KEY 2.2.2.3, ENCRYPTED_SESSION_KEY
    2.2.2.4, on the pool's streams) is run the first time a pipeline carries
    one, and only then (PowerShell 7 has deprecated it: PowerShell-Docs#12272).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from psrpcore import (
    ClientPowerShell,
    ClientRunspacePool,
    Command,
    DebugRecordEvent,
    EncryptedSessionKeyEvent,
    ErrorRecordEvent,
    InformationRecordEvent,
    MissingCipherError,
    PipelineHostCallEvent,
    PipelineOutputEvent,
    PipelineStateEvent,
    ProgressRecordEvent,
    PSRPCoreError,
    PSRPEvent,
    PSRPPayload,
    RunspacePoolHostCallEvent,
    RunspacePoolStateEvent,
    StreamType,
    VerboseRecordEvent,
    WarningRecordEvent,
)
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    HostInfo,
    HostMethodIdentifier,
    NETException,
    PSInvocationState,
    PSSecureString,
    PSVersion,
    RemoteStreamOptions,
    RunspacePoolState,
)
from psrpcore.types import (
    ErrorRecord as CoreErrorRecord,
)

from aiowsman.errors import (
    CommandTimeoutError,
    ConfigurationError,
    OperationTimedOutFault,
    PipelineFailedError,
    ProtocolError,
    RunspacePoolStateError,
    ShellNotFoundFault,
    TimeoutError,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol import shell as shell_proto
from aiowsman.protocol.clixml import ErrorRecord, ProgressRecord
from aiowsman.protocol.locator import Option
from aiowsman.protocol.psrp import (
    DEFAULT_CONFIGURATION,
    FragmentBuffer,
    InformationRecord,
    OutputList,
    error_record,
    information_record,
    pool_shell_spec,
    progress_record,
    to_python,
)
from aiowsman.shell import (
    DEFAULT_COMMAND_TIMEOUT,
    RECEIVE_TIMEOUT,
    SHELL_DEFAULT,
    Process,
    Shell,
    Timeout,
)

if TYPE_CHECKING:
    from aiowsman.session import AsyncSession

__all__ = [
    "DEFAULT_CONFIGURATION",
    "NON_INTERACTIVE_MESSAGE",
    "HostInteractionRefused",
    "InvokeResult",
    "PSDataStreams",
    "PSHost",
    "PowerShell",
    "RunspacePool",
]

log = logging.getLogger("aiowsman.psrp")

#: Objects a :meth:`PowerShell.stream` holds unread before Receives pause.
DEFAULT_OBJECT_BUFFER: Final = 1000
#: What the default host answers a request to read or prompt: the words of
#: ``powershell.exe -NonInteractive``.
NON_INTERACTIVE_MESSAGE: Final = (
    "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."
)
_TERMINAL: Final = frozenset(
    {PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped}
)


# -- streams and results -------------------------------------------------------------------


@dataclass
class PSDataStreams:
    """The streams of a pipeline other than its output, kept apart
    (PowerShell's ``PSDataStreams``).

    Attributes:
        error: non-terminating errors (``Write-Error``, a command not found
            in a script), as :class:`~aiowsman.protocol.clixml.ErrorRecord`.
        warning, verbose, debug: the messages of those streams (verbose and
            debug only when the script's preferences let them through).
        information: ``Write-Information`` and ``Write-Host`` records.
        progress: ``Write-Progress`` records.
    """

    error: list[ErrorRecord] = field(default_factory=list)
    warning: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)
    information: list[InformationRecord] = field(default_factory=list)
    progress: list[ProgressRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The streams as plain data: each error's message, category and
        position; the other streams' messages (progress left out)."""
        return {
            "errors": [_error_dict(e) for e in self.error],
            "warnings": list(self.warning),
            "verbose": list(self.verbose),
            "debug": list(self.debug),
            "information": [i.message for i in self.information],
        }


def _error_dict(record: ErrorRecord) -> dict[str, Any]:
    return {
        "message": record.message,
        "category": record.category,
        "fully_qualified_error_id": record.fully_qualified_error_id,
        "line_number": record.line_number,
        "offset_in_line": record.offset_in_line,
    }


@dataclass
class InvokeResult:
    """What :meth:`aiowsman.AsyncSession.invoke_command` returns.

    Attributes:
        output: the objects the pipeline wrote (psrpcore values: ``obj.Name``,
            ``obj["Name"]``; strings and numbers are ``str``/``int``).
        streams: its other streams (:class:`PSDataStreams`).
        state: ``Completed`` (``Failed`` is raised as
            :class:`~aiowsman.errors.PipelineFailedError`).
    """

    output: list[Any]
    streams: PSDataStreams
    state: str = "Completed"

    @property
    def had_errors(self) -> bool:
        """Errors were written (PowerShell's ``HadErrors``)."""
        return bool(self.streams.error) or self.state == "Failed"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record: the output as plain data (:func:`aiowsman.protocol.psrp.to_python`),
        the streams, the state."""
        return {"output": to_python(self.output), **self.streams.to_dict(), "state": self.state}


# -- the host ------------------------------------------------------------------------------


class HostInteractionRefused(Exception):
    """Raised by a :class:`PSHost` method that will not answer; its message
    goes back to the script as the host call's error."""


class PSHost:
    """The host a runspace pool presents to the scripts it runs (MS-PSRP
    2.2.3.14 HostInfo, host calls 2.2.2.15/2.2.2.27).

    The default answers as ``powershell.exe -NonInteractive`` would: what a
    script writes to the host (``$Host.UI.WriteLine``, the prompt of
    ``Read-Host -Prompt``) is kept in :attr:`lines`; anything that waits for
    a person (``Read-Host``, ``Get-Credential``, a confirmation prompt) is
    refused at once with :data:`NON_INTERACTIVE_MESSAGE`, so the script gets
    an error instead of hanging until its deadline. Subclass it and override
    :meth:`read_line`, :meth:`prompt`, :meth:`prompt_for_credential` or
    :meth:`prompt_for_choice` to answer.

    The host offers a UI but no raw UI (window, cursor, buffer): scripts see
    ``$Host.UI``, not ``$Host.UI.RawUI``.

    Attributes:
        name, version, culture, instance_id: what ``$Host`` reports.
        lines: the text written to the host, line by line.
    """

    name = "aiowsman"
    version = "1.0"
    culture = "en-US"

    def __init__(self) -> None:
        self.instance_id = uuid.uuid4()
        self.lines: list[str] = []
        self._partial = ""

    # -- output ------------------------------------------------------------------
    def write(self, text: str) -> None:
        """``Write``: text without a line end."""
        self._partial += text

    def write_line(self, text: str = "") -> None:
        """``WriteLine``."""
        self.lines.append(self._partial + text)
        self._partial = ""

    def write_error_line(self, text: str) -> None:
        self.write_line(text)

    def write_warning_line(self, text: str) -> None:
        self.write_line(f"WARNING: {text}")

    def write_verbose_line(self, text: str) -> None:
        self.write_line(f"VERBOSE: {text}")

    def write_debug_line(self, text: str) -> None:
        self.write_line(f"DEBUG: {text}")

    # -- input (refused by default) ---------------------------------------------------
    def read_line(self) -> str:
        """``Read-Host``: the line typed. Raises :class:`HostInteractionRefused` by default."""
        raise HostInteractionRefused(NON_INTERACTIVE_MESSAGE)

    def read_line_as_secure_string(self) -> str:
        """``Read-Host -AsSecureString``: the secret typed."""
        raise HostInteractionRefused(NON_INTERACTIVE_MESSAGE)

    def prompt(self, caption: str, message: str, fields: list[str]) -> dict[str, Any]:
        """``$Host.UI.Prompt``: a value for each field name."""
        raise HostInteractionRefused(NON_INTERACTIVE_MESSAGE)

    def prompt_for_credential(
        self, caption: str, message: str, user_name: str, target_name: str
    ) -> tuple[str, str]:
        """``Get-Credential``: ``(user name, password)``."""
        raise HostInteractionRefused(NON_INTERACTIVE_MESSAGE)

    def prompt_for_choice(
        self, caption: str, message: str, choices: list[str], default: int
    ) -> int:
        """A confirmation (``-Confirm``, ``$Host.UI.PromptForChoice``): the chosen index."""
        raise HostInteractionRefused(NON_INTERACTIVE_MESSAGE)

    def set_should_exit(self, code: int) -> None:
        """``exit`` in a nested prompt: nothing to do here."""

    # -- dispatch -----------------------------------------------------------------------
    def call(self, method: str, parameters: list[Any]) -> Any:
        """Run host method ``method`` (a HostMethodIdentifier name) with its
        parameters; returns what goes back to the script.

        Raises:
            HostInteractionRefused: the host will not (or cannot) answer.
        """
        p = [*parameters, None, None, None, None]
        text = _str
        if method == "GetName":
            return self.name
        if method == "GetVersion":
            return PSVersion(self.version)
        if method == "GetInstanceId":
            return self.instance_id
        if method in ("GetCurrentCulture", "GetCurrentUICulture"):
            return self.culture
        if method == "Write1":
            return self.write(text(p[0]))
        if method == "Write2":
            return self.write(text(p[2]))
        if method == "WriteLine1":
            return self.write_line()
        if method == "WriteLine2":
            return self.write_line(text(p[0]))
        if method == "WriteLine3":
            return self.write_line(text(p[2]))
        if method == "WriteErrorLine":
            return self.write_error_line(text(p[0]))
        if method == "WriteWarningLine":
            return self.write_warning_line(text(p[0]))
        if method == "WriteVerboseLine":
            return self.write_verbose_line(text(p[0]))
        if method == "WriteDebugLine":
            return self.write_debug_line(text(p[0]))
        if method in ("WriteProgress", "NotifyBeginApplication", "NotifyEndApplication"):
            return None
        if method == "SetShouldExit":
            return self.set_should_exit(int(p[0] or 0))
        if method == "ReadLine":
            return self.read_line()
        if method == "ReadLineAsSecureString":
            return PSSecureString(self.read_line_as_secure_string())
        if method == "Prompt":
            names = [text(getattr(d, "Name", d)) for d in (p[2] or [])]
            return self.prompt(text(p[0]), text(p[1]), names)
        if method in ("PromptForCredential1", "PromptForCredential2"):
            from psrpcore.types import PSCredential

            user, password = self.prompt_for_credential(
                text(p[0]), text(p[1]), text(p[2]), text(p[3])
            )
            return PSCredential(UserName=user, Password=PSSecureString(password))
        if method == "PromptForChoice":
            labels = [text(getattr(c, "Label", c)) for c in (p[2] or [])]
            return self.prompt_for_choice(text(p[0]), text(p[1]), labels, int(p[3] or 0))
        raise HostInteractionRefused(f"the host does not implement {method}")


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _host_error(message: str) -> CoreErrorRecord:
    """The ErrorRecord a refused host call returns to the script."""
    exception = NETException(Message=message)
    exception.PSObject.type_names = [
        "System.Management.Automation.Host.HostException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
        "System.Exception",
        "System.Object",
    ]
    return CoreErrorRecord(
        Exception=exception,
        CategoryInfo=ErrorCategoryInfo(
            Category=ErrorCategory.InvalidOperation, Reason="HostException"
        ),
        FullyQualifiedErrorId="HostFunctionNotImplemented",
    )


# -- the runspace pool ----------------------------------------------------------------------


class RunspacePool:
    """A PowerShell runspace pool on one host (``session.runspace_pool(...)``):
    an async context manager.

    Entering opens it (Create, then Receives until ``Opened``); leaving
    closes it by deleting its shell -- on exit, error and cancellation.
    Pipelines run one after another or at once (up to ``max_runspaces``
    at once on the server; more wait there for a free runspace).

    Args:
        session: the session it lives on.
        configuration_name: the endpoint configuration
            (``Microsoft.PowerShell``; a JEA endpoint's name, or its URI).
        min_runspaces: the fewest runspaces the pool keeps on the server.
        max_runspaces: the most pipelines it runs at once on the server.
        host: the host scripts see (default: a non-interactive
            :class:`PSHost`).
        application_arguments: ``$PSSenderInfo.ApplicationArguments`` on the server.
        idle_timeout: ``rsp:IdleTimeOut`` of its shell, seconds.
        command_timeout: default deadline of each pipeline (None: none).
        receive_timeout: ``w:OperationTimeout`` of each Receive.
        keepalive: while no pipeline runs, a Receive this often (seconds)
            keeps the pool from being reaped as idle; None: never.
        open_timeout: how long opening may take (default: the session's timeout).
        buffer: objects a :meth:`PowerShell.stream` holds unread before
            Receives pause.

    Raises:
        aiowsman.errors.ConfigurationError: a bad size or timeout.
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        configuration_name: str = DEFAULT_CONFIGURATION,
        min_runspaces: int = 1,
        max_runspaces: int = 1,
        host: PSHost | None = None,
        application_arguments: Mapping[str, Any] | None = None,
        idle_timeout: float | None = None,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        receive_timeout: float = RECEIVE_TIMEOUT,
        keepalive: float | None = None,
        open_timeout: float | None = None,
        buffer: int = DEFAULT_OBJECT_BUFFER,
    ) -> None:
        if not (1 <= min_runspaces <= max_runspaces):
            raise ConfigurationError(
                "need 1 <= min_runspaces <= max_runspaces, "
                f"not {min_runspaces!r} and {max_runspaces!r}",
                host=session.host,
            )
        if open_timeout is not None and not open_timeout > 0:
            raise ConfigurationError(
                f"open_timeout must be positive, not {open_timeout!r}", host=session.host
            )
        if buffer < 1:
            raise ConfigurationError("buffer must be at least 1", host=session.host)
        self.session = session
        self.configuration_name = configuration_name
        self.host = host if host is not None else PSHost()
        self.idle_timeout = idle_timeout
        self.open_timeout = open_timeout
        self.buffer = buffer
        self._shell_options: dict[str, Any] = {
            "command_timeout": command_timeout,
            "receive_timeout": receive_timeout,
            "keepalive": keepalive,
        }
        self._core = ClientRunspacePool(
            application_arguments=dict(application_arguments or {}),
            host=HostInfo(
                IsHostNull=False, IsHostUINull=False, IsHostRawUINull=True, UseRunspaceHost=False
            ),
            min_runspaces=min_runspaces,
            max_runspaces=max_runspaces,
        )
        #: The pool's id (its shell's ShellId).
        self.pool_id: uuid.UUID = self._core.runspace_pool_id
        #: The WinRS shell the pool lives in (None until opened).
        self.shell: Shell | None = None
        #: The error the server gave when the pool broke or refused to open.
        self.reason: ErrorRecord | None = None
        self._runs: dict[uuid.UUID, _Run] = {}
        self._fragments = FragmentBuffer()
        self._outbox: collections.deque[PSRPPayload] = collections.deque()
        self._commanded: set[uuid.UUID] = set()
        self._send_lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()
        self._key_ready: asyncio.Event | None = None
        self._room = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<RunspacePool {self.pool_id} {self.state} on {self.session.host}>"

    @property
    def state(self) -> str:
        """``BeforeOpen``, ``Opening``, ``Opened``, ``Broken``, ``Closed``..."""
        shell_gone = self.shell is not None and not self.shell.opened
        if (self._closed or shell_gone) and self._core.state is not RunspacePoolState.Broken:
            return "Closed"
        return self._core.state.name

    @property
    def opened(self) -> bool:
        """Open, and its shell too (closing the session closes it)."""
        return self.state == "Opened"

    @property
    def application_private_data(self) -> dict[str, Any]:
        """What the server told about itself (``PSVersionTable``...)."""
        return dict(self._core.application_private_data)

    @property
    def min_runspaces(self) -> int:
        return self._core.min_runspaces

    @property
    def max_runspaces(self) -> int:
        return self._core.max_runspaces

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> RunspacePool:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> RunspacePool:
        """Create the pool's shell and wait until the pool is ``Opened`` (once).

        Raises:
            aiowsman.errors.RunspacePoolStateError: the server refused or broke the pool.
            aiowsman.errors.ShellQuotaExceededFault: MaxShellsPerUser reached.
            aiowsman.errors.TimeoutError: not opened within ``open_timeout``.
            aiowsman.errors.WSManError: any other failure.
        """
        async with self._open_lock:
            if self._closed:
                raise ConfigurationError("the runspace pool is closed", host=self.session.host)
            if self.shell is None:
                await self._open()
        return self

    async def _open(self) -> None:
        opts = self.session.options
        empty = pool_shell_spec(self.pool_id, b"", configuration=self.configuration_name)
        # The first fragments must fit the Create (creationXml, MS-PSRP 3.1.5.3.1).
        creation_room = shell_proto.base64_room(opts, shell_proto.create_shell_request(opts, empty))
        self._core.open()
        first = self._core.data_to_send(creation_room)
        assert first is not None  # open() queued two messages
        spec = pool_shell_spec(
            self.pool_id,
            first.data,
            configuration=self.configuration_name,
            idle_timeout=self.idle_timeout,
        )
        shell = Shell(
            self.session,
            spec,
            recreate=False,
            stop_signal=ns.SIGNAL_PS_CTRL_C,
            on_shell_output=self._on_shell_output,
            lazy_terminate=True,
            **self._shell_options,
        )
        self.shell = shell
        locator = shell_proto.shell_locator(spec.resource_uri, spec.shell_id or "")
        # One size for every payload: it fits a Command's argument and a Send.
        self._room = min(
            shell_proto.command_chunk_size(
                opts,
                locator,
                command_id=str(uuid.UUID(int=0)),
                options=[Option(shell_proto.OPTION_SKIP_CMD_SHELL, "FALSE")],
            ),
            shell.send_room(stream="stdin", command=True),
        )
        try:
            await shell.open()
            await self._flush()  # what did not fit the Create (MS-PSRP 3.1.5.3.1)
            await self._wait_opened()
        except BaseException:
            self._closed = True
            await shell.aclose()
            raise

    async def _wait_opened(self) -> None:
        assert self.shell is not None
        loop = asyncio.get_running_loop()
        bound = self.open_timeout if self.open_timeout is not None else self.session.timeout
        deadline = loop.time() + bound
        while True:
            self._check_pool_state("open the runspace pool")
            if self._core.state is RunspacePoolState.Opened:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"the runspace pool did not open within {bound:g}s",
                    host=self.session.host,
                    operation="Receive",
                )
            try:
                await self.shell.receive_shell(
                    min(self.shell.receive_timeout, max(0.5, round(remaining, 1)))
                )
            except OperationTimedOutFault:
                continue
            await self._flush()

    def _check_pool_state(self, what: str) -> None:
        state = self._core.state
        if state in (RunspacePoolState.Broken, RunspacePoolState.Closed):
            why = f": {self.reason.message}" if self.reason is not None else ""
            raise RunspacePoolStateError(
                f"cannot {what}: the runspace pool is {state.name}{why}",
                state=state.name,
                record=self.reason,
                host=self.session.host,
            )

    async def aclose(self) -> None:
        """Close the pool: stop its running pipelines and delete its shell
        (bounded, best effort, finished even when cancelled)."""
        self._closed = True
        if self.shell is not None:
            await self.shell.aclose()

    # -- pipelines ------------------------------------------------------------------

    def powershell(self) -> PowerShell:
        """A new pipeline of this pool, to build with ``add_command``/``add_script``."""
        return PowerShell(self)

    # -- the PSRP data path -----------------------------------------------------------

    def _on_shell_output(self, result: shell_proto.ReceiveResult) -> None:
        """Output of the pool itself (a shell-level Receive)."""
        for chunk in result.streams:
            if chunk.name == "stdout" and chunk.data:
                self._feed(self._fragments.feed(chunk.data))

    def _feed(self, data: bytes) -> None:
        """Hand whole fragments to psrpcore and dispatch the events they make."""
        if not data:
            return
        core = self._core
        core.receive_data(PSRPPayload(data, StreamType.default, None))
        while True:
            try:
                event = core.next_event()
            except KeyError as exc:
                # A message for a pipeline already forgotten (psrpcore has
                # taken it off its queue): nobody waits for it.
                log.debug("[%s] PSRP message for a closed pipeline: %s", self.session.host, exc)
                continue
            except PSRPCoreError as exc:
                raise ProtocolError(f"unreadable PowerShell remoting data: {exc}") from None
            if event is None:
                return
            run = self._runs.get(event.pipeline_id) if event.pipeline_id else None
            if run is not None:
                run.on_event(event)
            else:
                self._on_pool_event(event)

    def _on_pool_event(self, event: PSRPEvent[Any, Any]) -> None:
        if isinstance(event, RunspacePoolStateEvent):
            if event.reason is not None:
                self.reason = error_record(event.reason)
            if event.state in (RunspacePoolState.Broken, RunspacePoolState.Closed):
                for run in list(self._runs.values()):
                    run.wake()
        elif isinstance(event, RunspacePoolHostCallEvent):
            self._answer_host_call(event, None)
        elif isinstance(event, EncryptedSessionKeyEvent) and self._key_ready is not None:
            self._key_ready.set()

    def _answer_host_call(
        self,
        event: RunspacePoolHostCallEvent | PipelineHostCallEvent,
        pipeline: ClientPowerShell | None,
    ) -> None:
        method = HostMethodIdentifier(event.method_identifier).name
        try:
            value = self.host.call(method, list(event.method_parameters or []))
            error = None
        except HostInteractionRefused as exc:
            value, error = None, _host_error(str(exc))
        except Exception as exc:  # the user's host failed: the script gets the error
            value, error = None, _host_error(f"the host failed: {exc}")
        if event.ci == -100:
            return  # a void method: nothing goes back
        target = pipeline if pipeline is not None else self._core
        if pipeline is not None and pipeline.state is not PSInvocationState.Running:
            return
        target.host_response(event.ci, return_value=value, error_record=error)

    def _collect(self) -> None:
        """Move whatever psrpcore has to send into the outbox, in fitting pieces."""
        core = self._core
        while (payload := core.data_to_send(self._room)) is not None:
            self._outbox.append(payload)

    async def _flush(self) -> None:
        """Send the outbox in order; a pipeline's payloads wait until its
        Command has gone (its CommandId must exist on the server)."""
        self._collect()
        if not self._outbox:
            return
        assert self.shell is not None
        async with self._send_lock:
            while True:
                self._collect()
                item = next(
                    (
                        p
                        for p in self._outbox
                        if p.pipeline_id is None or p.pipeline_id in self._commanded
                    ),
                    None,
                )
                if item is None:
                    return
                self._outbox.remove(item)
                # MS-PSRP 3.1.5.3.5: host responses on "pr", the rest on "stdin".
                stream = "pr" if item.stream_type is StreamType.prompt_response else "stdin"
                command_id = str(item.pipeline_id).upper() if item.pipeline_id else None
                await self.shell._send(command_id, item.data, end=False, stream=stream)

    async def _ensure_session_key(self) -> None:
        """The session key SecureStrings are encrypted with (MS-PSRP
        2.2.5.1.24; PUBLIC_KEY 2.2.2.3 sent on the pool's stdin, its
        ENCRYPTED_SESSION_KEY 3.2.5.4.4 read from the pool's own output),
        exchanged once, on first need, bounded by the session's timeout."""
        assert self.shell is not None
        if self._key_ready is None:
            self._key_ready = asyncio.Event()
            self._core.exchange_key()
            await self._flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.session.timeout
        while not self._key_ready.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    "no session key from the server (ENCRYPTED_SESSION_KEY)",
                    host=self.session.host,
                    operation="Receive",
                )
            try:
                await self.shell.receive_shell(min(self.shell.receive_timeout, max(0.5, remaining)))
            except OperationTimedOutFault:
                continue
            await self._flush()

    async def _start(
        self,
        ps: PowerShell,
        input: Iterable[Any] | None,
        timeout: Timeout,  # noqa: ASYNC109 - the pipeline's deadline
    ) -> _Run:
        """Start a pipeline: Command with its first fragment, the rest and the
        input by Send before the first Receive."""
        if not self.opened:
            await self.open()
        self._check_pool_state("start a pipeline")
        assert self.shell is not None
        # Invoke-Command's and pypsrp's stream options: records carry where
        # they happened (InvocationInfo), so errors have a script position.
        core = ClientPowerShell(
            self._core,
            no_input=input is None,
            remote_stream_options=RemoteStreamOptions.AddInvocationInfo,
        )
        for command in ps._commands:
            core.add_command(command)
        run = _Run(self, ps, core)
        for attempt in range(2):
            try:
                core.start()
                if input is not None:
                    for value in input:
                        core.send(value)
                    core.send_eof()
                break
            except MissingCipherError:
                # A SecureString: it needs the session key, exchanged once.
                self._forget_payloads(core.pipeline_id)
                core.state = PSInvocationState.NotStarted
                if attempt:
                    raise
                await self._ensure_session_key()
        self._collect()
        first = next(p for p in self._outbox if p.pipeline_id == core.pipeline_id)
        self._outbox.remove(first)
        self._runs[core.pipeline_id] = run
        command_id = str(core.pipeline_id).upper()

        async def prelude(process: Process) -> None:
            self._commanded.add(core.pipeline_id)
            await self._flush()

        try:
            process = await self.shell.start_command(
                f"PowerShell pipeline {command_id}",
                "",
                [base64.b64encode(first.data).decode("ascii")],
                command_id=command_id,
                skip_cmd_shell=False,
                timeout=timeout,
                prelude=prelude,
                on_output=run.on_output,
            )
        except BaseException:
            self._forget(core.pipeline_id)
            raise
        ps._started = True
        run.attach(process)
        return run

    def _forget_payloads(self, pipeline_id: uuid.UUID) -> None:
        self._collect()
        for item in [p for p in self._outbox if p.pipeline_id == pipeline_id]:
            self._outbox.remove(item)

    def _forget(self, pipeline_id: uuid.UUID) -> None:
        """A pipeline is over on the client: drop what is left of it."""
        self._runs.pop(pipeline_id, None)
        self._commanded.discard(pipeline_id)
        self._forget_payloads(pipeline_id)
        self._core.pipeline_table.pop(pipeline_id, None)


# -- one invocation ---------------------------------------------------------------------------


class _Run:
    """One invocation of a :class:`PowerShell`: its events, output and Process."""

    def __init__(self, pool: RunspacePool, ps: PowerShell, core: ClientPowerShell) -> None:
        self.pool = pool
        self.ps = ps
        self.core = core
        self.out: collections.deque[Any] = collections.deque()
        self.changed = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.fragments = FragmentBuffer()
        self.process: Process | None = None
        self.terminal = False
        self.reason: CoreErrorRecord | None = None
        self.stop_requested = False
        #: Set when a stop asked for by the client (close()) is over.
        self.stopped = asyncio.Event()
        self.pump_done = False

    def attach(self, process: Process) -> None:
        self.process = process
        process.add_done_callback(self._pump_ended)

    def _pump_ended(self, process: Process) -> None:
        self.pump_done = True
        if process.finished:  # terminated: nothing more comes for it
            self.pool._forget(self.core.pipeline_id)
        self.wake()

    def wake(self) -> None:
        self.changed.set()
        self.room.set()

    def on_event(self, event: PSRPEvent[Any, Any]) -> None:
        streams = self.ps.streams
        if isinstance(event, PipelineOutputEvent):
            self.out.append(event.data)
            self.changed.set()
        elif isinstance(event, ErrorRecordEvent):
            streams.error.append(error_record(event.record))
        elif isinstance(event, WarningRecordEvent):
            streams.warning.append(_str(event.record.Message))
        elif isinstance(event, VerboseRecordEvent):
            streams.verbose.append(_str(event.record.Message))
        elif isinstance(event, DebugRecordEvent):
            streams.debug.append(_str(event.record.Message))
        elif isinstance(event, InformationRecordEvent):
            streams.information.append(information_record(event.record))
        elif isinstance(event, ProgressRecordEvent):
            streams.progress.append(progress_record(event.record))
        elif isinstance(event, PipelineStateEvent):
            self.ps.state = event.state.name
            if event.state in _TERMINAL:
                self.terminal = True
                self.reason = event.reason
                self.changed.set()
        elif isinstance(event, PipelineHostCallEvent):
            self.pool._answer_host_call(event, self.core)

    async def on_output(self, stream: str, data: bytes) -> None:
        """A block of the pipeline's output (called by its Process, awaited,
        before the next Receive -- so a host call's answer goes first)."""
        if stream != "stdout":
            return
        self.pool._feed(self.fragments.feed(data))
        await self.pool._flush()
        process = self.process
        while len(self.out) >= self.pool.buffer and not (process is None or process.stopping):
            self.room.clear()
            await self.room.wait()

    async def finish(self) -> None:
        """After the output: raise what ended the pipeline badly, if anything."""
        process = self.process
        assert process is not None
        if self.stop_requested:
            # Stopped from another task (PowerShell.stop()): its end is awaited there.
            await self.stopped.wait()
            if not self.terminal:
                raise PipelineFailedError(
                    "the pipeline was stopped",
                    state="Stopped",
                    streams=self.ps.streams,
                    host=self.pool.session.host,
                    operation="Signal",
                )
        stopped = self.core.state is PSInvocationState.Stopped
        if not self.terminal or stopped:
            # The Receive loop's own end tells why: a deadline, a fault.
            await process.wait()
        if not self.terminal:
            self.pool._check_pool_state("finish the pipeline")
            raise ProtocolError(
                "the pipeline's command ended without a final pipeline state",
                host=self.pool.session.host,
                operation="Receive",
            )
        state = self.core.state
        if state is PSInvocationState.Completed:
            return
        record = error_record(self.reason) if self.reason is not None else None
        message = record.message if record is not None else f"the pipeline ended {state.name}"
        raise PipelineFailedError(
            message,
            record=record,
            state=state.name,
            streams=self.ps.streams,
            host=self.pool.session.host,
            operation="Receive",
        )

    async def close(self) -> None:
        """Leaving early (an exception, a cancellation, ``break``): stop the
        pipeline on the server, bounded and shielded (see :func:`aiowsman.shell.cleanup`)."""
        process = self.process
        if process is None or process.finished:
            return
        if self.terminal and self.core.state is not PSInvocationState.Running:
            return  # over on the server: the Terminate is on its way
        self.stop_requested = True
        try:
            await process.aclose()
        finally:
            self.pool._forget(self.core.pipeline_id)
            self.stopped.set()


# -- the pipeline builder ------------------------------------------------------------------------


class PowerShell:
    """A pipeline of a :class:`RunspacePool` (``pool.powershell()``), built
    as with PowerShell's ``[PowerShell]`` class, then run with
    :meth:`invoke` (all output at once) or :meth:`stream` (as it arrives).

    Each run starts a new pipeline on the server with the commands added so
    far; :attr:`streams`, :attr:`output` and :attr:`state` describe the last
    run.

    Attributes:
        streams: the error, warning, verbose, debug, information and
            progress streams of the last run (:class:`PSDataStreams`).
        output: the objects :meth:`invoke` returned last.
        state: ``NotStarted``, ``Running``, ``Completed``, ``Failed``, ``Stopped``.
    """

    def __init__(self, pool: RunspacePool) -> None:
        self.pool = pool
        self._commands: list[Command] = []
        self.streams = PSDataStreams()
        self.output: list[Any] = OutputList()
        self.state = "NotStarted"
        self._run: _Run | None = None
        #: The last run's Command was accepted (it may have run, at least in part).
        self._started = False

    def __repr__(self) -> str:
        text = " | ".join(str(c.command_text) for c in self._commands)
        return f"<PowerShell {text!r} {self.state}>"

    # -- building ----------------------------------------------------------------

    def add_command(self, name: str, *, use_local_scope: bool | None = None) -> PowerShell:
        """Add a command (a cmdlet, function or program), piped after the last one."""
        self._commands.append(Command(name, is_script=False, use_local_scope=use_local_scope))
        return self

    def add_script(self, script: str, *, use_local_scope: bool | None = None) -> PowerShell:
        """Add a script (a script block's text), piped after the last command."""
        self._commands.append(Command(script, is_script=True, use_local_scope=use_local_scope))
        return self

    def add_parameter(self, name: str, value: Any = True) -> PowerShell:
        """Add ``-name value`` to the last command (``True`` for a switch)."""
        self._last("a parameter").add_parameter(name, value)
        return self

    def add_parameters(self, **parameters: Any) -> PowerShell:
        """Add several parameters to the last command."""
        for name, value in parameters.items():
            self.add_parameter(name, value)
        return self

    def add_argument(self, value: Any) -> PowerShell:
        """Add a positional argument to the last command (``$args`` of a script)."""
        self._last("an argument").add_parameter(None, value)
        return self

    def add_statement(self) -> PowerShell:
        """End the statement: what comes next is not piped from it (``;``)."""
        if self._commands:
            self._commands[-1].end_of_statement = True
        return self

    def _last(self, what: str) -> Command:
        if not self._commands:
            raise ConfigurationError(
                f"add a command or script before {what}", host=self.pool.session.host
            )
        return self._commands[-1]

    # -- running ---------------------------------------------------------------------

    async def invoke(
        self,
        input: Iterable[Any] | None = None,
        *,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the pipeline's deadline
    ) -> list[Any]:
        """Run the pipeline to its end; returns its output objects.

        Args:
            input: objects piped into the first command (``$input``), sent
                before any output is read; None: no input.
            timeout: the pipeline's deadline in seconds (default: the pool's
                ``command_timeout``; None: none). At the deadline the
                pipeline is stopped on the server.

        Returns:
            The output objects (also in :attr:`output`); the other streams
            are in :attr:`streams`.

        Raises:
            aiowsman.errors.PipelineFailedError: a terminating error (its
                ``record`` says what and where; ``output`` holds what came before).
            aiowsman.errors.CommandTimeoutError: the deadline passed (the
                pipeline was stopped; ``output`` holds what came before).
            aiowsman.errors.WSManError: the service failed (a quota, say).
        """
        out = OutputList()
        try:
            async for value in self.stream(input, timeout=timeout):
                out.append(value)
        except (PipelineFailedError, CommandTimeoutError) as exc:
            exc.output = out
            self.output = out
            raise
        self.output = out
        return out

    async def stream(
        self,
        input: Iterable[Any] | None = None,
        *,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the pipeline's deadline
    ) -> AsyncIterator[Any]:
        """Run the pipeline; yield its output objects as they arrive.

        At most the pool's ``buffer`` objects wait unread (then Receives
        pause). Leaving the loop early (``break``, an exception, a
        cancellation) stops the pipeline on the server.

        Args and raises: as :meth:`invoke`.
        """
        if self._run is not None:
            raise ConfigurationError(
                "this pipeline is running; make another with pool.powershell()",
                host=self.pool.session.host,
            )
        if not self._commands:
            raise ConfigurationError("the pipeline has no command", host=self.pool.session.host)
        self.streams = PSDataStreams()
        self.state = "Running"
        self._started = False
        run = self._run = await self.pool._start(self, input, timeout)
        try:
            while True:
                if run.out:
                    value = run.out.popleft()
                    if len(run.out) < self.pool.buffer:
                        run.room.set()
                    yield value
                    continue
                if run.terminal or run.pump_done:
                    break
                run.changed.clear()
                await run.changed.wait()
            await run.finish()
        finally:
            self._run = None
            await run.close()
            self.state = run.core.state.name

    async def stop(self) -> None:
        """Stop the running pipeline (from another task): Signal
        ``powershell/signal/crtl_c``, its end awaited, bounded."""
        run = self._run
        if run is not None:
            await run.close()


# -- invoke_command: the session's own pools ----------------------------------------------------


async def invoke_command(
    session: AsyncSession,
    pools: dict[str, RunspacePool],
    lock: asyncio.Lock,
    script: str,
    *,
    arguments: Iterable[Any] = (),
    parameters: Mapping[str, Any] | None = None,
    input: Iterable[Any] | None = None,
    configuration_name: str = DEFAULT_CONFIGURATION,
    timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the pipeline's deadline
) -> InvokeResult:
    """:meth:`aiowsman.AsyncSession.invoke_command`'s work: run ``script``
    in the session's pool for ``configuration_name`` (opened on first use,
    opened again when the server dropped it before the pipeline started)."""
    args = list(arguments)
    for attempt in range(2):
        async with lock:
            pool = pools.get(configuration_name)
            if pool is None or not pool.opened:
                pool = RunspacePool(session, configuration_name=configuration_name)
                pools[configuration_name] = pool
                try:
                    await pool.open()
                except BaseException:
                    pools.pop(configuration_name, None)
                    raise
        ps = pool.powershell().add_script(script)
        for value in args:
            ps.add_argument(value)
        for name, value in (parameters or {}).items():
            ps.add_parameter(name, value)
        try:
            output = await ps.invoke(input, timeout=timeout)
        except ShellNotFoundFault:
            # The pool's shell is gone (reaped when idle, MaxShellRunTime). If
            # the Command was refused, the script did not run: once more in a
            # new pool. A pipeline lost while it ran is not run again.
            pools.pop(configuration_name, None)
            await pool.aclose()
            if attempt or ps._started:
                raise
            continue
        return InvokeResult(output, ps.streams, ps.state)
    raise AssertionError("unreachable")
