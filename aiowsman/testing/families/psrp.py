"""PowerShell remoting (MS-PSRP) on the simulated hosts: the shell family's PowerShell plug-in.

A shell on ``http://schemas.microsoft.com/powershell/<configuration>`` is a
runspace pool. The PSRP side runs on psrpcore's server objects
(``ServerRunspacePool``, ``ServerPipeline``: fragments, serialization, state
messages); the pipelines run the test server's PowerShell
(:mod:`aiowsman.testing._powershell`, the language powershell.exe over
WinRS runs too) and write objects instead of text. Nothing of the client
(:mod:`aiowsman.psrp`) is used. The WinRS messages are the shell family's
(:mod:`aiowsman.testing.families.shell`); this plug-in gives them these
rules (MS-PSRP 3.2.5.3):

Create
    ``creationXml`` (in the PowerShell namespace) holds the pool's first
    fragments (SESSION_CAPABILITY, INIT_RUNSPACEPOOL); the pool's answer
    (SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE
    Opened) waits on the shell's own ``stdout``, read by a Receive without
    CommandId. Without ``creationXml``: SchemaValidation fault. The
    configurations served are :attr:`PowerShellPlugin.configurations`
    (``Microsoft.PowerShell`` and any a test adds); another URI is
    DestinationUnreachable. Quota: the plug-in's MaxShellsPerUser
    (:attr:`PowerShellPlugin.max_shells_per_user`, 25 as Windows' plug-in)
    besides WinRS's; the family's ``max_commands_per_shell`` counts
    pipelines not yet terminated.
Command
    The only argument is the pipeline's first fragment; the pipeline id is
    read from it (Windows' client also sends it as the CommandId). The
    rest of CREATE_PIPELINE comes by Send. The pipeline runs once it is
    whole, in the first free runspace of the pool (``max_runspaces`` of
    them: more pipelines wait for one), with that runspace's variables
    (``$x = 5`` stays for the next pipeline of the runspace).
Send
    ``stdin`` carries a pipeline's input (PIPELINE_INPUT,
    END_OF_PIPELINE_INPUT) or, without CommandId, the pool's messages:
    PUBLIC_KEY (answered with ENCRYPTED_SESSION_KEY, so SecureStrings can
    travel), SET_MAX_RUNSPACES / SET_MIN_RUNSPACES /
    GET_AVAILABLE_RUNSPACES / RESET_RUNSPACE_STATE (answered); ``pr``
    carries host responses.
Receive
    A pipeline's output is fragments of at most 32 KiB (Windows' size), one
    per ``rsp:Stream``; after its final PIPELINE_STATE is read, CommandState
    Done with ExitCode 0.
Signal
    ``powershell/signal/crtl_c`` (Windows' spelling; MS-WSMV 2.2.5.6's
    ``ctrl_c`` and the relative form are taken too) stops the pipeline:
    PIPELINE_STATE Stopped with the PipelineStoppedException record. A
    terminate forgets it (and stops it if it runs).
Delete
    Closes the pool; its pipelines stop.

What pipelines do (commands are added with ``add_command`` or come in a
script; the language and cmdlets are :mod:`aiowsman.testing._powershell`'s):

* output is objects: ``Write-Output``, values, ``$x * 2``; ``Get-Date`` a
  DateTime; ``Get-Service`` ServiceController objects (``Status`` an enum
  that reads ``Running``); ``Get-Process [-Name n] [-Id n]`` Process
  objects (Name, Id, Handles, CPU, WorkingSet64, Path); ``Select-Object
  [-First n] [-Property a,b]``; ``aiowsman-objects N``, a test-only command
  writing N PSCustomObjects (Index, Name, Value, Enabled, When, Tags);
  native programs (``hostname``...) a string per line;
* ``Write-Error`` writes an ErrorRecord (with the line and column of the
  statement); ``Write-Warning``, ``Write-Verbose``, ``Write-Debug``,
  ``Write-Information``, ``Write-Progress`` their records (as their
  preferences allow); ``Write-Host`` an information record tagged PSHOST;
* ``Start-Sleep`` waits (a stop interrupts it);
* a pipeline's input is ``$input`` in a script, and ``Write-Output``
  without arguments echoes it; a script's positional arguments are
  ``$args``, a named one its own variable (as a ``param()`` block binds it);
* ``Read-Host`` asks the client's host (ReadLine, or Prompt with
  ``-Prompt``) when the pool declared a host with a UI, and waits for the
  answer; without one it fails with the HostException message;
* a name that is no command: in a script, a CommandNotFoundException error
  record and the script goes on; as ``add_command``, the pipeline fails;
  ``throw`` and errors with ``-ErrorAction Stop`` fail it too (PIPELINE_STATE
  Failed with the record);
* a configuration with allowed commands (JEA-like) runs only those, as
  commands: a script fails with the no-language-mode error.

Tests inspect a pool through its shell: ``shell.runtime`` is the
:class:`RunspacePoolRuntime` (``pool``, ``runspaces`` -- the variables --,
``pipelines`` -- :class:`PipelineRecord` by id, with their commands and
final state --, ``host_calls``, ``key_exchanged``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree
from psrpcore import (
    CreatePipelineEvent,
    EndOfPipelineInputEvent,
    GetAvailableRunspacesEvent,
    InitRunspacePoolEvent,
    PipelineHostResponseEvent,
    PipelineInputEvent,
    PSRPCoreError,
    PSRPEvent,
    PSRPPayload,
    PublicKeyEvent,
    ResetRunspaceStateEvent,
    RunspacePoolHostResponseEvent,
    ServerHostRequestor,
    ServerPipeline,
    ServerRunspacePool,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
    StreamType,
)
from psrpcore.types import (
    CommandOrigin,
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    FieldDescription,
    InvocationInfo,
    NETException,
    ProgressRecordType,
    PSCustomObject,
    PSDict,
    PSDouble,
    PSEnumBase,
    PSInt64,
    PSInvocationState,
    PSList,
    PSObject,
    PSType,
    ScriptExtent,
    ScriptPosition,
    add_note_property,
)

from aiowsman.protocol.namespaces import (
    PSRP_DEFAULT_CONFIGURATION,
    SIGNAL_CTRL_C,
    URI_POWERSHELL,
)
from aiowsman.testing._cmd import NULL, ProgramIO, SimProcess
from aiowsman.testing._faults import Fault
from aiowsman.testing._powershell import (
    CustomObject,
    Interpreter,
    PSError,
    Service,
    SimProcessInfo,
    _HostRefused,
    _PSExit,
    _Statement,
    _Terminating,
    not_recognized,
)
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing.families.shell import (
    RemoteCommand,
    RemoteShell,
    ShellFamily,
    ShellPlugin,
)

__all__ = ["PipelineRecord", "PowerShellPlugin", "RunspacePoolRuntime"]

_NS_CREATION: Final = "{" + URI_POWERSHELL + "}creationXml"
#: The largest fragment the server sends (Windows' 32 KiB: the corpus'
#: pypsrp-psrp-receive-response-large.xml is made of them).
FRAGMENT_SIZE: Final = 32 * 1024
#: Stop signals accepted (lower case): Windows' spelling, MS-WSMV's, relative forms.
_STOP_SIGNALS: Final = frozenset(
    {
        f"{URI_POWERSHELL}/signal/crtl_c",
        f"{URI_POWERSHELL}/signal/ctrl_c",
        "powershell/signal/crtl_c",
        "powershell/signal/ctrl_c",
    }
)
#: What Read-Host says without a host UI (a HostException).
NO_HOST_UI: Final = (
    "A command that prompts the user failed because the host program or the command type "
    "does not support user interaction. The host was attempting to request confirmation "
    "with the following message: "
)
#: What a script in a no-language (JEA-like) configuration fails with.
NO_LANGUAGE: Final = (
    "The syntax is not supported by this runspace. This can occur if the runspace is in "
    "no-language mode."
)


# -- .NET types of the objects pipelines write (not rehydrated: the client, in the same
# process in tests, must see them as it would see Windows' objects) -----------------------


@PSType(["System.ServiceProcess.ServiceControllerStatus"], rehydrate=False)
class _ServiceControllerStatus(PSEnumBase):
    Stopped = 1
    StartPending = 2
    StopPending = 3
    Running = 4
    ContinuePending = 5
    PausePending = 6
    Paused = 7


_SERVICE_TYPES: Final = [
    "System.ServiceProcess.ServiceController",
    "System.ComponentModel.Component",
    "System.MarshalByRefObject",
    "System.Object",
]
_PROCESS_TYPES: Final = [
    "System.Diagnostics.Process",
    "System.ComponentModel.Component",
    "System.MarshalByRefObject",
    "System.Object",
]


def _object(type_names: list[str], to_string: str, properties: dict[str, Any]) -> PSObject:
    obj = PSObject()
    obj.PSObject.type_names = list(type_names)
    for name, value in properties.items():
        add_note_property(obj, name, value)
    obj.PSObject.to_string = to_string
    return obj


def to_ps(value: Any) -> Any:
    """A value of the test server's PowerShell as the object PSRP sends."""
    if isinstance(value, Service):
        status = getattr(_ServiceControllerStatus, value.status, _ServiceControllerStatus.Stopped)
        return _object(
            _SERVICE_TYPES,
            "System.ServiceProcess.ServiceController",
            {
                "Name": value.name,
                "DisplayName": value.display_name,
                "ServiceName": value.name,
                "Status": status,
            },
        )
    if isinstance(value, SimProcessInfo):
        return _object(
            _PROCESS_TYPES,
            f"System.Diagnostics.Process ({value.name})",
            {
                "Name": value.name,
                "Id": value.id,
                "ProcessName": value.name,
                "Handles": value.handles,
                "CPU": PSDouble(value.cpu),
                "WorkingSet64": PSInt64(value.working_set),
                "Path": value.path,
            },
        )
    if isinstance(value, CustomObject):
        return PSCustomObject(**{k: to_ps(v) for k, v in value.properties})
    if isinstance(value, PSObject):
        return value  # received from the client (a SecureString...): sent back as it is
    if isinstance(value, float):
        return PSDouble(value)
    if isinstance(value, list):
        return [to_ps(v) for v in value]
    if value is None or isinstance(value, str | int | bool | datetime.datetime | bytes):
        return value
    return str(value)


class _CategoryInfo(ErrorCategoryInfo):
    """CategoryInfo whose text (``ErrorCategory_Message``) is Windows' own:
    ``NotSpecified: (:) [Write-Error], WriteErrorException`` (psrpcore writes
    it without the colon)."""

    def __str__(self) -> str:
        return (
            f"{self.Category.name}: ({self.TargetName or ''}:{self.TargetType or ''}) "
            f"[{self.Activity or ''}], {self.Reason or ''}"
        )


def _error_record(error: PSError) -> ErrorRecord:
    """An interpreter error as the ErrorRecord PowerShell sends (MS-PSRP 2.2.3.15)."""
    exception = NETException(Message=error.message)
    exception.PSObject.type_names = [
        error.exception_type,
        "System.SystemException",
        "System.Exception",
        "System.Object",
    ]
    category = getattr(ErrorCategory, error.category, ErrorCategory.NotSpecified)
    info = _CategoryInfo(
        Category=category,
        Activity=error.activity,
        Reason=error.reason,
        TargetName=error.target_name,
        TargetType=error.target_type,
    )
    record = ErrorRecord(
        Exception=exception,
        CategoryInfo=info,
        FullyQualifiedErrorId=error.fully_qualified_error_id,
        InvocationInfo=_invocation(error),
    )
    record.serialize_extended_info = True
    return record


def _invocation(error: PSError) -> InvocationInfo:
    st = error.statement
    extent = None
    line = ""
    if st is not None:
        line = st.source or " " * (st.column - 1) + st.text.splitlines()[0]
        # Where the statement is: PowerShell underlines this extent.
        end = st.column + len(st.text.splitlines()[0])
        extent = ScriptExtent(
            StartPosition=ScriptPosition("", st.line, st.column, line),
            EndPosition=ScriptPosition("", st.line, end, line),
        )
    return InvocationInfo(
        BoundParameters=PSDict(),
        CommandOrigin=CommandOrigin.Internal,
        DisplayScriptPosition=extent,
        ExpectingInput=False,
        HistoryId=1,
        InvocationName=error.activity,
        Line=line,
        MyCommand=None,
        OffsetInLine=st.column if st is not None else 0,
        PipelineLength=1,
        PipelinePosition=1,
        PositionMessage=f"At line:{st.line} char:{st.column}" if st is not None else "",
        PSCommandPath=None,
        PSScriptRoot="",
        ScriptLineNumber=st.line if st is not None else 0,
        ScriptName="",
        UnboundArguments=PSList(),
    )


def _fragments(data: bytes) -> list[bytes]:
    """A payload cut into its fragments (MS-PSRP 2.2.4: a 21-byte header whose
    last four bytes are the blob's length), each sent as its own block."""
    out = []
    pos = 0
    while pos + 21 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos + 17)
        out.append(data[pos : pos + 21 + length])
        pos += 21 + length
    return out


def _pipeline_of(fragment: bytes) -> uuid.UUID | None:
    """The pipeline id of a message's first fragment (MS-PSRP 2.2.1: after the
    destination, type and runspace pool id, little-endian like .NET GUIDs)."""
    if len(fragment) < 21 + 40 or not fragment[16] & 0x1:
        return None
    return uuid.UUID(bytes_le=fragment[21 + 24 : 21 + 40])


# -- state ---------------------------------------------------------------------------------


@dataclass
class PipelineRecord:
    """A pipeline as the server saw it.

    Attributes:
        pipeline_id: its id (the CommandId).
        commands: the text of its commands and scripts.
        state: ``NotStarted``, ``Running``, ``Completed``, ``Failed``, ``Stopped``.
        runspace: the runspace it ran in (0-based).
        stop_requested: a stop signal arrived while it ran.
        input: the objects piped in.
    """

    pipeline_id: uuid.UUID
    commands: list[str] = field(default_factory=list)
    state: str = "NotStarted"
    runspace: int | None = None
    stop_requested: bool = False
    input: list[Any] = field(default_factory=list)
    input_done: bool = False


class RunspacePoolRuntime:
    """One runspace pool: psrpcore's server pool, the pool's own output, its
    runspaces and pipelines.

    Attributes:
        pool: psrpcore's ``ServerRunspacePool``.
        output: the pool's own output (read by Receives without CommandId).
        runspaces: each runspace's variables.
        pipelines: every pipeline of the pool by id.
        host_calls: ``(method, parameters)`` of every host call sent.
        key_exchanged: the client asked for the session key.
        allowed: the commands a JEA-like configuration allows (None: all).
    """

    def __init__(
        self, plugin: PowerShellPlugin, shell: RemoteShell, allowed: frozenset[str] | None
    ) -> None:
        self.plugin = plugin
        self.shell = shell
        self.allowed = allowed
        host = plugin.family.host
        self.pool = ServerRunspacePool(
            application_private_data={
                "PSVersionTable": {"PSVersion": "5.1.17763.1", "PSEdition": "Desktop"},
                "ComputerName": host.hostname,
            }
        )
        self.output = SimProcess()
        self.runspaces: list[dict[str, Any]] = [{}]
        self.busy: list[bool] = [False]
        self.pipelines: dict[uuid.UUID, PipelineRecord] = {}
        self.processes: dict[uuid.UUID, SimProcess] = {}
        self.host_calls: list[tuple[str, list[Any]]] = []
        self.key_exchanged = False
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._free = asyncio.Event()
        self._input_ready: dict[uuid.UUID, asyncio.Event] = {}

    # -- the PSRP data path ---------------------------------------------------------

    def receive(self, data: bytes, stream_type: StreamType) -> None:
        """Data from the client (creationXml, a Command's argument, a Send).

        Raises:
            Fault: data psrpcore cannot read.
        """
        try:
            self.pool.receive_data(PSRPPayload(data, stream_type, None))
            while (event := self.pool.next_event()) is not None:
                self._on_event(event)
        except (PSRPCoreError, ValueError, KeyError, etree.XMLSyntaxError) as exc:
            raise Fault.schema_validation(f"PowerShell remoting data: {exc}. ") from None
        self.flush()

    def flush(self) -> None:
        """Queue what psrpcore has to send: a pipeline's on its command's
        output, the pool's on the shell's own output, fragment by fragment."""
        while (payload := self.pool.data_to_send(FRAGMENT_SIZE)) is not None:
            if payload.pipeline_id is None:
                target: SimProcess | None = self.output
            else:
                target = self.processes.get(payload.pipeline_id)
            if target is None:
                continue  # the pipeline is gone
            for fragment in _fragments(payload.data):
                target.push("stdout", fragment)

    def _on_event(self, event: PSRPEvent[Any, Any]) -> None:
        pool = self.pool
        if isinstance(event, InitRunspacePoolEvent):
            size = max(1, int(event.max_runspaces))
            self.runspaces = [{} for _ in range(size)]
            self.busy = [False] * size
        elif isinstance(event, CreatePipelineEvent):
            self._created(event.pipeline_id)
        elif isinstance(event, PipelineInputEvent):
            record = self.pipelines[event.pipeline_id]
            record.input.append(event.data)
        elif isinstance(event, EndOfPipelineInputEvent):
            self.pipelines[event.pipeline_id].input_done = True
            self._input_ready.setdefault(event.pipeline_id, asyncio.Event()).set()
        elif isinstance(event, PipelineHostResponseEvent | RunspacePoolHostResponseEvent):
            waiter = self._waiters.pop(event.ci, None)
            if waiter is not None and not waiter.done():
                waiter.set_result((event.result, event.error))
        elif isinstance(event, PublicKeyEvent):
            self.key_exchanged = True  # psrpcore queued ENCRYPTED_SESSION_KEY
        elif isinstance(event, GetAvailableRunspacesEvent):
            pool.runspace_availability_response(event.ci, self.busy.count(False))
        elif isinstance(event, SetMaxRunspacesEvent):
            self._resize(int(event.count))
            pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, SetMinRunspacesEvent):
            pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, ResetRunspaceStateEvent):
            for variables in self.runspaces:
                variables.clear()
            pool.runspace_availability_response(event.ci, True)

    def _resize(self, size: int) -> None:
        size = max(1, size)
        while len(self.runspaces) < size:
            self.runspaces.append({})
            self.busy.append(False)
        self._free.set()

    # -- pipelines --------------------------------------------------------------------

    def start_command(self, command_id: str, first: bytes) -> SimProcess:
        """A Command: the pipeline of its first fragment, created; it runs
        once its CREATE_PIPELINE is whole.

        Raises:
            Fault: the argument is not a pipeline's first fragment.
        """
        pipeline_id = _pipeline_of(first)
        if pipeline_id is None:
            raise Fault.schema_validation("The Command argument is not a PSRP fragment. ")
        if pipeline_id in self.pipelines:
            raise Fault.shell_invalid_parameter()
        ServerPipeline(self.pool, pipeline_id)
        self.pipelines[pipeline_id] = PipelineRecord(pipeline_id)
        process = self.processes[pipeline_id] = SimProcess()
        try:
            self.receive(first, StreamType.default)
        except Fault:
            self.forget(pipeline_id)
            raise
        return process

    def _created(self, pipeline_id: uuid.UUID) -> None:
        pipeline = self.pool.pipeline_table[pipeline_id]
        record = self.pipelines[pipeline_id]
        record.commands = [str(c.command_text) for c in _metadata(pipeline).commands]
        process = self.processes[pipeline_id]

        async def main(proc: SimProcess) -> int:
            return await self.run(pipeline_id, proc)

        process.start(main)

    def forget(self, pipeline_id: uuid.UUID) -> None:
        self.processes.pop(pipeline_id, None)
        self.pool.pipeline_table.pop(pipeline_id, None)

    async def _acquire(self) -> int:
        while True:
            for index, busy in enumerate(self.busy):
                if not busy:
                    self.busy[index] = True
                    return index
            self._free.clear()
            await self._free.wait()

    def _release(self, index: int) -> None:
        if index < len(self.busy):
            self.busy[index] = False
        self._free.set()

    async def _input(self, pipeline_id: uuid.UUID) -> list[Any]:
        record = self.pipelines[pipeline_id]
        if not record.input_done:
            await self._input_ready.setdefault(pipeline_id, asyncio.Event()).wait()
        return list(record.input)

    async def run(self, pipeline_id: uuid.UUID, proc: SimProcess) -> int:
        """Run a pipeline to its end (the engine of its Command)."""
        pipeline = self.pool.pipeline_table[pipeline_id]
        record = self.pipelines[pipeline_id]
        runspace: int | None = None
        try:
            runspace = await self._acquire()
            record.runspace = runspace
            # Running, without the PIPELINE_STATE message psrpcore's start()
            # would send: Windows sends none (pypsrp-psrp-receive-response-
            # pipeline-done.xml: the final state only).
            pipeline._change_state(PSInvocationState.Running, emit=False)
            record.state = "Running"
            meta = _metadata(pipeline)
            values = None if meta.no_input else await self._input(pipeline_id)
            interpreter = RemotingInterpreter(
                self, pipeline, proc, self.runspaces[runspace], values
            )
            try:
                await self._execute(interpreter, values)
            except _Terminating as exc:
                error = exc.error or PSError(
                    "ScriptHalted",
                    "OperationStopped",
                    "RuntimeException",
                    "System.Management.Automation.RuntimeException",
                    "ScriptHalted",
                )
                # psrpcore's ServerPipeline has no public "fail": its state change does it.
                pipeline._change_state(PSInvocationState.Failed, _error_record(error))
                record.state = "Failed"
            except _PSExit:
                pipeline.complete()
                record.state = "Completed"
            else:
                pipeline.complete()
                record.state = "Completed"
            self.flush()
        except asyncio.CancelledError:
            if not proc.interrupted:
                raise
            # A stop signal (MS-PSRP 3.1.5.3.9): PIPELINE_STATE Stopped.
            if pipeline.state is PSInvocationState.NotStarted:
                pipeline._change_state(PSInvocationState.Running, emit=False)
            pipeline.stop()
            record.state = "Stopped"
            self.flush()
        finally:
            if runspace is not None:
                self._release(runspace)
        return 0

    async def _execute(self, interpreter: RemotingInterpreter, values: list[Any] | None) -> None:
        """The pipeline's statements, each a chain of commands and scripts
        (``end_of_statement`` ends one, MS-PSRP 2.2.3.11)."""
        pipeline = interpreter.pipeline
        statements: list[list[Any]] = [[]]
        for command in _metadata(pipeline).commands:
            statements[-1].append(command)
            if command.end_of_statement:
                statements.append([])
        for statement in statements:
            if not statement:
                continue
            stage_input = values
            for index, command in enumerate(statement):
                last = index == len(statement) - 1
                text = str(command.command_text)
                if command.is_script:
                    if self.allowed is not None:
                        raise _Terminating(
                            PSError(
                                NO_LANGUAGE,
                                "ParserError",
                                "ParseException",
                                "System.Management.Automation.ParseException",
                                "ScriptsNotAllowed",
                            )
                        )
                    interpreter.input = stage_input
                    interpreter.capture = None if last else []
                    # A script's arguments: the positional ones are $args, a
                    # named one becomes its variable (as a param() block binds it).
                    interpreter.vars["args"] = [v for k, v in command.parameters if k is None]
                    for key, value in command.parameters:
                        if key is not None:
                            interpreter.vars[str(key).lower()] = value
                    await interpreter.run_script(text)
                    stage_input = interpreter.capture
                    interpreter.capture = None
                    continue
                output = await self._command(interpreter, command, text, stage_input)
                if last:
                    if output:
                        await interpreter.emit(output)
                else:
                    stage_input = output

    async def _command(
        self,
        interpreter: RemotingInterpreter,
        command: Any,
        name: str,
        piped: list[Any] | None,
    ) -> list[Any]:
        """One ``add_command`` command: a cmdlet of the table, or the pipeline fails."""
        from aiowsman.testing._powershell import _CMDLETS

        low = name.lower()
        statement = _Statement(name, 1, 1)
        if low not in _CMDLETS or (self.allowed is not None and low not in self.allowed):
            raise _Terminating(not_recognized(name, None))
        positional: list[Any] = []
        named: dict[str, Any] = {}
        for key, value in command.parameters:
            if key is None:
                positional.append(value)
            else:
                named[str(key).lower()] = value
        return await interpreter.invoke(name, positional, named, statement, input=piped)

    # -- host calls ---------------------------------------------------------------------

    def has_host_ui(self, pipeline: ServerPipeline) -> bool:
        """The client declared a host with a UI (its pipeline's, or the pool's)."""
        info = getattr(pipeline.metadata, "host", None)
        if info is None or getattr(info, "UseRunspaceHost", True):
            info = self.pool.host
        if info is None:
            return False
        return not (info.IsHostNull or info.IsHostUINull)

    async def host_call(self, method: str, ci: int, parameters: list[Any]) -> Any:
        """Wait for the answer to a host call (queued already)."""
        self.host_calls.append((method, parameters))
        self.flush()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[ci] = waiter
        result, error = await waiter
        if error is not None:
            message = getattr(getattr(error, "Exception", None), "Message", None)
            raise _HostRefused(str(message or error))
        return result

    def closed(self) -> None:
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()
        for process in list(self.processes.values()):
            process.kill()


class RemotingInterpreter(Interpreter):
    """The test server's PowerShell writing through a PSRP pipeline: output
    objects, ErrorRecords, stream records, host calls."""

    def __init__(
        self,
        runtime: RunspacePoolRuntime,
        pipeline: ServerPipeline,
        proc: SimProcess,
        variables: dict[str, Any],
        input: list[Any] | None,
    ) -> None:
        family = runtime.plugin.family
        ctx = family.context(runtime.shell, console_stdin=False)
        self._native = _Collect()
        io = ProgramIO(NULL, self._native, self._native, 65001)
        ctx.codepage = 65001
        super().__init__(io, ctx, variables=variables, input=input)
        self.runtime = runtime
        self.pipeline = pipeline
        self.proc = proc
        #: Output of a stage piped into the next one (None: written out).
        self.capture: list[Any] | None = None

    async def _written(self) -> None:
        self.runtime.flush()
        await self.proc.room()

    async def emit(self, values: list[Any]) -> None:
        # The output stream unrolls a collection into its items, one level
        # (``$x = 1, 2; $x`` writes two objects).
        values = [item for v in values for item in (v if isinstance(v, list) else [v])]
        if self.capture is not None:
            self.capture.extend(values)
            return
        for value in values:
            self.pipeline.write_output(to_ps(value))
            await self._written()

    async def report(self, error: PSError, *, terminating: bool = False) -> None:
        self.vars["?"] = False
        if terminating:
            raise _Terminating(error)
        record = _error_record(error)
        self.pipeline.write_error(
            record.Exception,
            record.CategoryInfo,
            fully_qualified_error_id=record.FullyQualifiedErrorId,
            invocation_info=record.InvocationInfo,
        )
        await self._written()

    async def stream_line(self, tag: str, message: str) -> None:
        if tag == "warning":
            self.pipeline.write_warning(message)
        elif tag == "verbose":
            self.pipeline.write_verbose(message)
        else:
            self.pipeline.write_debug(message)
        await self._written()

    async def host_text(self, text: str, *, newline: bool) -> None:
        # PowerShell 5: Write-Host writes an information record tagged PSHOST.
        self.pipeline.write_information(
            text, "Write-Host", tags=["PSHOST"], user=self.ctx.user, computer=self.ctx.hostname
        )
        await self._written()

    async def information(self, message: str, *, shown: bool = True) -> None:
        self.pipeline.write_information(
            message, "Write-Information", user=self.ctx.user, computer=self.ctx.hostname
        )
        await self._written()

    async def progress(
        self, activity: str, status: str, percent: int, activity_id: int, completed: bool
    ) -> None:
        kind = ProgressRecordType.Completed if completed else ProgressRecordType.Processing
        self.pipeline.write_progress(
            activity, activity_id, status, percent_complete=percent, record_type=kind
        )
        await self._written()

    async def read_line(self, prompt: str | None) -> str:
        if not self.runtime.has_host_ui(self.pipeline):
            raise _HostRefused(NO_HOST_UI + (prompt or ""))
        requestor = ServerHostRequestor(self.pipeline)
        if prompt is None:
            ci = requestor.read_line()
            result = await self.runtime.host_call("ReadLine", ci, [])
            return "" if result is None else str(result)
        ci = requestor.prompt("", "", [FieldDescription(Name=prompt)])
        answers = await self.runtime.host_call("Prompt", ci, [prompt])
        if isinstance(answers, dict):
            for key, value in answers.items():
                if str(key).lower() == prompt.lower():
                    return "" if value is None else str(value)
        raise _HostRefused(f"the host's answer holds no value for {prompt!r}")

    async def native(self, name: str, tokens: list[tuple[str, str]]) -> list[Any]:
        """A native program: what it prints comes back as strings, one per line."""
        self._native.data.clear()
        await super().native(name, tokens)
        text = b"".join(self._native.data).decode("utf-8", "replace")
        return text.replace("\r\n", "\n").split("\n")[:-1] if text else []


class _Collect:
    """A sink keeping what a native program writes."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.data.append(data)


# -- the plug-in ------------------------------------------------------------------------------


class PowerShellPlugin(ShellPlugin):
    """``http://schemas.microsoft.com/powershell/<configuration>``: runspace
    pools (see the module docstring).

    Attributes:
        configurations: the endpoint configurations served, by name (any
            case): None runs everything, a set of command names (lower
            case) runs only those commands, and no scripts (a JEA endpoint).
        max_shells_per_user: the plug-in's MaxShellsPerUser (Windows' 25).
    """

    name = "powershell"

    def __init__(self, family: ShellFamily) -> None:
        super().__init__(family)
        self.configurations: dict[str, frozenset[str] | None] = {
            PSRP_DEFAULT_CONFIGURATION.lower(): None
        }
        self.max_shells_per_user = 25

    def check_quota(self, family: ShellFamily, owner: str) -> None:
        mine = [s for s in family.shells.values() if s.owner == owner and s.plugin is self]
        if len(mine) >= self.max_shells_per_user:
            raise Fault.quota_shells(self.max_shells_per_user)

    def create(self, shell: RemoteShell, req: ParsedRequest, body: etree._Element) -> None:
        uri = shell.resource_uri
        configuration = uri[len(URI_POWERSHELL) + 1 :].lower()
        if configuration not in self.configurations:
            raise Fault.destination_unreachable(uri)
        creation = body.find(_NS_CREATION)
        if creation is None or not (creation.text or "").strip():
            raise Fault.schema_validation("The Create of a runspace pool needs creationXml. ")
        try:
            data = base64.b64decode((creation.text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Fault.schema_validation("creationXml is not base64. ") from None
        runtime = RunspacePoolRuntime(self, shell, self.configurations[configuration])
        shell.runtime = runtime
        runtime.receive(data, StreamType.default)

    def command(
        self, shell: RemoteShell, req: ParsedRequest, body: etree._Element, command_id: str
    ) -> RemoteCommand:
        runtime = _runtime(shell)
        arguments = [a.text or "" for a in body.iter("{*}Arguments")]
        if len(arguments) != 1:
            raise Fault.schema_validation("A pipeline's Command has one argument. ")
        try:
            first = base64.b64decode(arguments[0].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Fault.schema_validation("The Command argument is not base64. ") from None
        process = runtime.start_command(command_id, first)
        return RemoteCommand(command_id, "PowerShell pipeline", process, console_stdin=False)

    def send(
        self,
        shell: RemoteShell,
        command: RemoteCommand | None,
        stream: str,
        data: bytes,
        *,
        end: bool,
    ) -> None:
        kind = StreamType.prompt_response if stream == "pr" else StreamType.default
        _runtime(shell).receive(data, kind)

    def signal(self, shell: RemoteShell, command: RemoteCommand, code: str) -> None:
        if code not in _STOP_SIGNALS and code != SIGNAL_CTRL_C:
            raise Fault.shell_invalid_parameter()
        runtime = _runtime(shell)
        for pipeline_id, process in runtime.processes.items():
            if process is command.process:
                runtime.pipelines[pipeline_id].stop_requested = True
        command.process.interrupt()

    def shell_output(self, shell: RemoteShell) -> SimProcess | None:
        return _runtime(shell).output

    def forgotten(self, shell: RemoteShell, command: RemoteCommand) -> None:
        runtime = _runtime(shell)
        for pipeline_id, process in list(runtime.processes.items()):
            if process is command.process:
                runtime.forget(pipeline_id)

    def closed(self, shell: RemoteShell) -> None:
        if shell.runtime is not None:
            _runtime(shell).closed()


def _metadata(pipeline: ServerPipeline) -> Any:
    """The pipeline's CREATE_PIPELINE (psrpcore's PowerShell object), once received."""
    metadata = pipeline.metadata
    assert metadata is not None
    return metadata


def _runtime(shell: RemoteShell) -> RunspacePoolRuntime:
    runtime = shell.runtime
    assert isinstance(runtime, RunspacePoolRuntime)
    return runtime
